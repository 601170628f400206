"""``lpbot run`` with a flow bot in its embedded sandbox: a wrong flow stops it with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpbot.testing.harness import DaemonProcess

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("sandbox", "expected"), [
    ('agent_mode = "flow"\nflow = "{flow}"\n',
     "states.a.goto: unknown state 'b' (states: a)"),
    ('agent_mode = "flow"\nflow = "flow.toml"\n',  # relative to the config file
     "flow.toml: states.a.goto: unknown state 'b' (states: a)"),
    ('agent_mode = "flow"\n', "sandbox.flow: agent_mode flow needs flow = FILE"),
    ('agent_mode = "bot"\n', "sandbox.agent_mode"),
])
def test_a_wrong_flow_setting_exits_2_naming_it(tmp_path: Path, sandbox: str,
                                                 expected: str) -> None:
    flow = tmp_path / "flow.toml"
    flow.write_text('[states.a]\ntext = "hi"\ngoto = "b"\n', encoding="utf-8")
    config = tmp_path / "lpbot.toml"
    config.write_text("[sandbox]\nenabled = true\n" + sandbox.replace("{flow}", str(flow)),
                      encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path)) as daemon:
        assert daemon.wait(timeout=30) == 2
    messages = "\n".join(daemon.messages())
    assert expected in messages
    assert "Traceback" not in messages


def test_the_pizza_flow_serves_a_daemon_run(tmp_path: Path) -> None:
    config = tmp_path / "lpbot.toml"
    config.write_text(
        (REPO / "config" / "lpbot.toml").read_text(encoding="utf-8").replace(
            'agent_mode = "echo"',
            f'agent_mode = "flow"\nflow = "{REPO / "config" / "flows" / "pizza.toml"}"'),
        encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path),
                       "--max-conversations", "1") as daemon:
        assert daemon.wait(timeout=30) == 0
    messages = "\n".join(daemon.messages())
    # the demo consumer asks about an order: the bot welcomes it, then asks for the size
    assert ": Welcome to Pizza Bot! What would you like?" in messages
    assert messages.index("Welcome to Pizza Bot!") < messages.index(": Which size?")
    assert "Traceback" not in messages
