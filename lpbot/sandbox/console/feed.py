"""The console's live feed: a bounded log of changes fanned out as server-sent events.

The world's listener appends to the log (quickly, under the world's lock); each open
``/console/events`` response is a generator on its own HTTP request thread that waits on the
log's condition and writes what is new. A browser that falls behind the log gets a fresh
snapshot instead of the changes it missed.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["EventFeed", "sse_frame"]

#: seconds between keep-alive comments; they also reveal a browser that went away
HEARTBEAT = 15.0


def sse_frame(name: str, payload: Any, event_id: int | None = None) -> bytes:
    """One server-sent event: ``id``, ``event`` and a single-line JSON ``data`` field."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    data = json.dumps(payload, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {data}\n\n".encode()


class EventFeed:
    """A thread-safe, bounded, numbered log of (name, payload) changes with blocking readers."""

    def __init__(self, capacity: int = 2048, heartbeat: float = HEARTBEAT) -> None:
        self._cond = threading.Condition()
        self._log: deque[tuple[int, bytes]] = deque(maxlen=capacity)
        self._last = 0
        self._closed = False
        self._heartbeat = heartbeat
        self._readers = 0

    @property
    def readers(self) -> int:
        """How many streams are open; with none, changes need not be published at all."""
        return self._readers

    @property
    def last_id(self) -> int:
        """The id of the newest change (0 before any)."""
        with self._cond:
            return self._last

    def publish(self, name: str, payload: Any) -> int:
        """Append a change and wake every reader; returns its id."""
        with self._cond:
            self._last += 1
            self._log.append((self._last, sse_frame(name, payload, self._last)))
            self._cond.notify_all()
            return self._last

    def close(self) -> None:
        """End every stream (now and later); idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _after(self, last: int) -> list[tuple[int, bytes]] | None:
        """The changes after ``last``; None if some of them already fell out of the log."""
        if not self._log or last >= self._last:
            return []
        if self._log[0][0] > last + 1:
            return None
        return [item for item in self._log if item[0] > last]

    def stream(self, snapshot: Callable[[], tuple[Any, int]]) -> Iterator[bytes]:
        """Yield SSE bytes until :meth:`close`: a snapshot first, then every change after it.

        ``snapshot()`` returns (payload, id of the last change it includes); it must be taken
        consistently with :meth:`publish` (the console takes it under the world's lock).
        """
        with self._cond:
            self._readers += 1
        try:
            yield from self._follow(snapshot)
        finally:
            with self._cond:
                self._readers -= 1

    def _follow(self, snapshot: Callable[[], tuple[Any, int]]) -> Iterator[bytes]:
        payload, last = snapshot()
        yield b"retry: 1000\n\n" + sse_frame("snapshot", payload, last)
        while True:
            with self._cond:
                batch = self._after(last)
                if batch == [] and not self._closed:
                    self._cond.wait(self._heartbeat)
                    batch = self._after(last)
                if self._closed:
                    return
            if batch is None:  # fell behind the bounded log: start over from a snapshot
                payload, last = snapshot()
                yield sse_frame("snapshot", payload, last)
            elif batch:
                last = batch[-1][0]
                yield b"".join(frame for _, frame in batch)
            else:
                yield b": keep-alive\n\n"
