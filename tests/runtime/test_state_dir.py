"""A broken state directory is one line and exit 2 at start, and counted, logged, exit 1 later.

Each case breaks real files under a real ``lpbot run``: a file where the directory should be,
databases full of junk, a database that cannot be written (immutable for root, read-only
otherwise), and a disk that starts refusing writes while the daemon runs (the process's
file-size limit dropped to one byte, which makes every write fail as a full disk does).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lpbot.client.state import DB_NAME, StateStore
from lpbot.sandbox import Sandbox
from lpbot.testing.harness import DaemonProcess

SANDBOX_JOB = (
    '[sandbox]\nenabled = true\naccept_delay = 0.01\nreply_delay = 0.01\n'
    '[bot]\nconsumers = ["demo"]\n'
    '[[jobs]]\nid = "talk"\nkind = "synthetic_conversation"\nevery = 0.5\nstart_now = true\n'
    'args = { consumer = "demo", messages = ["Hello"], csat = 0 }\n')


def external(sandbox: Sandbox, path: Path, account: str | None = None) -> Path:
    """A config that connects to ``sandbox`` as to LivePerson: the state directory is used."""
    trust = f'tls = true\nca_file = "{sandbox.ca_file}"\n' if sandbox.tls else "tls = false\n"
    path.write_text(f'[account]\nid = "{account or sandbox.account}"\n'
                    f'csds_domain = "{sandbox.csds_domain}"\n{trust}', encoding="utf-8")
    return path


def run_to_exit(*args: str, timeout: float = 30) -> tuple[int, list[str]]:
    with DaemonProcess(*args) as daemon:
        code = daemon.wait(timeout=timeout)
    return code, daemon.messages()


def assert_one_clear_line(messages: list[str], expected: str) -> None:
    lines = [message for message in messages if expected in message]
    assert len(lines) == 1, messages
    assert lines[0].startswith("cannot start: "), lines
    assert not any("Traceback" in message for message in messages), messages


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make ``path`` impossible to write: immutable for root (who ignores modes), else 0444."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)  # noqa: S603, S607
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)  # noqa: S603, S607
    else:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)


def test_a_state_path_that_is_a_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory")
    code, messages = run_to_exit("--state-dir", str(state))
    assert code == 2
    assert_one_clear_line(messages, f"{state}: the state directory is a file")


def test_a_job_store_full_of_junk(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobs.sqlite").write_bytes(os.urandom(8192))
    config = tmp_path / "bot.toml"
    config.write_text(SANDBOX_JOB, encoding="utf-8")
    code, messages = run_to_exit("--config", str(config), "--state-dir", str(state))
    assert code == 2
    assert_one_clear_line(messages, "jobs.sqlite: cannot use the job store: file is not a "
                                    "database (it is not an SQLite database: move it away")


def test_a_state_database_full_of_junk(lp_sandbox: Sandbox, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / DB_NAME).write_bytes(os.urandom(8192))
    config = external(lp_sandbox, tmp_path / "bot.toml")
    code, messages = run_to_exit("--config", str(config), "--state-dir", str(state))
    assert code == 2
    assert_one_clear_line(messages, f"{state / DB_NAME}: cannot use the state database: file "
                                    "is not a database")


def test_a_state_database_that_cannot_be_written(lp_sandbox: Sandbox, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with StateStore(state) as store:  # a good database, then made unwritable
        store.commit_sequence("consumer", "dialog", 1)
    config = external(lp_sandbox, tmp_path / "bot.toml")
    with unwritable(state / DB_NAME):
        code, messages = run_to_exit("--config", str(config), "--state-dir", str(state))
    assert code == 2
    assert_one_clear_line(messages, f"{state / DB_NAME}: cannot use the state database: "
                                    "attempt to write a readonly database")


def test_a_disk_that_fails_while_running_is_counted_logged_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(SANDBOX_JOB, encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state")) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        # From now on every write to a file fails (EFBIG), as on a full disk.
        resource.prlimit(daemon.process.pid, resource.RLIMIT_FSIZE, (1, 1))
        first = daemon.wait_for("could not commit a handled event", timeout=30)
        daemon.wait_for("the job store failed", timeout=30)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 1
    messages = daemon.messages()
    assert first["level"] == "ERROR"
    assert "cannot commit a sequence to the state database" in first["message"]
    assert sum("could not commit a handled event" in m for m in messages) == 1  # then counted
    assert any(m.startswith("state could not be saved while running (StateError: ")
               for m in messages), messages
    assert not any("Traceback" in m for m in messages), messages
    assert "exit code 1; lpbot threads left: none" in messages


@pytest.mark.parametrize("kind", ["file", "junk"])
def test_the_store_raises_one_typed_error(tmp_path: Path, kind: str) -> None:
    from lpbot.errors import StateError

    target = tmp_path / "state"
    if kind == "file":
        target.write_text("x")
    else:
        target.mkdir()
        (target / DB_NAME).write_bytes(b"\0junk" * 1000)
    with pytest.raises(StateError) as caught:
        StateStore(target)
    assert caught.value.path is not None
    assert "\n" not in str(caught.value)
