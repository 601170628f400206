"""The keepalive thread: proves the socket alive, refreshes the token, bounds memory.

Every ``keepalive_interval`` seconds (30 by default, protocol.md §3.4), waiting on the client's
stop event, :class:`Keepalive` sends a WebSocket ping and ``GetClock`` on the connected socket;
if the previous ``GetClock`` is still unanswered the socket is aborted (the reader then backs
off and reconnects). It asks for a token refresh when a refreshable token (authenticated or
ACR0) nears its expiry, and forgets conversations closed for longer than ``closed_retention``
(their handles and stored sequences too), so a long-lived client's memory stays bounded.

What it needs from the client is the small :class:`Housekeeping` protocol; the token refresh
itself is the supervisor's (``refresh``), because a new identity may mean a new session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from lpbot.client.link import Link
from lpbot.client.session import Recovery
from lpbot.errors import AuthError, ConfigError, ConnectionClosed, StateError
from lpbot.protocol.requests import GetClock

if TYPE_CHECKING:
    from lpbot.client.connection import Connection
    from lpbot.client.options import ClientOptions
    from lpbot.client.reply import Reply
    from lpbot.client.state import StateStore

__all__ = ["IMMEDIATE", "Housekeeping", "Keepalive"]

log = logging.getLogger(__name__)

#: the recovery of a socket closed on purpose to use a fresh token: reconnect at once
IMMEDIATE = "immediate"


class Housekeeping(Protocol):
    """What :class:`Keepalive` needs from the client: counters, handles, the state store."""

    @property
    def store(self) -> StateStore | None:
        """Where sequences are kept, if anywhere."""

    def count(self, name: str, increment: int = 1) -> None:
        """Add to one of the client's counters."""

    def forget_conversations(self, conversation_ids: Iterable[str]) -> None:
        """Drop the handles of conversations the session forgot."""


class Keepalive:
    """The body of the ``lpbot-keepalive-<consumer>`` thread; see the module docstring.

    Args:
        link: The connection state: the socket to ping, the session to prune.
        client: Counters, conversation handles and the state store.
        options: ``keepalive_interval``, ``closed_retention`` and ``refresh_ahead``.
        refresh: Obtains a fresh token and adopts it; raises ``AuthError``,
            ``ConnectionClosed`` or ``ConfigError`` when it cannot.
    """

    def __init__(self, link: Link, client: Housekeeping, options: ClientOptions,
                 refresh: Callable[[], None]) -> None:
        self._link = link
        self._client = client
        self._options = options
        self._refresh = refresh
        self._clock: Reply[int] | None = None

    def run(self) -> None:
        """Loop until the client's stop event is set (the thread's target)."""
        link = self._link
        try:
            while not link.stop.wait(self._options.keepalive_interval):
                with link.lock:
                    conn = link.conn if link.connected else None
                    identity = link.identity
                if conn is None or identity is None:
                    continue
                self.prune()
                previous = self._clock
                if previous is not None and not previous.done():
                    conn.forget(previous)
                    self._clock = None
                    link.abort(conn, Recovery.BACKOFF, "keepalive: GetClock unanswered")
                    continue
                conn.ping()
                try:
                    self._clock = conn.request(GetClock())
                except ConnectionClosed:
                    continue
                self._client.count("keepalives")
                if identity.refreshable and identity.refresh_due(self._options.refresh_ahead):
                    self._refresh_ahead(conn)
        except Exception:  # an internal thread that crashes is logged
            log.exception("keepalive thread crashed")

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
        except (AuthError, ConnectionClosed, ConfigError) as exc:
            log.warning("token refresh ahead of expiry failed: %s", exc)
            return
        self._client.count("token_refreshes")
        self._link.abort(conn, IMMEDIATE, "token refreshed ahead of expiry", graceful=True)
