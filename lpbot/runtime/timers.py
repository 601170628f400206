"""Delayed calls: one named thread that hands each call back to its owner when it is due.

:class:`Timers` keeps a heap of ``(due time, key, function)`` and a thread ``lpbot-timer`` that
waits on a condition until the earliest one is due (or a new, earlier one arrives), then passes
it to ``fire(key, function)``. It never runs the function itself: the dispatcher's ``fire``
queues it on the worker of ``key``, so a delayed call runs in order with that conversation's
events (see :meth:`lpbot.runtime.dispatch.Dispatcher.call_later`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Timers"]

log = logging.getLogger(__name__)

#: a delayed call: no arguments, any result (ignored)
Call = Callable[[], object]


class Timers:
    """Waits for delayed calls to fall due on the thread ``name``; see the module docstring.

    Args:
        fire: Called on the timer thread with ``(key, function)`` of each call that is due, in
            due order (same due time: in the order added). It must only queue, never run.
        name: The thread's name.
    """

    def __init__(self, fire: Callable[[str, Call], None], *, name: str = "lpbot-timer") -> None:
        self._fire = fire
        self._name = name
        self._heap: list[tuple[float, int, str, Call]] = []
        self._order = itertools.count()
        self._condition = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopped = False

    def __len__(self) -> int:
        """Calls not yet due."""
        with self._condition:
            return len(self._heap)

    def start(self) -> None:
        """Start the timer thread (once)."""
        with self._condition:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._run, name=self._name,
                                            daemon=True)  # a safety net only: stop() joins
            self._thread.start()

    def add(self, delay: float, key: str, call: Call) -> bool:
        """Fire ``call`` for ``key`` in ``delay`` seconds; False once stopped (nothing added)."""
        due = time.monotonic() + max(0.0, delay)
        with self._condition:
            if self._stopped:
                return False
            entry = (due, next(self._order), key, call)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:
                self._condition.notify()  # the thread waits for a later one: wake it earlier
        return True

    def stop(self, timeout: float) -> list[tuple[str, Call]]:
        """Stop and join the thread; return the calls not yet fired, in due order."""
        with self._condition:
            self._stopped = True
            left = [(key, call) for _, _, key, call in sorted(self._heap)]
            self._heap.clear()
            self._condition.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("thread %s did not stop within %.1f s", thread.name, timeout)
        return left

    def _run(self) -> None:
        condition = self._condition
        while True:
            with condition:
                while not self._stopped and (
                        not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    condition.wait(wait)
                if self._stopped:
                    return
                now = time.monotonic()
                due: list[tuple[str, Call]] = []
                while self._heap and self._heap[0][0] <= now:
                    _, _, key, call = heapq.heappop(self._heap)
                    due.append((key, call))
            for key, call in due:  # outside the lock, so add() is never held up
                self._fire(key, call)
