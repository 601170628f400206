"""A wrong account or an untrusted certificate ends ``lpbot run`` at once with one clear line.

Neither is retried: an account CSDS does not know (HTTP 401 per protocol notes §1.1, or an answer
without the services) is a config error, exit 2; a certificate that fails verification is a
trust problem, exit 3. Both used to be retried for many seconds and then reported as an
unreachable IDP or CSDS.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted_csds import ScriptedCsds, server_context

from lpbot.sandbox import Sandbox
from lpbot.testing.harness import DaemonProcess

from .test_state_dir import external


@pytest.fixture
def csds(request: pytest.FixtureRequest) -> Iterator[ScriptedCsds]:
    status, body, tls = request.param
    with ScriptedCsds(status, body, ssl_context=server_context() if tls else None) as server:
        yield server


def run(tmp_path: Path, csds: ScriptedCsds, *, tls: bool) -> tuple[int, list[str]]:
    config = tmp_path / "bot.toml"
    config.write_text(f'[account]\nid = "99999999"\ncsds_domain = "{csds.domain}"\n'
                      f'tls = {str(tls).lower()}\n', encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state")) as daemon:
        code = daemon.wait(timeout=20)  # the old retries took about 30 s
    return code, daemon.messages()


UNKNOWN_ACCOUNT = {
    "csds 401": ((401, {"error": "invalid site"}, False),
                 "CSDS does not know account '99999999' (HTTP 401"),
    "no services": ((200, {"baseURIs": []}, False),
                    "has no service 'idp' for account '99999999': check the account id"),
}


@pytest.mark.parametrize(("csds", "expected"), UNKNOWN_ACCOUNT.values(), indirect=["csds"],
                         ids=list(UNKNOWN_ACCOUNT))
def test_an_unknown_account_is_a_config_error_at_once(
    tmp_path: Path, csds: ScriptedCsds, expected: str
) -> None:
    code, messages = run(tmp_path, csds, tls=False)
    assert code == 2, messages
    failures = [m for m in messages if expected in m]
    assert len(failures) == 1, messages
    assert failures[0].startswith("cannot start: account.id: ")
    assert csds.requests == 1  # asked once, never retried
    assert not any("retry" in m or "Traceback" in m for m in messages), messages


@pytest.mark.parametrize("csds", [(200, {"baseURIs": []}, True)], indirect=True)
def test_an_untrusted_certificate_is_not_retried(tmp_path: Path, csds: ScriptedCsds) -> None:
    code, messages = run(tmp_path, csds, tls=True)
    assert code == 3, messages
    failures = [m for m in messages if "is not trusted" in m]
    assert len(failures) == 1, messages
    assert failures[0] == (
        f"cannot connect: the TLS certificate of CSDS at {csds.domain} is not trusted "
        "(CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate): give the CA that "
        "signed it as [account] ca_file, or fix the server's certificate")
    assert csds.requests == 0
    assert not any("retry" in m or "Traceback" in m for m in messages), messages


@pytest.mark.lp_sandbox_tls
def test_an_account_the_sandbox_does_not_serve_is_a_config_error_at_once(
    lp_sandbox: Sandbox, tmp_path: Path
) -> None:
    config = external(lp_sandbox, tmp_path / "bot.toml", account="no-such-account")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state")) as daemon:
        code = daemon.wait(timeout=20)
    messages = daemon.messages()
    assert code == 2, messages
    failures = [m for m in messages if "CSDS does not know account 'no-such-account' (HTTP 401"
                in m]
    assert len(failures) == 1, messages
    assert not any("retry" in m or "Traceback" in m for m in messages), messages
