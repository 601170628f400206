"""The reader thread: connect, read, classify, recover, reconnect; and the client's threads.

Owned by :class:`~lpbot.client.Client`. A :class:`Supervisor` composes three parts, each with a
narrow interface:

* :class:`~lpbot.client.link.Link`: the shared connection state (socket, session, identity);
* :class:`~lpbot.client.streams.Streams`: what to do with each inbound frame (hot path);
* :class:`~lpbot.client.keepalive.Keepalive`: the client's keepalive ticks.

It starts ``lpbot-reader-<consumer>`` (:meth:`Supervisor.run`, here) and joins it in
:meth:`Supervisor.stop`; its keepalive ticks run on the process's one ``lpbot-keepalive``
thread (:data:`~lpbot.client.keepalive.HEARTBEAT`), from connect until stop. The reconnect loop is
lpbot's own (house style §3.11): every socket end is classified by
:func:`~lpbot.client.session.classify` (protocol notes §3.5), the identity is refreshed or renewed
when the close code says so, and the next attempt waits the
:class:`~lpbot.client.backoff.Backoff` delay through the client's stop event. Only an attempt
that follows a healthy connection after an auth close reconnects at once; every other retry
waits, so there is never a tight loop. What it needs from the client is the
:class:`Services` protocol.

A failure retrying cannot cure (an :class:`~lpbot.errors.IdentityRefused` while refreshing or
renewing the identity, an untrusted certificate, a handshake refused with a 4xx) ends the reader
in ``FAILED``: after start-up it is logged as one ERROR line naming the consumer and the cause,
and kept as :attr:`Supervisor.failure`; during start-up :meth:`Supervisor.start` raises it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import websocket

from lpbot.client.connection import Connection, HandshakeRefused, handshake_headers, interrupt
from lpbot.client.keepalive import HEARTBEAT, IMMEDIATE, Housekeeping, Keepalive
from lpbot.client.link import Link
from lpbot.client.options import ConnectionState, StateChange
from lpbot.client.reply import Reply
from lpbot.client.session import Recovery, classify
from lpbot.client.streams import Delivery, Streams
from lpbot.errors import (
    AuthError,
    CertificateError,
    ConfigError,
    ConnectionClosed,
    IdentityRefused,
    RequestRejected,
)
from lpbot.protocol.codec import encode_client_properties
from lpbot.protocol.names import Services as ServiceNames
from lpbot.protocol.requests import InitConnection, UnsubscribeExConversations

if TYPE_CHECKING:
    import random
    import ssl

    from lpbot.client.discovery import Discovery
    from lpbot.client.identity import Identity, IdentityManager
    from lpbot.client.options import ClientOptions

__all__ = ["Services", "Supervisor"]

log = logging.getLogger(__name__)


class Services(Delivery, Housekeeping, Protocol):
    """What the :class:`Supervisor` needs from the client, besides what its parts need."""

    @property
    def options(self) -> ClientOptions:
        """The client's options."""

    @property
    def identities(self) -> IdentityManager:
        """Obtains, refreshes and renews the consumer's identity."""

    @property
    def discovery(self) -> Discovery:
        """Where the messaging service is (CSDS)."""

    @property
    def on_state(self) -> Callable[[StateChange], None] | None:
        """Called with each connection state change."""

    def wait(self, delay: float) -> bool:
        """Wait ``delay`` seconds unless the client closes first (True: it closed)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """How one attempt ended, and what to do about it."""

    recovery: Recovery | str
    reason: str
    reached: bool = False
    code: int | None = None
    http_status: int | None = None
    error: BaseException | None = None


class Supervisor:
    """Keeps one consumer connected; owns the reader thread and the keepalive ticks.

    Args:
        client: The client's services (identity, discovery, store, callbacks, counters).
        link: The connection state shared with the parts and with the client's callers.
        ssl_context: For ``wss://``; None without TLS.
        rng: Randomness for the backoff's jitter.
    """

    def __init__(self, client: Services, link: Link, *, ssl_context: ssl.SSLContext | None,
                 rng: random.Random) -> None:
        self._client = client
        self._link = link
        self._options = client.options
        self._rng = rng
        self._ssl_context = ssl_context
        self.streams = Streams(link, client, auto_commit=self._options.auto_commit,
                               on_ready=self._ready_now)
        self._keepalive = Keepalive(link, client, self._options, refresh=self._refresh)
        self._ready = threading.Event()
        self._fatal: BaseException | None = None
        self._fatal_lock = threading.Lock()
        self._started = False  # start() returned: a failure is reported here, not raised
        self._refusal: IdentityRefused | None = None  # a refresh ahead of expiry was refused
        self._threads: list[threading.Thread] = []
        self._opening: websocket.WebSocket | None = None
        self._unknown_logged: set[str] = set()  # unknown types logged by any socket's decoder
        props = self._options.client_properties
        self._props_header = encode_client_properties(props) if props is not None else None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float) -> None:
        """Obtain the identity, start the reader and the ticks, return once connected (or raise).

        Called again while running, it only waits for the connection.
        """
        if self._threads:
            self._link.wait_connected(timeout)
            return
        try:
            identity = self._client.identities.current()
        except IdentityRefused:
            self._client.count("identity_refusals")
            raise
        self._adopt(identity)
        name = identity.consumer_id
        self._threads = [
            threading.Thread(target=self.run, name=f"lpbot-reader-{name}", daemon=True)]
        for thread in self._threads:
            thread.start()
        HEARTBEAT.add(self._keepalive)  # the process's one keepalive thread ticks it
        if not self._ready.wait(timeout):
            raise ConnectionClosed(f"not connected within {timeout:g} s")
        with self._fatal_lock:
            if self._fatal is not None:
                raise self._fatal
            if self._link.stop.is_set():
                raise ConnectionClosed("client closed while connecting")
            self._started = True

    @property
    def failure(self) -> BaseException | None:
        """Why the reader gave up (``FAILED``), or None while it runs or retries."""
        return self._fatal

    def stop(self, timeout: float) -> None:
        """End the conversation stream, close the socket, end the ticks, join the reader.

        All of it within ``timeout``: the unsubscribe's answer is awaited for a third of it at
        most (:meth:`_unsubscribe`), the close frame's answer for most of the rest.
        """
        link = self._link
        deadline = time.monotonic() + timeout
        with link.changed:
            conn = link.conn
            opening = self._opening
            session = link.session
            subscription = (session.subscription_id
                            if session is not None and link.conversations_subscribed else None)
            link.changed.notify_all()
        if conn is not None:
            if subscription is not None:
                self._unsubscribe(conn, subscription, timeout / 3)
            conn.close(1000, "client closed")
        if opening is not None:
            interrupt(opening)
        HEARTBEAT.remove(self._keepalive, max(0.0, deadline - time.monotonic()))
        self._keepalive.join(max(0.0, deadline - time.monotonic()))
        current = threading.current_thread()
        for thread in self._threads:
            if thread is current or thread.ident is None:
                continue  # not started: start() was interrupted (a gevent kill in Locust)
            # Give the peer most of the budget to answer the close frame, then cut the socket.
            thread.join(max(0.0, (deadline - time.monotonic()) * 0.6))
            if thread.is_alive() and conn is not None:
                conn.abort()
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s did not stop within %.1f s", thread.name, timeout)
        self._emit(ConnectionState.CLOSED, reason="closed by client")

    def _unsubscribe(self, conn: Connection, subscription_id: str, budget: float) -> None:
        """Send ``cqm.UnsubscribeExConversations`` (protocol notes §5.6) and await it briefly.

        The server would drop the subscription with the socket anyway; ending it first tells
        it plainly that no more changes are wanted, and nothing arrives between the two. The
        answer is awaited for ``budget`` seconds at most, and not at all on the reader thread
        (a callback that closes the client), which is the one that reads it.
        """
        try:  # never waits on the socket: a peer that stopped reading must not delay close
            sent, reply = conn.request_nowait(
                UnsubscribeExConversations(subscription_id=subscription_id))
        except ConnectionClosed:
            return  # the socket is gone already, and the subscription with it
        if reply is None:
            log.debug("UnsubscribeExConversations not sent (%s); closing", sent)
            return
        if threading.current_thread() in self._threads:
            return
        if not reply.wait(budget):
            conn.forget(reply)
            log.debug("UnsubscribeExConversations unanswered after %.2g s; closing", budget)
        elif reply.exception() is not None:
            log.debug("UnsubscribeExConversations failed: %s", reply.exception())

    # --- identities ---------------------------------------------------------------------

    def _adopt(self, identity: Identity) -> bool:
        """Use ``identity``; True when it is another consumer (its threads are renamed)."""
        if self._link.adopt(identity, self._committed, auto_follow=self._options.auto_follow):
            for thread in self._threads:  # a renewed identity is a new consumer
                role = thread.name.split("-")[1]
                thread.name = f"lpbot-{role}-{identity.consumer_id}"
            return True
        return False

    def _committed(self, consumer_id: str) -> dict[str, int]:
        store = self._client.store
        return store.sequences(consumer_id) if store is not None else {}

    def _refresh(self) -> None:
        """Refresh ahead of expiry (keepalive); a final refusal ends the socket for good."""
        try:
            identity = self._client.identities.refresh()
        except IdentityRefused as exc:
            self._refusal = exc
            conn = self._link.conn
            if conn is not None:
                self._link.abort(conn, Recovery.FATAL, str(exc))
            raise
        self._adopt(identity)

    def _renewed(self, identity: Identity) -> None:
        """Adopt what a refresh or renewal gave; a new token of the same consumer is counted.

        A changed consumer is counted (``identity_renewals``) by the identity manager, which
        logs it; a signup identity kept as it was (a 1008) counts as neither.
        """
        previous = self._link.identity
        if not self._adopt(identity) and previous is not None and previous.token != identity.token:
            self._client.count("token_refreshes")

    # --- the reader thread --------------------------------------------------------------

    def run(self) -> None:
        """Connect, read until the socket ends, recover, and again, until the client closes."""
        failures = 0
        backoff = self._options.backoff
        stop = self._link.stop
        try:
            while not stop.is_set():
                outcome = self._attempt()
                if stop.is_set():
                    break
                if outcome.reached:
                    failures = 0
                # a refresh ahead of expiry refused for good (keepalive) ends it whatever happened
                recovery = Recovery.FATAL if self._refusal is not None else outcome.recovery
                self._emit(ConnectionState.DISCONNECTED, reason=outcome.reason,
                           code=outcome.code, http_status=outcome.http_status,
                           recovery=str(recovery), error=outcome.error)
                if recovery == IMMEDIATE:
                    continue
                if recovery is Recovery.FATAL:
                    self._fail(self._refusal or outcome.error or ConnectionClosed(outcome.reason))
                    return
                try:
                    if recovery is Recovery.REFRESH_TOKEN:
                        self._renewed(self._client.identities.refresh())
                    elif recovery is Recovery.RENEW_IDENTITY:
                        self._renewed(self._client.identities.renew())
                except (ConfigError, CertificateError, IdentityRefused) as exc:
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
            with self._link.changed:
                self._link.connected = False
                self._link.changed.notify_all()
            self._ready.set()

    def _fail(self, error: BaseException) -> None:
        """Give up: ``FAILED``; after start-up, one ERROR line (start() raises it before)."""
        if isinstance(error, IdentityRefused):
            self._client.count("identity_refusals")
        with self._fatal_lock:
            self._fatal = error
            report = self._started
        if report:
            log.error("consumer %s (%s) stopped, it will not reconnect: %s",
                      self._link.consumer_id, self._options.identity_name, error)
        self._emit(ConnectionState.FAILED, reason=str(error), error=error)
        self._ready.set()

    def _ready_now(self) -> None:
        """The socket finished its setup (called by Streams on the reader thread)."""
        self._emit(ConnectionState.CONNECTED, reason="subscribed and resumed")
        self._ready.set()

    def _attempt(self) -> _Outcome:
        """Open one socket, set it up, read it until it ends; say how it ended."""
        link = self._link
        identity = link.identity
        assert identity is not None  # noqa: S101 - start() adopted one
        self._emit(ConnectionState.CONNECTING, reason="opening the socket")
        header_auth = self._options.auth_mode == "header"
        try:
            path = f"/ws_api/account/{self._options.account}/messaging/consumer?v=3"
            url = self._client.discovery.url(ServiceNames.MESSAGING, path, websocket=True)
            conn = Connection.open(
                url, headers=handshake_headers(identity.token if header_auth else None,
                                               self._props_header),
                timeout=self._options.connect_timeout, ssl_context=self._ssl_context,
                opening=self._set_opening, unknown_logged=self._unknown_logged)
        except HandshakeRefused as exc:
            return _Outcome(classify(http_status=exc.status,
                                     authenticated=identity.refreshable),
                            f"handshake refused: HTTP {exc.status}", http_status=exc.status,
                            error=exc)
        except (ConnectionClosed, AuthError, ConfigError) as exc:
            self._client.discovery.invalidate()
            return _Outcome(classify(error=exc), str(exc), error=exc)
        if link.attach(conn):
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
        closed = conn.run(self.streams.on_inbound, self.streams.on_malformed)
        reached, planned = link.detach(conn)
        self._client.count("disconnects")
        if planned is not None:
            return _Outcome(planned[0], planned[1], reached=reached, code=closed.code)
        if closed.code is not None:
            recovery = classify(close_code=closed.code, authenticated=identity.refreshable)
            reason = f"closed by server: {closed.code} {closed.reason}".rstrip()
            return _Outcome(recovery, reason, reached=reached, code=closed.code)
        return _Outcome(classify(error=closed.error), f"connection lost: {closed.error}",
                        reached=reached, error=closed.error)

    def _set_opening(self, ws: websocket.WebSocket | None) -> None:
        with self._link.lock:
            self._opening = ws
            stopping = self._link.stop.is_set()
        if ws is not None and stopping:
            interrupt(ws)

    # --- connection setup (request callbacks) -------------------------------------------

    def _init_answered(self, conn: Connection, future: Reply[str]) -> None:
        if self._setup_failed(conn, future):
            return
        with contextlib.suppress(ConnectionClosed):  # the read loop reports the close
            self._subscribe_conversations(conn)

    def _subscribe_conversations(self, conn: Connection) -> None:
        link = self._link
        with link.lock:
            assert link.session is not None  # noqa: S101 - adopted before connecting
            request = link.session.connected()
        conn.request(request).add_done_callback(partial(self._conversations_answered, conn))

    def _conversations_answered(self, conn: Connection, future: Reply[str]) -> None:
        if self._setup_failed(conn, future):
            return
        link = self._link
        with link.lock:
            if link.session is not None:
                link.session.conversations_subscribed(future.result())
            link.conversations_subscribed = True

    def _setup_failed(self, conn: Connection, future: Reply[Any]) -> bool:
        error = future.exception()
        if error is None:
            return False
        if isinstance(error, RequestRejected):
            identity = self._link.identity
            authenticated = identity.refreshable if identity is not None else True
            recovery = classify(http_status=error.code, authenticated=authenticated)
            if recovery is Recovery.FATAL:
                recovery = Recovery.BACKOFF  # a refused setup request: retry, never give up
            self._link.abort(conn, recovery, f"{error.request_type} answered {error.code}")
        elif not isinstance(error, ConnectionClosed):
            self._link.abort(conn, Recovery.BACKOFF, f"connection setup failed: {error}")
        return True

    # --- state reporting ----------------------------------------------------------------

    def _emit(self, state: ConnectionState, *, reason: str = "", code: int | None = None,
              http_status: int | None = None, delay: float | None = None, attempt: int = 0,
              recovery: str | None = None, error: BaseException | None = None) -> None:
        self._link.state = state
        change = StateChange(state=state, reason=reason, consumer_id=self._link.consumer_id,
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
