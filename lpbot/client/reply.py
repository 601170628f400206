"""A one-shot reply slot: the cheapest way to hand a response from the reader to a caller.

``concurrent.futures.Future`` builds a ``Condition`` per future and notifies through it; a
request round trip pays that twice on the hot path. :class:`Reply` is a held ``Lock`` that the
resolving thread releases: the waiter's ``acquire(timeout=...)`` is the whole wait. It offers the
subset of the Future API the client uses (``result``, ``exception``, ``done``,
``add_done_callback``, ``set_result``, ``set_exception``).

Callbacks run exactly once, on the thread that resolves the reply, or at once on the thread
that adds them when the reply is already resolved. The hand-off relies on ``list.pop`` being
atomic, as it is in CPython.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Reply"]

_T = TypeVar("_T")


class Reply(Generic[_T]):
    """The eventual result (or error) of one request."""

    __slots__ = ("_callbacks", "_done", "_error", "_gate", "_value")

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()  # held until resolved: waiters block on it
        self._done = False
        self._value: _T | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Reply[_T]], object]] = []

    def __repr__(self) -> str:
        state = "pending" if not self._done else ("error" if self._error else "done")
        return f"<Reply {state}>"

    def done(self) -> bool:
        """True once a result or an error was set."""
        return self._done

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until resolved; True when it was (False on timeout)."""
        if self._done:
            return True
        if not self._gate.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return self._done
        self._gate.release()  # let any other waiter through too
        return True

    def result(self, timeout: float | None = None) -> _T:
        """The value, or raise the error; ``TimeoutError`` when not resolved in time."""
        if not self.wait(timeout):
            raise TimeoutError
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def exception(self) -> BaseException | None:
        """The error of a resolved reply (``None`` when it succeeded or is pending)."""
        return self._error

    def set_result(self, value: _T) -> None:
        """Resolve with ``value`` (ignored when already resolved)."""
        if self._done:
            return
        self._value = value
        self._resolve()

    def set_exception(self, error: BaseException) -> None:
        """Resolve with ``error`` (ignored when already resolved)."""
        if self._done:
            return
        self._error = error
        self._resolve()

    def add_done_callback(self, callback: Callable[[Reply[_T]], object]) -> None:
        """Call ``callback(reply)`` once resolved (at once if it already is)."""
        self._callbacks.append(callback)
        if self._done:
            self._run_callbacks()

    def _resolve(self) -> None:
        self._done = True
        self._gate.release()
        self._run_callbacks()

    def _run_callbacks(self) -> None:
        callbacks = self._callbacks
        while callbacks:
            try:
                callback = callbacks.pop(0)
            except IndexError:  # another thread took the last one
                return
            callback(self)
