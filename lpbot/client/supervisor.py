"""The reader and keepalive threads: connect, read, classify, recover, reconnect.

Owned by :class:`~lpbot.client.Client`. The reconnect loop is lpbot's own (house style §3.11):
every socket end is classified by :func:`~lpbot.client.session.classify` (protocol.md §3.5),
the identity is refreshed or renewed when the close code says so, and the next attempt waits
the :class:`~lpbot.client.backoff.Backoff` delay through the client's stop event. Only an attempt
that follows a healthy connection after an auth close reconnects at once; every other retry
waits, so there is never a tight loop. The protocol decisions themselves live in the sans-I/O
:class:`~lpbot.client.session.Session`; this module only pumps frames and futures.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final

import websocket

from lpbot.client.connection import Connection, HandshakeRefused, handshake_headers, interrupt
from lpbot.client.identity import Identity
from lpbot.client.options import ConnectionState, StateChange
from lpbot.client.reply import Reply
from lpbot.client.session import Recovery, Session, classify
from lpbot.client.streams import Streams, add_connection, add_session
from lpbot.errors import AuthError, ConfigError, ConnectionClosed, RequestRejected
from lpbot.protocol.codec import encode_client_properties
from lpbot.protocol.names import Services
from lpbot.protocol.requests import GetClock, InitConnection

if TYPE_CHECKING:
    import random
    import ssl

    from lpbot.client.client import Client

__all__ = ["Supervisor"]

log = logging.getLogger(__name__)

_IMMEDIATE: Final = "immediate"


@dataclass(frozen=True, slots=True)
class _Outcome:
    recovery: Recovery | str
    reason: str
    reached: bool = False
    code: int | None = None
    http_status: int | None = None
    error: BaseException | None = None


class Supervisor(Streams):
    """Keeps one consumer connected; runs the reader and keepalive threads."""

    def __init__(self, client: Client, *, ssl_context: ssl.SSLContext | None,
                 rng: random.Random) -> None:
        self._client = client
        self._rng = rng
        self._options = client.options
        self._stop = client.stop_event
        self._ssl_context = ssl_context
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._session: Session | None = None
        self._identity: Identity | None = None
        self._conn: Connection | None = None
        self._connected = False
        self._reached = False
        self._conversations_subscribed = False
        self._abort_recovery: tuple[Recovery | str, str] | None = None
        self._state = ConnectionState.DISCONNECTED
        self._ready = threading.Event()
        self._fatal: BaseException | None = None
        self._clock: Reply[int] | None = None
        self._threads: list[threading.Thread] = []
        self._subscribing: dict[str, Reply[None]] = {}
        self._opening: websocket.WebSocket | None = None
        self._totals: dict[str, int] = {}
        self._malformed_logged = 0
        self._unknown_logged: set[str] = set()  # unknown types logged by any socket's decoder
        props = self._options.client_properties
        self._props_header = encode_client_properties(props) if props is not None else None

    # --- read-only views ----------------------------------------------------------------

    @property
    def consumer_id(self) -> str | None:
        """The current consumer id."""
        identity = self._identity
        return None if identity is None else identity.consumer_id

    @property
    def identity(self) -> Identity | None:
        """The current identity."""
        return self._identity

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        return self._state

    def live_counts(self) -> dict[str, int]:
        """Counters kept by the session and the current socket's decoder, plus past ones."""
        with self._lock:
            counts = dict(self._totals)
            if self._session is not None:
                add_session(counts, self._session.stats)
            if self._conn is not None:
                add_connection(counts, self._conn)
        return counts

    def pending_requests(self) -> int:
        """Requests in flight on the current socket."""
        conn = self._conn
        return 0 if conn is None else conn.pending

    def wait_replaced(self, conn: Connection, timeout: float) -> None:
        """Wait until ``conn`` is no longer the current socket (it is being replaced)."""
        with self._changed:
            self._changed.wait_for(lambda: self._stop.is_set() or self._conn is not conn,
                                   timeout)

    def wait_connected(self, timeout: float) -> Connection:
        """The live connection, waiting up to ``timeout`` for a reconnect to finish."""
        conn = self._conn
        if self._connected and conn is not None and not self._stop.is_set():
            return conn  # the common case, without taking the lock
        with self._changed:
            self._changed.wait_for(lambda: self._stop.is_set() or self._connected, timeout)
            if self._stop.is_set():
                raise ConnectionClosed("client closed")
            if not self._connected or self._conn is None:
                raise ConnectionClosed(f"not connected within {timeout:g} s "
                                       f"(state {self._state.value})")
            return self._conn

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float) -> None:
        """Obtain the identity, start both threads, return once connected (or raise).

        Called again while running, it only waits for the connection.
        """
        if self._threads:
            self.wait_connected(timeout)
            return
        identity = self._client.identities.current()
        self._adopt(identity)
        name = identity.consumer_id
        self._threads = [
            threading.Thread(target=self._run, name=f"lpbot-reader-{name}", daemon=True),
            threading.Thread(target=self._keepalive, name=f"lpbot-keepalive-{name}",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not self._ready.wait(timeout):
            raise ConnectionClosed(f"not connected within {timeout:g} s")
        if self._fatal is not None:
            raise self._fatal
        if self._stop.is_set():
            raise ConnectionClosed("client closed while connecting")

    def stop(self, timeout: float) -> None:
        """Close the socket with a close frame and join both threads within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            conn = self._conn
            opening = self._opening
            self._changed.notify_all()
        if conn is not None:
            conn.close(1000, "client closed")
        if opening is not None:
            interrupt(opening)
        current = threading.current_thread()
        for thread in self._threads:
            if thread is current:
                continue
            # Give the peer most of the budget to answer the close frame, then cut the socket.
            thread.join(max(0.0, (deadline - time.monotonic()) * 0.6))
            if thread.is_alive() and conn is not None:
                conn.abort()
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s did not stop within %.1f s", thread.name, timeout)
        self._emit(ConnectionState.CLOSED, reason="closed by client")

    def _adopt(self, identity: Identity) -> None:
        with self._lock:
            self._identity = identity
            session = self._session
            if session is not None and session.consumer_id == identity.consumer_id:
                return
            if session is not None:
                add_session(self._totals, session.stats)
            store = self._client.store
            committed = store.sequences(identity.consumer_id) if store is not None else {}
            self._session = Session(identity.consumer_id, committed=committed,
                                    auto_follow=self._options.auto_follow)
        for thread in self._threads:
            role = thread.name.split("-")[1]
            thread.name = f"lpbot-{role}-{identity.consumer_id}"

    # --- the reader thread --------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        backoff = self._options.backoff
        try:
            while not self._stop.is_set():
                outcome = self._attempt()
                if self._stop.is_set():
                    break
                if outcome.reached:
                    failures = 0
                recovery = outcome.recovery
                self._emit(ConnectionState.DISCONNECTED, reason=outcome.reason,
                           code=outcome.code, http_status=outcome.http_status,
                           recovery=str(recovery), error=outcome.error)
                if recovery == _IMMEDIATE:
                    continue
                if recovery is Recovery.FATAL:
                    self._fail(outcome.error or ConnectionClosed(outcome.reason))
                    return
                try:
                    if recovery is Recovery.REFRESH_TOKEN:
                        self._adopt(self._client.identities.refresh())
                        self._client.count("token_refreshes")
                    elif recovery is Recovery.RENEW_IDENTITY:
                        self._adopt(self._client.identities.renew())
                        self._client.count("identity_renewals")
                except ConfigError as exc:
                    self._fail(exc)
                    return
                except (AuthError, ConnectionClosed) as exc:
                    log.warning("cannot renew credentials: %s", exc)
                    recovery = Recovery.BACKOFF
                if recovery in (Recovery.REFRESH_TOKEN, Recovery.RENEW_IDENTITY) and not failures:
                    delay = 0.0
                elif recovery is Recovery.RATE_LIMITED:
                    delay = backoff.rate_limited(failures, self._rng)
                else:
                    delay = backoff.delay(failures, self._rng)
                failures += 1
                self._emit(ConnectionState.RECONNECTING, reason=outcome.reason, delay=delay,
                           attempt=failures, recovery=str(recovery), code=outcome.code,
                           http_status=outcome.http_status)
                if self._client.wait(delay):
                    break
        except Exception as exc:  # an internal thread that crashes is fatal
            log.exception("reader thread crashed")
            self._fail(exc)
        finally:
            with self._changed:
                self._connected = False
                self._changed.notify_all()
            self._ready.set()

    def _fail(self, error: BaseException) -> None:
        self._fatal = error
        self._emit(ConnectionState.FAILED, reason=str(error), error=error)
        self._ready.set()

    def _attempt(self) -> _Outcome:
        identity = self._identity
        assert identity is not None  # noqa: S101 - start() adopted one
        self._emit(ConnectionState.CONNECTING, reason="opening the socket")
        header_auth = self._options.auth_mode == "header"
        try:
            path = f"/ws_api/account/{self._options.account}/messaging/consumer?v=3"
            url = self._client.discovery.url(Services.MESSAGING, path, websocket=True)
            conn = Connection.open(
                url, headers=handshake_headers(identity.token if header_auth else None,
                                               self._props_header),
                timeout=self._options.connect_timeout, ssl_context=self._ssl_context,
                opening=self._set_opening, unknown_logged=self._unknown_logged)
        except HandshakeRefused as exc:
            return _Outcome(classify(http_status=exc.status,
                                     authenticated=identity.authenticated),
                            f"handshake refused: HTTP {exc.status}", http_status=exc.status,
                            error=exc)
        except (ConnectionClosed, AuthError, ConfigError) as exc:
            self._client.discovery.invalidate()
            return _Outcome(classify(error=exc), str(exc), error=exc)
        with self._changed:
            self._conn = conn
            self._subscribing = {}
            self._reached = False
            self._conversations_subscribed = False
            self._abort_recovery = None
            stopping = self._stop.is_set()
        if stopping:
            conn.close(1000, "client closed")
        self._client.count("connects")
        try:
            if header_auth:
                self._subscribe_conversations(conn)
            else:
                init = InitConnection(jwt=identity.token,
                                      client_properties=self._options.client_properties)
                conn.request(init).add_done_callback(partial(self._init_answered, conn))
        except ConnectionClosed:
            pass  # the read loop below returns at once and reports how the socket ended
        closed = conn.run(self._on_inbound, self._on_malformed)
        with self._changed:
            self._conn = None
            self._connected = False
            reached = self._reached
            planned = self._planned_recovery()
            add_connection(self._totals, conn)
            self._changed.notify_all()
        self._client.count("disconnects")
        if planned is not None:
            return _Outcome(planned[0], planned[1], reached=reached, code=closed.code)
        if closed.code is not None:
            recovery = classify(close_code=closed.code, authenticated=identity.authenticated)
            reason = f"closed by server: {closed.code} {closed.reason}".rstrip()
            return _Outcome(recovery, reason, reached=reached, code=closed.code)
        return _Outcome(classify(error=closed.error), f"connection lost: {closed.error}",
                        reached=reached, error=closed.error)

    def _set_opening(self, ws: websocket.WebSocket | None) -> None:
        with self._lock:
            self._opening = ws
            stopping = self._stop.is_set()
        if ws is not None and stopping:
            interrupt(ws)

    def _planned_recovery(self) -> tuple[Recovery | str, str] | None:
        return self._abort_recovery

    def _abort(self, conn: Connection, recovery: Recovery | str, reason: str,
               *, graceful: bool = False) -> None:
        with self._lock:
            if self._conn is not conn or self._abort_recovery is not None:
                return
            self._abort_recovery = (recovery, reason)
        log.info("re-opening the connection: %s", reason)
        if graceful:
            conn.close(1000, reason)
        else:
            conn.abort(reason)

    def _init_answered(self, conn: Connection, future: Reply[str]) -> None:
        if self._setup_failed(conn, future):
            return
        with contextlib.suppress(ConnectionClosed):  # the read loop reports the close
            self._subscribe_conversations(conn)

    def _subscribe_conversations(self, conn: Connection) -> None:
        with self._lock:
            assert self._session is not None  # noqa: S101 - adopted before connecting
            request = self._session.connected()
        conn.request(request).add_done_callback(partial(self._conversations_answered, conn))

    def _conversations_answered(self, conn: Connection, future: Reply[str]) -> None:
        if self._setup_failed(conn, future):
            return
        with self._lock:
            if self._session is not None:
                self._session.conversations_subscribed(future.result())
            self._conversations_subscribed = True

    def _setup_failed(self, conn: Connection, future: Reply[Any]) -> bool:
        error = future.exception()
        if error is None:
            return False
        if isinstance(error, RequestRejected):
            identity = self._identity
            authenticated = identity.authenticated if identity is not None else True
            recovery = classify(http_status=error.code, authenticated=authenticated)
            if recovery is Recovery.FATAL:
                recovery = Recovery.BACKOFF  # a refused setup request: retry, never give up
            self._abort(conn, recovery, f"{error.request_type} answered {error.code}")
        elif not isinstance(error, ConnectionClosed):
            self._abort(conn, Recovery.BACKOFF, f"connection setup failed: {error}")
        return True

    # --- the keepalive thread -----------------------------------------------------------

    def _keepalive(self) -> None:
        interval = self._options.keepalive_interval
        try:
            while not self._stop.wait(interval):
                with self._lock:
                    conn = self._conn if self._connected else None
                    identity = self._identity
                if conn is None or identity is None:
                    continue
                self._prune()
                previous = self._clock
                if previous is not None and not previous.done():
                    conn.forget(previous)
                    self._clock = None
                    self._abort(conn, Recovery.BACKOFF, "keepalive: GetClock unanswered")
                    continue
                conn.ping()
                try:
                    self._clock = conn.request(GetClock())
                except ConnectionClosed:
                    continue
                self._client.count("keepalives")
                if identity.authenticated and identity.refresh_due(self._options.refresh_ahead):
                    self._refresh_ahead(conn)
        except Exception:  # an internal thread that crashes is logged
            log.exception("keepalive thread crashed")

    def _prune(self) -> None:
        """Forget conversations closed for ``closed_retention`` (keepalive thread)."""
        with self._lock:
            session = self._session
            if session is None or not self._connected:
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
            except (ValueError, sqlite3.Error) as exc:  # closing; the rows are only clutter
                log.warning("could not delete the sequences of forgotten dialogs: %s", exc)

    def retained(self) -> tuple[int, int]:
        """Conversations and dialogs the session keeps in memory now."""
        with self._lock:
            return (0, 0) if self._session is None else self._session.retained()

    def _refresh_ahead(self, conn: Connection) -> None:
        try:
            self._adopt(self._client.identities.refresh())
        except (AuthError, ConnectionClosed, ConfigError) as exc:
            log.warning("token refresh ahead of expiry failed: %s", exc)
            return
        self._client.count("token_refreshes")
        self._abort(conn, _IMMEDIATE, "token refreshed ahead of expiry", graceful=True)

    # --- state reporting ----------------------------------------------------------------

    def _emit(self, state: ConnectionState, *, reason: str = "", code: int | None = None,
              http_status: int | None = None, delay: float | None = None, attempt: int = 0,
              recovery: str | None = None, error: BaseException | None = None) -> None:
        self._state = state
        change = StateChange(state=state, reason=reason, consumer_id=self.consumer_id,
                             code=code, http_status=http_status, delay=delay, attempt=attempt,
                             recovery=recovery, error=error)
        log.info("connection %s: %s", state.value, reason)
        callback = self._client.on_state
        if callback is not None:
            try:
                callback(change)
            except Exception:  # isolation boundary: user callback, counted
                self._client.count("callback_errors")
                log.exception("on_state failed")
