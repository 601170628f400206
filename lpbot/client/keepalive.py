"""Keepalive: proves each socket alive, refreshes tokens, bounds memory; one thread in all.

Every ``keepalive_interval`` seconds (30 by default, protocol notes §3.4) a client's
:class:`Keepalive` sends a WebSocket ping and ``GetClock`` on its connected socket; if the
previous ``GetClock`` is still unanswered the socket is aborted (the reader then backs off and
reconnects). Both are sent only if the socket takes them at once
(:func:`~lpbot.client.nowait.send_nowait`): a socket that cannot (the server stopped reading,
its buffers are full, or another thread is blocked sending on it) is stalled, counted
(``keepalive_stalls``) and aborted the same way, so one stalled peer never holds up the other
clients' keepalives. It asks for a token refresh when a refreshable token (authenticated or ACR0)
nears its expiry, and forgets conversations closed for longer than ``closed_retention`` (their
handles and stored sequences too), so a long-lived client's memory stays bounded.

The ticks of every client of the process run on one thread, ``lpbot-keepalive``, driven by a
timer heap (:class:`Heartbeat`): a consumer costs its reader thread and nothing more. The thread
is started when the first client connects and stopped and joined when the last one closes;
it sleeps on a condition until the earliest tick is due (no polling). Each client keeps its own
interval, counted from the end of its previous tick, as with a thread of its own. A tick only
sends two small frames, so one thread serves thousands; a token refresh (the user's token
provider, the IDP) runs on a short-lived ``lpbot-refresh-<consumer>`` thread of the client's,
joined when the client closes, so that a slow provider delays no other client's keepalive.

What a tick needs from the client is the small :class:`Housekeeping` protocol; the token
refresh itself is the supervisor's (``refresh``), because a new identity may mean a new session.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Final, Protocol

from lpbot.client.link import Link
from lpbot.client.nowait import Sent
from lpbot.client.session import Recovery
from lpbot.errors import AuthError, ConfigError, ConnectionClosed, IdentityRefused, StateError
from lpbot.protocol.requests import GetClock

if TYPE_CHECKING:
    from lpbot.client.connection import Connection
    from lpbot.client.options import ClientOptions
    from lpbot.client.reply import Reply
    from lpbot.client.state import StateStore
    from lpbot.client.state_pg import PgStateStore

__all__ = ["HEARTBEAT", "IMMEDIATE", "Heartbeat", "Housekeeping", "Keepalive"]

log = logging.getLogger(__name__)

#: the recovery of a socket closed on purpose to use a fresh token: reconnect at once
IMMEDIATE = "immediate"


class Housekeeping(Protocol):
    """What :class:`Keepalive` needs from the client: counters, handles, the state store."""

    @property
    def store(self) -> StateStore | PgStateStore | None:
        """Where sequences are kept, if anywhere."""

    def count(self, name: str, increment: int = 1) -> None:
        """Add to one of the client's counters."""

    def forget_conversations(self, conversation_ids: Iterable[str]) -> None:
        """Drop the handles of conversations the session forgot."""


class Keepalive:
    """One client's keepalive ticks, run by the process's :class:`Heartbeat`.

    Args:
        link: The connection state: the socket to ping, the session to prune.
        client: Counters, conversation handles and the state store.
        options: ``keepalive_interval``, ``closed_retention`` and ``refresh_ahead``.
        refresh: Obtains a fresh token and adopts it; raises ``AuthError``,
            ``ConnectionClosed`` or ``ConfigError`` when it cannot (``IdentityRefused`` when it
            never will: it has then ended the socket itself).
    """

    def __init__(self, link: Link, client: Housekeeping, options: ClientOptions,
                 refresh: Callable[[], None]) -> None:
        self._link = link
        self._client = client
        self._options = options
        self._refresh = refresh
        self._clock: Reply[int] | None = None
        self._refreshing: threading.Thread | None = None

    @property
    def interval(self) -> float:
        """Seconds between the end of one tick and the next (``keepalive_interval``)."""
        return self._options.keepalive_interval

    def tick(self) -> None:
        """Ping, check the previous ``GetClock``, send the next, prune, refresh if due."""
        link = self._link
        if link.stop.is_set():
            return
        with link.lock:
            conn = link.conn if link.connected else None
            identity = link.identity
        if conn is None or identity is None or conn.closing_reason is not None:
            return  # not connected, or being closed (its reader reports how it ended)
        self.prune()
        previous = self._clock
        if previous is not None and not previous.done():
            conn.forget(previous)
            self._clock = None
            link.abort(conn, Recovery.BACKOFF, "keepalive: GetClock unanswered")
            return
        try:
            sent, clock = conn.keepalive(GetClock())  # never waits on the socket
        except ConnectionClosed:
            return
        if sent is Sent.STALLED:
            self._clock = None
            self._client.count("keepalive_stalls")
            log.warning("keepalive: the socket of consumer %s cannot take a frame (the server "
                        "stopped reading); re-opening it", identity.consumer_id)
            link.abort(conn, Recovery.BACKOFF, "keepalive: the socket cannot take a frame")
            return
        if sent is Sent.SENT:
            self._clock = clock
            self._client.count("keepalives")
        # Sent.BUSY: another thread is sending on a writable socket; the next tick pings
        if identity.refreshable and identity.refresh_due(self._options.refresh_ahead):
            self._start_refresh(conn, identity.consumer_id)

    def _start_refresh(self, conn: Connection, consumer_id: str) -> None:
        """Refresh on a short-lived thread of the client's, never on the shared one.

        The token provider is the user's code and the IDP a network call: either may take
        seconds, and every other client's keepalive would wait for them.
        """
        running = self._refreshing
        if running is not None and running.is_alive():
            return  # one refresh at a time; the next tick looks again
        thread = threading.Thread(target=self._refresh_ahead, args=(conn,),
                                  name=f"lpbot-refresh-{consumer_id}", daemon=True)
        self._refreshing = thread
        thread.start()

    def join(self, timeout: float) -> None:
        """Wait for a refresh in progress (the client is closing: its waits end at once)."""
        running = self._refreshing
        if running is not None and running is not threading.current_thread():
            running.join(timeout)
            if running.is_alive():
                log.warning("thread %s did not stop within %.1f s", running.name, timeout)

    def prune(self) -> None:
        """Forget conversations closed for ``closed_retention`` seconds."""
        link = self._link
        with link.lock:
            session = link.session
            if session is None or not link.connected:
                return  # before this socket's snapshot, open conversations look unknown
            pruned = session.prune(time.time(), self._options.closed_retention)
            if pruned.conversations:
                # Under the lock, so a conversation re-reported meanwhile keeps its handle.
                self._client.forget_conversations(pruned.conversations)
        if pruned.dialogs:
            self._client.count("forgotten_dialogs", len(pruned.dialogs))
            log.debug("forgot %d closed conversations, %d dialogs", len(pruned.conversations),
                      len(pruned.dialogs))
        store = self._client.store
        if pruned.evicted and store is not None:
            try:
                store.forget_sequences(session.consumer_id, pruned.evicted)
            except (ValueError, StateError) as exc:  # closing; the rows are only clutter
                log.warning("could not delete the sequences of forgotten dialogs: %s", exc)

    def _refresh_ahead(self, conn: Connection) -> None:
        try:
            self._refresh()
        except IdentityRefused:
            return  # final: the supervisor ended the socket and reports it
        except (AuthError, ConnectionClosed, ConfigError) as exc:
            log.warning("token refresh ahead of expiry failed: %s", exc)
            return
        self._client.count("token_refreshes")
        self._link.abort(conn, IMMEDIATE, "token refreshed ahead of expiry", graceful=True)


