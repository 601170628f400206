"""Helpers for the runtime's tests: the fixture plugins' folder on sys.path, a polling wait."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "plugins" / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        pause.wait(0.005)
