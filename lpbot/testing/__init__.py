"""Public helpers for testing lpbot bots and plugins against the sandbox.

:class:`BotHarness` runs a real bot on a sandbox and records its hook calls
(:class:`EventRecorder`); ``wait_until`` re-checks a condition that has no event to wait on. The
``lp_sandbox`` and ``bot`` fixtures come from :mod:`lpbot.testing.pytest_plugin`, registered
through the ``pytest11`` entry point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from lpbot.sandbox import AgentOptions, Flow, FlowError, Sandbox, load_flow
from lpbot.testing.harness import BotHarness, EventRecorder, RecordedCall

__all__ = ["FAST_AGENTS", "AgentOptions", "BotHarness", "EventRecorder", "Flow", "FlowError",
           "RecordedCall", "Sandbox", "load_flow", "wait_until"]

T = TypeVar("T")

#: agents that answer within milliseconds, for quick tests
FAST_AGENTS = AgentOptions(accept_delay=0.01, reply_delay=0.01)


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 5.0, message: str = "condition"
) -> T:
    """Return ``predicate()``'s first truthy value; AssertionError naming ``message`` on timeout.

    This polls: the predicate is re-evaluated after pauses that grow from 1 ms to 50 ms. Use it
    for conditions that have no event to wait on; where there is one (a hook call, a sandbox
    event), wait on that instead (``EventRecorder.wait_for``, ``Sandbox.wait_for_event``).
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
