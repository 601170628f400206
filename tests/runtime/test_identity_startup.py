"""``lpbot run`` with a production identity the IDP refuses: one line, exit code 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpbot.runtime.daemon import EXIT_CONNECT
from lpbot.sandbox import Sandbox
from lpbot.testing.harness import DaemonProcess


def config(sandbox: Sandbox, auth: str) -> str:
    ca = f'ca_file = "{sandbox.ca_file}"\n' if sandbox.ca_file else ""
    return (f'[account]\nid = "{sandbox.account}"\ncsds_domain = "{sandbox.csds_domain}"\n'
            f"tls = {str(sandbox.tls).lower()}\n{ca}{auth}")


@pytest.mark.parametrize(("auth", "cause"), [
    ('auth = "anonymous"\nconnector_id = "not-our-connector"\n', "unknown_connector"),
    ('auth = "code"\nbrand_token = "a-code-nobody-issued"\n', "invalid_code"),
])
def test_a_refused_identity_exits_3_with_one_line_naming_the_cause(
        lp_sandbox: Sandbox, tmp_path: Path, auth: str, cause: str) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(config(lp_sandbox, auth), encoding="utf-8")
    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path / "state")) as daemon:
        assert daemon.wait(timeout=30) == EXIT_CONNECT
    errors = [line for line in daemon.messages() if "cannot connect" in line]
    assert len(errors) == 1
    assert cause in errors[0]
    messages = "\n".join(daemon.messages())
    assert "Traceback" not in messages
    assert "a-code-nobody-issued" not in messages  # the secret stays out of the log


def test_the_embedded_sandbox_runs_the_anonymous_flow_against_its_own_connector(
        tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[sandbox]\nenabled = true\n[account]\nauth = "anonymous"\n'
                    'connector_id = "the-brands-connector"\n', encoding="utf-8")
    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path / "state"),
                       "--duration", "0.5") as daemon:
        assert daemon.wait(timeout=60) == 0
    obtained = [line for line in daemon.messages() if "obtained (anonymous)" in line]
    assert obtained, daemon.messages()
