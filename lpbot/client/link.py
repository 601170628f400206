"""The state of one consumer's connection, shared by the reader, the keepalive and callers.

A :class:`Link` is what the client's parts agree on: the identity, the sans-I/O
:class:`~lpbot.client.session.Session` that decides what to subscribe and deliver, the current
socket, and how far that socket's setup got. It runs no thread and does no I/O (except closing
a socket it is asked to :meth:`~Link.abort`).

Every attribute is read and changed holding ``lock``; ``changed``, a condition on the same lock,
is notified whenever the socket or its setup moves on, so callers can wait for a connection
(:meth:`~Link.wait_connected`). Who changes what:

* the reader (:class:`~lpbot.client.supervisor.Supervisor`) attaches and detaches sockets and
  adopts identities;
* :class:`~lpbot.client.streams.Streams` (on the reader thread and in request callbacks) feeds
  the session, tracks subscriptions and marks the socket ``connected`` once set up;
* the keepalive prunes the session; any thread may read the views.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lpbot.client.options import ConnectionState
from lpbot.client.session import Recovery, Session, SessionStats
from lpbot.errors import ConnectionClosed
from lpbot.protocol.notifications import ConversationDetails

if TYPE_CHECKING:
    from lpbot.client.connection import Connection
    from lpbot.client.identity import Identity
    from lpbot.client.reply import Reply

__all__ = ["Link"]

log = logging.getLogger(__name__)

_SESSION_COUNTERS = ("delivered", "duplicates", "gaps", "resyncs", "dropped_events",
                     "dropped_changes")


class Link:
    """The connection state of one consumer, under one lock; see the module docstring.

    Args:
        stop: The client's stop event; every wait here ends when it is set.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.identity: Identity | None = None
        self.session: Session | None = None
        self.state = ConnectionState.DISCONNECTED
        #: the socket being set up or in use (None between sockets)
        self.conn: Connection | None = None
        #: ``conn`` finished its setup (subscribed and resumed): requests may be sent
        self.connected = False
        #: ``conn`` got as far as ``connected``: a failure after it starts the backoff afresh
        self.reached = False
        #: the server confirmed the conversation subscription on ``conn``
        self.conversations_subscribed = False
        #: dialog id -> the answer to its subscription, while in flight on ``conn``
        self.subscribing: dict[str, Reply[None]] = {}
        #: why ``conn`` is being closed on purpose (see :meth:`abort`), for the reader's report
        self.planned: tuple[Recovery | str, str] | None = None
        self._totals: dict[str, int] = {}  # counters of past sessions and sockets

    # --- read-only views (any thread) -------------------------------------------------

    @property
    def consumer_id(self) -> str | None:
        """The current consumer id."""
        identity = self.identity
        return None if identity is None else identity.consumer_id

    def conversations(self) -> list[ConversationDetails]:
        """Known conversations (a copy)."""
        with self.lock:
            return [] if self.session is None else list(self.session.conversations.values())

    def details(self, conversation_id: str) -> ConversationDetails | None:
        """The latest snapshot of one conversation, if known."""
        with self.lock:
            return None if self.session is None else self.session.conversations.get(
                conversation_id)

    def open_conversation_id(self) -> str | None:
        """The consumer's OPEN conversation (the newest, if the server reports several)."""
        with self.lock:
            if self.session is None:
                return None
            found = self.session.open_conversations()
            return found[0].conversation_id if found else None

    def retained(self) -> tuple[int, int]:
        """Conversations and dialogs the session keeps in memory now."""
        with self.lock:
            return (0, 0) if self.session is None else self.session.retained()

    def pending_requests(self) -> int:
        """Requests in flight on the current socket."""
        conn = self.conn
        return 0 if conn is None else conn.pending

    def live_counts(self) -> dict[str, int]:
        """Counters kept by the session and the current socket's decoder, plus past ones."""
        with self.lock:
            counts = dict(self._totals)
            if self.session is not None:
                _add_session(counts, self.session.stats)
            if self.conn is not None:
                _add_connection(counts, self.conn)
        return counts

    # --- waits (callers' threads) --------------------------------------------------------

    def wait_conversation(self, conversation_id: str, timeout: float) -> bool:
        """Wait until the conversation stream reported ``conversation_id``."""
        with self.changed:
            return self.changed.wait_for(
                lambda: self.stop.is_set() or (self.session is not None and conversation_id
                                               in self.session.conversations), timeout)

    def wait_connected(self, timeout: float) -> Connection:
        """The live connection, waiting up to ``timeout`` for a reconnect to finish.

        Raises:
            ConnectionClosed: the client closed or gave up (``FAILED``: at once, since it will
                not reconnect), or no connection within ``timeout``.
        """
        conn = self.conn
        if self.connected and conn is not None and not self.stop.is_set():
            return conn  # the common case, without taking the lock
        with self.changed:
            self.changed.wait_for(lambda: self.stop.is_set() or self.connected
                                  or self.state is ConnectionState.FAILED, timeout)
            if self.stop.is_set():
                raise ConnectionClosed("client closed")
            if self.state is ConnectionState.FAILED:
                raise ConnectionClosed("the client gave up and will not reconnect "
                                       "(state failed; Client.failure says why)")
            if not self.connected or self.conn is None:
                raise ConnectionClosed(f"not connected within {timeout:g} s "
                                       f"(state {self.state.value})")
            return self.conn

    def wait_replaced(self, conn: Connection, timeout: float) -> None:
        """Wait until ``conn`` is no longer the current socket (it is being replaced)."""
        with self.changed:
            self.changed.wait_for(lambda: self.stop.is_set() or self.conn is not conn, timeout)

    # --- changes --------------------------------------------------------------------------

    def adopt(self, identity: Identity, committed: Callable[[str], dict[str, int]], *,
              auto_follow: bool) -> bool:
        """Use ``identity``; a new consumer gets a new session, resuming from ``committed(id)``.

        Returns:
            True if the consumer changed (a renewed identity), False for a refreshed token.
        """
        with self.lock:
            self.identity = identity
            session = self.session
            if session is not None and session.consumer_id == identity.consumer_id:
                return False
            if session is not None:
                _add_session(self._totals, session.stats)
            self.session = Session(identity.consumer_id,
                                   committed=committed(identity.consumer_id),
                                   auto_follow=auto_follow)
            return True

    def attach(self, conn: Connection) -> bool:
        """Make ``conn`` the current socket, its setup not begun; True if the client is stopping."""
        with self.changed:
            self.conn = conn
            self.subscribing = {}
            self.reached = False
            self.conversations_subscribed = False
            self.planned = None
            return self.stop.is_set()

    def detach(self, conn: Connection) -> tuple[bool, tuple[Recovery | str, str] | None]:
        """``conn`` ended: forget it; returns whether it had connected, and the planned end."""
        with self.changed:
            self.conn = None
            self.connected = False
            _add_connection(self._totals, conn)
            self.changed.notify_all()
            return self.reached, self.planned

    def mark_connected(self) -> None:
        """The current socket finished its setup: wake whoever waits to send."""
        with self.changed:
            self.reached = True
            self.connected = True
            self.changed.notify_all()

    def abort(self, conn: Connection, recovery: Recovery | str, reason: str,
              *, graceful: bool = False) -> None:
        """Close ``conn`` on purpose (once), so the reader reconnects with ``recovery``.

        Does nothing if ``conn`` is no longer current or is already being aborted.
        ``graceful`` sends a close frame; otherwise the socket is cut.
        """
        with self.lock:
            if self.conn is not conn or self.planned is not None:
                return
            self.planned = (recovery, reason)
        log.info("re-opening the connection: %s", reason)
        if graceful:
            conn.close(1000, reason)
        else:
            conn.abort(reason)


def _add_session(counts: dict[str, int], stats: SessionStats) -> None:
    for name in _SESSION_COUNTERS:
        counts[name] = counts.get(name, 0) + getattr(stats, name)


def _add_connection(counts: dict[str, int], conn: Connection) -> None:
    counts["frames"] = counts.get("frames", 0) + conn.frames
    events = sum(n for key, n in conn.decoder.unknown_types.items() if key.startswith("event:"))
    counts["unknown_events"] = counts.get("unknown_events", 0) + events
