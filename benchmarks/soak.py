"""Soak of ``lpbot run`` with its embedded sandbox: does the daemon's memory stay flat?

Runs ``lpbot run`` (in-process sandbox, metrics on) in a subprocess with a synthetic conversation
every second (open, two messages, an echoing agent, close, CSAT), samples the process's RSS every
few seconds from /proc, and prints the slope of RSS over time after a warm-up, fitted by least
squares, against the target of 0.1 MB/min. Also printed: conversations closed, threads and open
descriptors at the start and the end of the measured window.

Both the client and the embedded sandbox keep a closed conversation for 300 s (the client's
``closed_retention``, the sandbox's ``[sandbox] closed_retention``), so memory grows for the
first five minutes by design; the warm-up covers them. ``--retention`` shortens the sandbox's
retention for a quick run (the client's stays 300 s).

    python benchmarks/soak.py                              # 8 minutes, 5.5 of warm-up
    python benchmarks/soak.py --minutes 3 --retention 30   # a quick look

Linux only (/proc).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TARGET_MB_PER_MIN = 0.1

CONFIG = """\
[bot]
name = "soak"
consumers = ["soak"]

[sandbox]
enabled = true
closed_retention = RETENTION
agents = 3
agent_mode = "echo"
accept_delay = 0.05
reply_delay = 0.05

[logging]
level = "INFO"

[[jobs]]
id = "soak"
kind = "synthetic_conversation"
every = 1
start_now = true
args = { consumer = "soak", messages = ["Hello", "Thanks"], csat = 5 }

[plugins]
enabled = ["metrics"]

[plugins.metrics]
enabled = true
port = 0
"""


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS)."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    if found is None:
        raise RuntimeError("no VmRSS")
    return int(found.group(1)) / 1024


def threads_and_fds(pid: int) -> tuple[int, int]:
    """(threads, open descriptors) of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/task")), len(os.listdir(f"/proc/{pid}/fd"))


def closed_count(metrics_url: str) -> float:
    """Conversations the daemon counted closed (its metrics endpoint)."""
    with urllib.request.urlopen(f"{metrics_url}/metrics", timeout=5) as reply:  # noqa: S310
        text = reply.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("lpbot_conversations_closed_total"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="length of the run (8)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes not measured at the start (5.5 for 8 minutes, else 1/4)")
    parser.add_argument("--retention", type=float, default=300.0,
                        help="[sandbox] closed_retention in seconds (300, the default)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    warmup = args.warmup if args.warmup is not None else (
        5.5 if args.minutes >= 8 else args.minutes / 4)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "soak.toml"
        config.write_text(CONFIG.replace("RETENTION", repr(args.retention)))
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "lpbot", "run", "--config", str(config), "--state-dir", tmp,
             "--log-format", "json"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        metrics: list[str] = []
        seen = threading.Event()

        def read_log() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                try:
                    message = str(json.loads(line).get("message", ""))
                except ValueError:
                    continue
                found = re.search(r"metrics on (http://\S+)/metrics", message)
                if found:
                    metrics.append(found.group(1))
                    seen.set()

        reader = threading.Thread(target=read_log, name="soak-log")
        reader.start()
        try:
            if not seen.wait(60):
                raise SystemExit("the daemon did not start within 60 s")
            samples = _sample(process.pid, args.minutes * 60, warmup * 60, args.interval,
                              metrics[0])
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(30)
            reader.join(10)
    _report(samples, args.minutes, warmup, code)
    return 0


def _sample(pid: int, seconds: float, warmup: float, interval: float,
            metrics_url: str) -> dict[str, object]:
    start = time.monotonic()
    points: list[tuple[float, float]] = []
    first: tuple[int, int] | None = None
    closed_at_warmup = 0.0
    stop = threading.Event()
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        if elapsed >= warmup:
            if first is None:
                first = threads_and_fds(pid)
                closed_at_warmup = closed_count(metrics_url)
            points.append((elapsed / 60, rss_mb(pid)))
        stop.wait(interval)
    last = threads_and_fds(pid)
    return {"points": points, "first": first, "last": last,
            "closed": closed_count(metrics_url) - closed_at_warmup}


def _report(samples: dict[str, object], minutes: float, warmup: float, code: int) -> None:
    points = samples["points"]
    assert isinstance(points, list)
    if len(points) < 3:
        raise SystemExit("too few samples: run longer")
    slope, _ = statistics.linear_regression([p[0] for p in points], [p[1] for p in points])
    verdict = "meets" if slope < TARGET_MB_PER_MIN else "MISSES"
    print(f"soak: {minutes:g} min, warm-up {warmup:g} min, {len(points)} samples, "
          f"exit code {code}")
    print(f"conversations closed after warm-up: {samples['closed']:.0f}")
    print(f"RSS after warm-up: {points[0][1]:.1f} MB -> {points[-1][1]:.1f} MB")
    print(f"threads, descriptors: {samples['first']} -> {samples['last']}")
    print(f"RSS slope: {slope:+.3f} MB/min; target < {TARGET_MB_PER_MIN} MB/min: "
          f"{verdict}")


if __name__ == "__main__":
    raise SystemExit(main())