class _Entry:
    """A scheduled tick in the heap; ``task`` is None once its client left (dropped lazily)."""

    __slots__ = ("due", "order", "task")

    def __init__(self, due: float, order: int, task: Keepalive) -> None:
        self.due = due
        self.order = order
        self.task: Keepalive | None = task

    def __lt__(self, other: _Entry) -> bool:
        return (self.due, self.order) < (other.due, other.order)


class Heartbeat:
    """The process's keepalive thread and its timer heap; see the module docstring.

    :meth:`add` schedules a client's first tick one interval from now (starting the thread if
    it is not running); :meth:`remove` unschedules it, waits for a tick of it in progress, and
    when no client is left stops the thread and joins it. Both are thread-safe.
    """

    def __init__(self, name: str = "lpbot-keepalive") -> None:
        self.name = name
        self._changed = threading.Condition()
        self._heap: list[_Entry] = []
        self._entries: dict[Keepalive, _Entry] = {}
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._ticking: Keepalive | None = None

    @property
    def clients(self) -> int:
        """How many clients are scheduled."""
        with self._changed:
            return len(self._entries)

    def add(self, task: Keepalive) -> None:
        """Tick ``task`` every ``task.interval`` seconds from now on, until :meth:`remove`."""
        with self._changed:
            if task in self._entries:
                return
            self._schedule(task, time.monotonic() + task.interval)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify()

    def remove(self, task: Keepalive, timeout: float = 1.0) -> None:
        """Stop ticking ``task``; the last client's removal stops and joins the thread."""
        current = threading.current_thread()
        with self._changed:
            entry = self._entries.pop(task, None)
            if entry is not None:
                entry.task = None
            if current is not self._thread:  # its own tick finishes when this returns
                self._changed.wait_for(lambda: self._ticking is not task, timeout)
            thread = None
            if not self._entries and self._thread is not None:
                thread, self._thread = self._thread, None
                self._heap.clear()
                self._changed.notify_all()
        if thread is not None and thread is not current:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("thread %s did not stop within %.1f s", thread.name, timeout)

    def _schedule(self, task: Keepalive, due: float) -> None:
        entry = _Entry(due, next(self._order), task)
        self._entries[task] = entry
        heapq.heappush(self._heap, entry)

    def _run(self) -> None:
        me = threading.current_thread()
        heap = self._heap
        while True:
            with self._changed:
                task = None
                while task is None:
                    if self._thread is not me:
                        return  # stopped (or replaced by a newer thread after a restart)
                    while heap and heap[0].task is None:
                        heapq.heappop(heap)  # a client that left
                    delay = heap[0].due - time.monotonic() if heap else None
                    if delay is not None and delay <= 0:
                        task = heapq.heappop(heap).task
                    else:
                        self._changed.wait(delay)
                self._ticking = task
            try:
                task.tick()
            except Exception:  # one client's failure must not stop the others' keepalives
                log.exception("keepalive tick failed")
            with self._changed:
                self._ticking = None
                if task in self._entries:  # not removed meanwhile
                    self._schedule(task, time.monotonic() + task.interval)
                self._changed.notify_all()


#: the process's keepalive thread, shared by every client
HEARTBEAT: Final = Heartbeat()
