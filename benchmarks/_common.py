"""Shared pieces of the client benchmarks: the push server process and wsaccel's check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import websocket

SERVER = Path(__file__).with_name("push_server.py")
WS_PATH = "/ws_api/account/bench/messaging/consumer?v=3"


def pin(pid: int, cpus: set[int]) -> None:
    """Keep every thread of process ``pid`` (0: this one) on ``cpus``; later threads inherit."""
    for task in Path(f"/proc/{pid or os.getpid()}/task").iterdir():
        os.sched_setaffinity(int(task.name), cpus)


def one_core_split() -> tuple[set[int], set[int]] | None:
    """(the client's CPU, the servers' CPUs) for a pinned round, or None where it cannot be."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None


@contextmanager
def push_server(count: int, cpus: set[int] | None = None) -> Iterator[int]:
    """Start push_server.py in another process (on ``cpus``); yield its port; stop it after."""
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(SERVER), str(count)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()
        if cpus:
            pin(process.pid, cpus)
        yield int(line[1])
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def wsaccel_status() -> str:
    """Say whether websocket-client picked up wsaccel's compiled UTF-8 validator and masker."""
    from websocket import _abnf, _utils

    validator = "Utf8Validator" in vars(_utils)
    masker = "XorMaskerSimple" in vars(_abnf)
    if not (validator and masker):
        raise SystemExit("wsaccel is not in use: pip install 'websocket-client[optional]'")
    return "wsaccel in use (UTF-8 validator and masker)"


def interleaved_runs(rounds: int, **runs: Callable[[], float]) -> dict[str, list[float]]:
    """Run each measurement ``rounds`` times, alternating; return every rate, by name.

    Alternating keeps the comparison fair when the machine's load changes during the run.
    """
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(run())
    return results


def interleaved(rounds: int, **runs: Callable[[], float]) -> dict[str, float]:
    """Each measurement's best rate over ``rounds`` interleaved rounds.

    The best of interleaved rounds is the figure least disturbed by other load on the machine
    (what each loop can do, not what a busy neighbour left it).
    """
    return {name: max(values) for name, values in interleaved_runs(rounds, **runs).items()}


def raw_connection(port: int) -> websocket.WebSocket:
    """websocket-client with its defaults (UTF-8 validated, by wsaccel)."""
    return websocket.create_connection(f"ws://127.0.0.1:{port}{WS_PATH}")
