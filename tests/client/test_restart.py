"""SIGKILL the bot process mid-burst and restart it: nothing missing, nothing repeated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lpbot.testing import wait_until

from .support import agent_assigned

SCRIPT = Path(__file__).with_name("consumer_process.py")


def start(sandbox, state_dir: Path, out: Path, pause_after: int) -> subprocess.Popen[bytes]:
    Path(f"{out}.ready").unlink(missing_ok=True)
    return subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(SCRIPT), sandbox.csds_domain, sandbox.account, str(state_dir),
         str(out), str(pause_after)],
        stdin=subprocess.PIPE)


def ready_line(out: Path) -> list[str]:
    ready = Path(f"{out}.ready")
    def complete() -> str | None:
        text = ready.read_text() if ready.exists() else ""
        return text if text.endswith("\n") else None  # a whole line, not a partial write

    text = wait_until(complete, 20, "the bot to be ready")
    return text.split()


def lines(out: Path) -> list[str]:
    return out.read_text().splitlines() if out.exists() else []


def test_kill_and_restart_mid_burst_loses_and_repeats_nothing(sandbox, tmp_path):
    state_dir, out = tmp_path / "state", tmp_path / "received.txt"
    first = start(sandbox, state_dir, out, pause_after=137)
    try:
        _, consumer_id, conversation_id = ready_line(out)
        agent_assigned(sandbox, conversation_id)
        sandbox.agents.burst(conversation_id, 250, prefix="a")
        wait_until(lambda: "PAUSED" in Path(f"{out}.ready").read_text(), 20,
                   "the bot to pause mid-burst")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        if first.stdin is not None:
            first.stdin.close()
    assert len(lines(out)) == 137

    sandbox.agents.burst(conversation_id, 250, prefix="b")  # while the bot is dead
    second = start(sandbox, state_dir, out, pause_after=-1)
    try:
        _, consumer_again, conversation_again = ready_line(out)
        assert (consumer_again, conversation_again) == (consumer_id, conversation_id)
        wait_until(lambda: len(lines(out)) >= 500, 20, "every message after the restart")
        assert second.stdin is not None
        second.stdin.close()
        assert second.wait(10) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(10)
        if second.stdin is not None and not second.stdin.closed:
            second.stdin.close()
    received = [line.split(" ", 1) for line in lines(out)]
    texts = [text for _, text in received]
    assert texts == [f"a {n}" for n in range(250)] + [f"b {n}" for n in range(250)]
    sequences = [int(seq) for seq, _ in received]
    assert sequences == list(range(sequences[0], sequences[0] + 500))
