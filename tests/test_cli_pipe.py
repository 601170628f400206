"""A command whose reader has gone (``lpbot plugins | head -1``) ends quietly, as Unix tools do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

COMMANDS = {
    "plugins": ["plugins"],
    "check-config": ["check-config", str(ROOT / "config" / "lpbot.toml")],
    "convert": ["synth", "--convert", str(ROOT / "config" / "botium" / "order_pizza.convo.txt")],
}


@pytest.mark.parametrize("words", COMMANDS.values(), ids=list(COMMANDS))
def test_a_closed_pipe_ends_the_command_without_a_traceback(words: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write meets EPIPE
    try:
        done = subprocess.run(  # noqa: S603 -- our own interpreter and module
            [sys.executable, "-m", "lpbot", *words], stdout=write, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, timeout=60, check=False)
    finally:
        os.close(write)
    assert done.stderr == ""
    # what a shell reports for a tool that SIGPIPE ended: 128 + SIGPIPE
    assert done.returncode == 128 + signal.SIGPIPE
