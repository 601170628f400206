"""Helpers for the Locust tests: Locust runs in subprocesses only, never in the test process.

Importing Locust monkey-patches a process with gevent; the tests' own process (its sandbox,
its threads) must stay as it is, so every Locust here is ``python -m locust`` in a child.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lpbot.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: lpbot's ``locust -f`` target, plus each process's own count of its request events
COUNTING_LOCUSTFILE = HERE / "counting_locustfile.py"
#: Locust's options for a run without the web UI that exits 1 when anything failed
HEADLESS = ("--headless", "--only-summary", "--exit-code-on-error", "1")
#: seconds any Locust process may take in all before the test fails
PROCESS_TIMEOUT = 90

#: a quick scenario: agent joins and greets, one answer, close, rate
QUICK = """
[scenario]
name = "quick"
timeout = 5

[[steps]]
open_conversation = {}
[[steps]]
name = "agent joined"
expect_participant = {}
[[steps]]
expect_message = { contains = "help" }
[[steps]]
say = { text = "where is order {run}?" }
[[steps]]
expect_message = { text = "where is order {run}?" }
[[steps]]
wait = { seconds = 0.05 }
[[steps]]
close = {}
[[steps]]
expect_closed = {}
[[steps]]
submit_csat = { rate = 4 }
"""

#: the agent accepts and never answers: the expect step fails after 0.5 s
UNANSWERED = """
[scenario]
name = "unanswered"

[[steps]]
open_conversation = {}
[[steps]]
expect_participant = { timeout = 5 }
[[steps]]
say = { text = "Is anybody there?" }
[[steps]]
name = "the agent answers"
expect_message = { contains = "anybody", timeout = 0.5 }
[[steps]]
close = {}
"""


@dataclass(frozen=True)
class Row:
    """One line of Locust's ``_stats.csv``."""

    kind: str
    requests: int
    failures: int


def host_of(sandbox: Sandbox) -> str:
    """The domain-lookup URL that Locust's ``--host`` takes (what ``lpbot sandbox`` prints)."""
    return sandbox.csds_url


def locust(*args: str, cwd: Path, name: str = "locust",
           env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python -m locust ARGS`` in ``cwd``; its output goes to ``cwd/locust-NAME.log``."""
    with open(cwd / f"locust-{name}.log", "w", encoding="utf-8") as log:
        return subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "locust", *args], cwd=cwd, stdout=log,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def finish(process: subprocess.Popen[str], cwd: Path) -> int:
    """Wait for ``process`` to exit; its exit code, or fail with its output when it hangs."""
    try:
        return process.wait(PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"locust did not exit within {PROCESS_TIMEOUT} s:\n"
                             f"{logs(cwd)}") from None


def logs(cwd: Path) -> str:
    """Every Locust log of the test, for failure messages."""
    return "\n".join(f"--- {path.name}\n{path.read_text()[-4000:]}"
                     for path in sorted(cwd.glob("locust-*.log")))


def stats(prefix: Path) -> dict[str, Row]:
    """Name -> final counts, from ``--json-file PREFIX`` (written after the users stopped).

    (``PREFIX_stats.csv`` is rewritten every second while Locust runs, so its last version
    may miss the final second.)
    """
    entries = json.loads(Path(f"{prefix}.json").read_text(encoding="utf-8"))
    return {entry["name"]: Row(entry["method"], entry["num_requests"], entry["num_failures"])
            for entry in entries}


def csv_stats(prefix: Path) -> dict[str, Row]:
    """Name -> row of ``PREFIX_stats.csv`` (without the Aggregated line)."""
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as file:
        return {row["Name"]: Row(row["Type"], int(row["Request Count"]),
                                 int(row["Failure Count"]))
                for row in csv.DictReader(file) if row["Name"] != "Aggregated"}


def failures(prefix: Path) -> list[dict[str, str]]:
    """The rows of ``PREFIX_failures.csv`` (Method, Name, Error, Occurrences)."""
    with open(f"{prefix}_failures.csv", newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a Locust master, which needs a number)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
