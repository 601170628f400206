"""Public helpers for testing lpbot bots and plugins against the sandbox.

``wait_until`` is the one way tests wait (no sleeps); the ``lp_sandbox`` fixture comes from
:mod:`lpbot.testing.pytest_plugin`, registered through the ``pytest11`` entry point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from lpbot.sandbox import AgentOptions, Sandbox

__all__ = ["FAST_AGENTS", "AgentOptions", "Sandbox", "wait_until"]

T = TypeVar("T")

#: agents that answer within milliseconds, for quick tests
FAST_AGENTS = AgentOptions(accept_delay=0.01, reply_delay=0.01)


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 5.0, message: str = "condition"
) -> T:
    """Return ``predicate()``'s first truthy value; AssertionError naming ``message`` on timeout.

    The predicate is re-evaluated on a short, growing interval (a bounded wait on an Event, not a
    sleep), so this suits conditions that have no event to wait on.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    interval = 0.001
    while True:
        value = predicate()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        pause.wait(min(interval, remaining))
        interval = min(interval * 2, 0.05)
