"""A wake-up the daemon's main thread sleeps on without missing a signal.

CPython runs a Python signal handler on the main thread, between two bytecodes. A main thread
asleep in ``threading.Event.wait()`` runs none while it sleeps: when the kernel delivers the
signal to another thread, or the signal lands just before the wait blocks, nothing wakes it,
and the daemon goes on as if it never got SIGTERM. :class:`Wakeup` sleeps in ``select()`` on a
socket pair that ``signal.set_wakeup_fd`` also writes to, so any signal, on any thread, wakes
it; the handler then runs and may call :meth:`Wakeup.set`.

While the main thread is busy elsewhere (connecting at start-up, running shutdown hooks), the
handler waits for it. :meth:`Wakeup.watching` covers those spells: a thread of its own reads the
signal numbers that reach the socket and interrupts the main thread, which then runs the handler.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any, Final, Self

__all__ = ["Wakeup"]

log = logging.getLogger(__name__)

#: seconds between kicks while the main thread has not run its handlers
_RESEND: Final = 0.05


class Wakeup:
    """An event for the main thread that signals interrupt: ``set()`` from anywhere, ``wait()``.

    Use it as a context manager on the main thread: entering routes signal wake-ups to it,
    leaving puts back the signal handlers :meth:`handle` replaced and the previous wake-up fd,
    and closes the socket pair.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)  # set_wakeup_fd requires it; a full pair is enough
        self._previous_fd: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._kicks = 0  # SIGURG handler runs while watching

    def __enter__(self) -> Self:
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(),
                                                 warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()
        if self._previous_fd is not None:
            signal.set_wakeup_fd(self._previous_fd)
            self._previous_fd = None
        self._reader.close()
        self._writer.close()

    def handle(self, handler: Callable[[int, FrameType | None], object],
               signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
        """Run ``handler`` on ``signals`` until this wake-up is left (main thread only)."""
        for signum in signals:
            previous = signal.signal(signum, handler)
            self._previous_handlers.setdefault(signum, previous)

    @contextlib.contextmanager
    def watching(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
        """While inside, make the main thread run its handler for ``signals`` at once.

        For the main thread's busy spells (connecting, shutdown hooks), never around
        :meth:`wait`. Thread ``lpbot-signal-watch`` reads the signal numbers that reach the
        socket; for each of ``signals`` it sends ``SIGURG`` to the main thread until that
        one's handler ran. SIGURG interrupts the main thread's blocking call (a lock, a sleep,
        a socket), so the interpreter runs the pending handlers in it, in signal-number order;
        the call itself then goes on. Main thread only. Where SIGURG or ``pthread_kill`` is
        missing (Windows), or the watch cannot start, nothing is watched.
        """
        main = threading.main_thread().ident
        if main is None or threading.current_thread().ident != main:
            raise RuntimeError("Wakeup.watching() is for the main thread")
        with contextlib.ExitStack() as stack:
            try:
                self._start_watch(main, frozenset(int(n) for n in signals), stack)
            except (AttributeError, OSError, RuntimeError) as exc:  # no SIGURG, no fd, no thread
                log.debug("signals are not watched: %s", exc)
            yield

    def _start_watch(self, main: int, wanted: frozenset[int],
                     stack: contextlib.ExitStack) -> None:
        """Start the watch; ``stack`` undoes each step in reverse when the caller leaves."""
        kick = signal.SIGURG  # AttributeError where there is none
        if not hasattr(signal, "pthread_kill"):
            raise AttributeError("signal.pthread_kill is missing")
        # A Python handler, so that SIGURG interrupts a blocking call (ignored, it would not).
        previous = signal.signal(kick, self._kicked)
        stack.callback(signal.signal, kick, signal.SIG_DFL if previous is None else previous)
        stop_reader, stop_writer = socket.socketpair()
        stack.callback(stop_reader.close)
        stack.callback(stop_writer.close)
        self._drain()  # numbers from before: their handlers run as the main thread goes on
        thread = threading.Thread(target=self._watch, args=(main, wanted, stop_reader),
                                  name="lpbot-signal-watch", daemon=True)
        thread.start()
        stack.callback(thread.join)
        stack.callback(stop_writer.send, b"\0")  # runs first: the thread stops, then is joined

    def _kicked(self, signum: int, frame: FrameType | None) -> None:
        """SIGURG's handler while watching: count, so the watch stops re-sending."""
        self._kicks += 1

    def _watch(self, main: int, wanted: frozenset[int], stop: socket.socket) -> None:
        unanswered: int | None = None  # self._kicks when a kick went out and no handler ran
        with selectors.DefaultSelector() as selector:
            selector.register(self._reader, selectors.EVENT_READ)
            selector.register(stop, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in
                         selector.select(None if unanswered is None else _RESEND)}
                if stop in ready:
                    return
                # set() writes 0 and SIGURG its own number: neither is wanted
                got = wanted.intersection(self._drain()) if self._reader in ready else ()
                if unanswered is not None and self._kicks != unanswered:
                    unanswered = None  # the handlers ran, ours last (by signal number)
                if got or unanswered is not None:
                    # Re-sent while unanswered: one that lands just before the main thread
                    # blocks interrupts nothing.
                    if unanswered is None:
                        unanswered = self._kicks
                    signal.pthread_kill(main, signal.SIGURG)

    def set(self) -> None:
        """Wake the sleeper; safe from any thread and from a signal handler."""
        self._event.set()
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
            self._writer.send(b"\0")

    def clear(self) -> None:
        """Make the next :meth:`wait` sleep again (the caller re-checks what it waits for)."""
        self._event.clear()

    def is_set(self) -> bool:
        """Whether :meth:`set` was called."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until :meth:`set` or ``timeout`` seconds; a signal wakes it to run its handler.

        Returns:
            True if set, False on timeout.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._reader, selectors.EVENT_READ)
            while not self._event.is_set():  # a Python call: pending handlers run first
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if selector.select(remaining):
                    self._drain()
        return True

    def _drain(self) -> bytes:
        """Read what is queued on the socket: signal numbers, and 0 for each :meth:`set`."""
        received = bytearray()
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while chunk := self._reader.recv(4096):
                received += chunk
        return bytes(received)
