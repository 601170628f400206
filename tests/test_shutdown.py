"""``lpbot run`` as a subprocess: SIGTERM stops it in order, exit 0 within 5 s, no thread left."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lpbot.testing.harness import DaemonProcess, signal_another_thread
from lpbot.testing.pytest_plugin import needs_tgkill

FIXTURES = Path(__file__).resolve().parent / "plugins" / "fixtures"


def test_sigterm_exits_0_within_5_seconds_with_no_thread_left(tmp_path: Path) -> None:
    with DaemonProcess("--state-dir", str(tmp_path)) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        daemon.wait_for("conversation opened", timeout=30)  # the demo job is mid-way
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=5) == 0
    messages = daemon.messages()
    assert "SIGTERM received: stopping" in messages
    assert "bot main stopped" in messages
    assert messages[-1] == "exit code 0; lpbot threads left: none"
    assert not [m for m in messages if "still running after stop" in m]
    assert not [r for r in daemon.records if r.get("level") in ("ERROR", "CRITICAL", "RAW")]


def test_sigint_works_the_same(tmp_path: Path) -> None:
    with DaemonProcess("--state-dir", str(tmp_path)) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=5) == 0
    assert daemon.messages()[-1] == "exit code 0; lpbot threads left: none"


@needs_tgkill
def test_sigterm_delivered_to_a_thread_other_than_main_still_stops_it(tmp_path: Path) -> None:
    """The kernel may hand a process's signal to any of its threads (kill, systemd)."""
    with DaemonProcess("--state-dir", str(tmp_path)) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        signal_another_thread(daemon.process.pid, signal.SIGTERM)
        assert daemon.wait(timeout=5) == 0
    messages = daemon.messages()
    assert "SIGTERM received: stopping" in messages
    assert messages[-1] == "exit code 0; lpbot threads left: none"


#: how a test sends SIGTERM: to the process (the kernel picks a thread, usually the main one),
#: or with tgkill to a thread other than main, which Python's handler cannot run on
SENDERS = [
    pytest.param("process", id="to-the-process"),
    pytest.param("another thread", id="to-another-thread", marks=needs_tgkill),
]


def send_sigterm(daemon: DaemonProcess, how: str) -> None:
    """SIGTERM to the daemon, as ``how`` says (see SENDERS)."""
    if how == "process":
        daemon.send_signal(signal.SIGTERM)
    else:
        signal_another_thread(daemon.process.pid, signal.SIGTERM)


@pytest.mark.parametrize("how", SENDERS)
def test_a_second_signal_during_a_hung_shutdown_hook_exits_at_once_with_130(
        tmp_path: Path, how: str) -> None:
    """The main thread is inside an lpbot_shutdown hook that hangs for 30 s."""
    config = tmp_path / "stuck.toml"
    config.write_text('[sandbox]\nenabled = true\n[bot]\nconsumers = ["one"]\n'
                      '[plugins]\nmodules = { stuck = "lpbot_fixture_stuck_shutdown" }\n')
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path),
                       env={"PYTHONPATH": str(FIXTURES)}) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait_for("shutdown hook is stuck")
        send_sigterm(daemon, how)
        assert daemon.wait(timeout=5) == 130


@pytest.mark.parametrize("how", SENDERS)
def test_a_signal_while_connecting_stops_before_the_back_off_ends_with_0(
        tmp_path: Path, how: str) -> None:
    """The main thread sleeps in the first retry's 4-6 s back-off; the signal cuts it short."""
    config = tmp_path / "unreachable.toml"  # nothing listens on port 1: discovery retries
    config.write_text('[account]\nid = "1"\ncsds_domain = "127.0.0.1:1"\ntls = false\n')
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path)) as daemon:
        daemon.wait_for("retry 1 in", timeout=30)
        send_sigterm(daemon, how)
        assert daemon.wait(timeout=3) == 0
    messages = daemon.messages()
    assert "stopped while starting" in messages
    assert not [m for m in messages if "still running after stop" in m]
    assert messages[-1] == "exit code 0; lpbot threads left: none"


def test_lpbot_help_lists_the_runtime_commands() -> None:
    done = subprocess.run([sys.executable, "-m", "lpbot", "--help"], capture_output=True,
                          text=True, check=True, timeout=30)
    for command in ("run", "plugins", "check-config"):
        assert command in done.stdout
