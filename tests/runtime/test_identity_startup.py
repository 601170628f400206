"""``lpbot run`` with a production identity the IDP refuses: one line, exit code 3."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import requests

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


def test_a_connector_revoked_while_running_is_one_error_line_per_consumer_and_no_exit(
        lp_sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(config(lp_sandbox, 'auth = "anonymous"\nconnector_id = "acr0"\n')
                    + '[bot]\nconsumers = ["sales", "support"]\n'
                    '[plugins]\nenabled = ["metrics"]\n'
                    "[plugins.metrics]\nenabled = true\nport = 0\n", encoding="utf-8")
    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path / "state")) as daemon:
        url = daemon.wait_for("health on ", timeout=30)["message"].rsplit(" ", 1)[1]
        daemon.wait_for("serving")
        lp_sandbox.faults.revoke_connector()
        lp_sandbox.faults.expire_tokens()  # 4407: both must obtain their identity again
        for name in ("sales", "support"):
            daemon.wait_for(f"({name}) stopped, it will not reconnect")
        health = requests.get(url, timeout=5)
        assert daemon.process.poll() is None  # the daemon serves on
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert health.status_code == 503
    failures = health.json()["failures"]
    assert set(failures) == {"sales", "support"}
    assert all("/app/acr0/authenticate: HTTP 403" in cause for cause in failures.values())
    errors = [r["message"] for r in daemon.records if r.get("level") in ("ERROR", "CRITICAL")]
    assert len(errors) == 2, errors
    messages = "\n".join(daemon.messages())
    assert "Traceback" not in messages
    assert "eyJ" not in messages
