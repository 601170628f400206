"""One WebSocket session: handshake, the receive loop, request futures, close.

Built on websocket-client's ``WebSocket`` with our own receive loop rather than
``WebSocketApp.run_forever``, because lpbot owns reconnecting (house style §3.11) and that loop
gives what the client needs directly: the handshake's HTTP status as an exception
(``WebSocketBadStatusException.status_code``), the close code from the close frame, no unnamed
ping thread (``run_forever(ping_interval=...)`` starts one), and no callback indirection per
frame on the hot path. The loop runs on the caller's thread (the client's named reader thread).
websocket-client connects (handshake, TLS) and sends every frame; incoming frames are cut by
:class:`~lpbot.client.frames.FrameReader`, many per socket read (its docstring says why).

Requests are correlated by ``reqId`` alone (protocol notes §4.4) through
:class:`~lpbot.client.reply.Reply`; a response is parsed by its request (``parse_response``), so
a rejection arrives as :class:`~lpbot.errors.RequestRejected` carrying the request. When the
socket ends, every pending future fails with :class:`~lpbot.errors.ConnectionClosed`.

Closing from another thread sends the close frame on the socket (``send_close``) and lets the
reader receive the peer's reply; if the peer does not answer in time the socket is shut down,
which wakes the blocked ``recv``. (``WebSocketApp.close()`` from another thread can leave
``run_forever`` blocked for seconds.)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import websocket

from lpbot.client.discovery import untrusted_certificate
from lpbot.client.frames import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, FrameError, FrameReader
from lpbot.client.nowait import Sent, send_nowait
from lpbot.client.reply import Reply
from lpbot.client.tls import tls_context
from lpbot.client.upgrade import HandshakeRefused, upgrade
from lpbot.errors import ConnectionClosed, ProtocolError
from lpbot.protocol.codec import Decoder, Inbound, encode
from lpbot.protocol.envelope import Request, Response

__all__ = ["REFUSED_CODES", "Closed", "Connection", "HandshakeRefused", "SendFailed",
           "handshake_headers", "interrupt"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: seconds :meth:`Connection.close` waits for a message being sent to finish before its frame
CLOSE_LOCK_WAIT = 0.5
#: seconds the reader waits for a message being sent to finish before a pong or a close answer
CONTROL_LOCK_WAIT = 0.2

@dataclass(frozen=True, slots=True, kw_only=True)
class Closed:
    """How a socket ended: the peer's close code (if any), our own reason, or the error."""

    code: int | None = None
    reason: str = ""
    error: BaseException | None = None
    by_us: bool = False


class SendFailed(ConnectionClosed):
    """The socket failed while a request was being sent (part of it may have gone)."""


#: close codes by which a server refuses what it was sent (RFC 6455 §7.4.1): sending the same
#: request again on a new socket would only be refused again
REFUSED_CODES = frozenset({1002, 1003, 1007, 1009})


class Connection:
    """A connected consumer socket; :meth:`run` reads it until it closes.

    Example:
        >>> conn = Connection.open(url, headers=["Authorization: jwt ..."])  # doctest: +SKIP
        >>> future = conn.request(GetClock())                                   # doctest: +SKIP
    """

    def __init__(self, ws: websocket.WebSocket, *, url: str,
                 unknown_logged: set[str] | None = None, ahead: bytes = b"") -> None:
        self.url = url
        self._ws = ws
        self._ahead = ahead  # bytes the handshake read past its answer: the first to read
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[Any, Reply[Any]]] = {}
        self._lock = threading.Lock()
        self._closing: str | None = None
        self._closed = threading.Event()
        self._aborted = False  # abort() was called: read nothing more
        #: how the socket ended, once :meth:`run` returned
        self.ended: Closed | None = None
        self.decoder = Decoder(unknown_logged)
        #: frames that could not be decoded (not JSON, not an object, unusable fields)
        self.malformed = 0
        #: messages received (text and binary)
        self.frames = 0

    @classmethod
    def open(
        cls,
        url: str,
        *,
        headers: Sequence[str] = (),
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        opening: Callable[[websocket.WebSocket | None], None] | None = None,
        unknown_logged: set[str] | None = None,
    ) -> Connection:
        """Connect and complete the handshake within ``timeout`` seconds.

        ``opening(ws)`` is called with the socket before the handshake and ``opening(None)``
        after it, so that a closing client can cut a handshake in progress
        (:func:`interrupt`). ``unknown_logged`` is shared by a client's sockets so that each
        unknown notification or event type is logged once (:class:`Decoder`).

        Raises:
            HandshakeRefused: the server answered the upgrade with an HTTP error status.
            CertificateError: the server's TLS certificate was not trusted.
            ConnectionClosed: the network failed or the handshake timed out.
        """
        # UTF-8 is validated by bytes.decode() in the loop below (strict), which is faster
        # than websocket-client's validator and rejects the same frames.
        # TLS options go to the constructor: WebSocket.connect() ignores an ``sslopt`` keyword.
        context = ssl_context or tls_context() if url.startswith("wss:") else None
        sslopt = {"context": context} if context is not None else None
        ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True,
                                 sslopt=sslopt)
        if opening is not None:
            opening(ws)
        try:
            ahead = upgrade(ws, url, headers=list(headers), timeout=timeout,
                            ssl_context=context)
            if ahead is None:  # through a proxy: websocket-client's own way
                ws.connect(url, header=list(headers), timeout=timeout,  # type: ignore[no-untyped-call]
                           suppress_origin=True)
                if ws.sock is not None:  # upgrade() sets it on its own sockets
                    ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                ahead = b""
        except ConnectionClosed:
            ws.shutdown()  # type: ignore[no-untyped-call]
            raise
        except websocket.WebSocketBadStatusException as exc:
            ws.shutdown()  # type: ignore[no-untyped-call]
            raise HandshakeRefused(exc.status_code) from exc
        except (OSError, websocket.WebSocketException) as exc:
            ws.shutdown()  # type: ignore[no-untyped-call]
            untrusted = untrusted_certificate(exc, url, service="the messaging socket")
            if untrusted is not None:
                raise untrusted from exc
            raise ConnectionClosed(f"cannot connect: {exc}") from exc
        finally:
            if opening is not None:
                opening(None)
        ws.settimeout(None)  # the reader blocks; close() and abort() wake it
        return cls(ws, url=url, unknown_logged=unknown_logged, ahead=ahead)

    # --- requests -----------------------------------------------------------------------

    def request(self, request: Request[_T]) -> Reply[_T]:
        """Send ``request``; the future resolves with its parsed success value.

        Thread-safe. Raises ConnectionClosed at once when the socket is already gone.
        """
        req_id, text, future = self._register(request)
        try:
            self._ws.send(text)
        except (OSError, websocket.WebSocketException) as exc:
            with self._lock:
                self._pending.pop(req_id, None)
            raise SendFailed(f"cannot send {request.type_name}: {exc}") from exc
        return future

    def _register(self, request: Request[_T]) -> tuple[str, str, Reply[_T]]:
        """Encode ``request`` with a new ``reqId``; its future is pending until answered."""
        future: Reply[_T] = Reply()
        req_id = str(next(self._ids))
        text = encode(request, req_id)
        with self._lock:
            if self._closing is not None or self._closed.is_set():
                raise ConnectionClosed(f"cannot send {request.type_name}: connection closing")
            self._pending[req_id] = (request, future)
        return req_id, text, future

    def keepalive(self, request: Request[_T]) -> tuple[Sent, Reply[_T] | None]:
        """Ping, then send ``request``, each only if the socket takes it at once.

        For the one keepalive thread of the process, which must never wait on a socket
        (:func:`~lpbot.client.nowait.send_nowait`). Returns how the sends went, and the
        request's future once both were sent.

        Raises:
            ConnectionClosed: the socket is closing or closed, or a send failed.
        """
        sent = send_nowait(self._ws, b"", websocket.ABNF.OPCODE_PING)
        if sent is not Sent.SENT:
            return sent, None
        return self.request_nowait(request)

    def request_nowait(self, request: Request[_T]) -> tuple[Sent, Reply[_T] | None]:
        """Send ``request`` only if the socket takes it at once; its future if it went.

        Raises:
            ConnectionClosed: the socket is closing or closed, or the send failed.
        """
        req_id, text, future = self._register(request)
        sent = Sent.STALLED  # until the send says otherwise (or raises)
        try:
            sent = send_nowait(self._ws, text)
        finally:
            if sent is not Sent.SENT:  # not sent, or it raised
                with self._lock:
                    self._pending.pop(req_id, None)
        return sent, future if sent is Sent.SENT else None

    def forget(self, future: Reply[Any]) -> None:
        """Drop a pending request (after its caller timed out) so a late answer is ignored."""
        with self._lock:
            for req_id, (_, pending) in list(self._pending.items()):
                if pending is future:
                    del self._pending[req_id]
                    return

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the socket (the process's one for its CA file); None over TCP."""
        sock = self._ws.sock
        return sock.context if isinstance(sock, ssl.SSLSocket) else None

    @property
    def pending(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    def ping(self) -> None:
        """Send a WebSocket ping (protocol notes §3.4: pings count as activity)."""
        try:
            self._ws.ping()
        except (OSError, websocket.WebSocketException) as exc:
            log.debug("ping failed: %s", exc)

    # --- the receive loop -----------------------------------------------------------------

    def run(self, on_inbound: Callable[[Inbound], None],
            on_malformed: Callable[[ProtocolError], None],
            on_read: Callable[[], None] | None = None) -> Closed:
        """Read frames until the socket closes; call ``on_inbound`` for each notification.

        Responses resolve their futures here; everything else goes to ``on_inbound``; pings
        are answered. ``on_read`` is called after each socket read's frames were handled,
        before the next blocking read (the caller flushes work it batched). Runs on the
        reader thread and returns how the socket ended.
        """
        sock = self._ws.sock
        if sock is None:
            ended = Closed(error=ConnectionClosed("socket ended"))
            self._finish(ended)
            return ended
        recv = sock.recv if not self._ahead else _after(self._ahead, sock.recv)
        self._ahead = b""
        read = FrameReader(recv).read
        decode = self.decoder.decode
        pending = self._pending
        closed: Closed | None = None
        try:
            while closed is None:
                for opcode, payload in read():
                    if opcode in (OP_TEXT, OP_BINARY):
                        self.frames += 1
                        try:
                            inbound = decode(payload.decode("utf-8"))
                        except (ProtocolError, UnicodeDecodeError) as exc:
                            self.malformed += 1
                            on_malformed(exc if isinstance(exc, ProtocolError) else
                                         ProtocolError(f"frame is not UTF-8: {exc}", raw=payload))
                            continue
                        if type(inbound) is Response:
                            with self._lock:
                                entry = pending.pop(inbound.req_id, None)
                            if entry is None:
                                log.debug("response to unknown reqId %r ignored",
                                          inbound.req_id)
                            else:
                                _resolve(entry[0], entry[1], inbound)
                        else:
                            on_inbound(inbound)
                    elif opcode == OP_PING:
                        self._send_control(websocket.ABNF.OPCODE_PONG, payload)
                    elif opcode == OP_CLOSE:
                        closed = _close_info(payload, self._closing)
                        if self._closing is None:  # answer the peer's close (RFC 6455 §5.5.1)
                            self._send_control(websocket.ABNF.OPCODE_CLOSE,
                                               struct.pack("!H", _answer_code(closed.code)))
                        break
                if on_read is not None:
                    on_read()
                if self._aborted and closed is None:  # bytes still queued are not read
                    closed = Closed(error=ConnectionClosed("socket aborted"),
                                    reason=self._closing or "", by_us=True)
        except FrameError as exc:
            if self._aborted or self._closing is not None:  # our close is under way already
                closed = Closed(error=exc, reason=self._closing or "", by_us=True)
            else:
                self.malformed += 1
                on_malformed(exc)
                self._send_control(websocket.ABNF.OPCODE_CLOSE, struct.pack("!H", 1002))
                closed = Closed(error=exc, reason=f"protocol error: {exc}", by_us=True)
        except EOFError:
            closed = Closed(error=ConnectionClosed("the peer closed the stream"),
                            reason=self._closing or "", by_us=self._closing is not None)
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            # ValueError: a TLS socket shut down under a blocked read (ssl raises it then)
            closed = Closed(error=exc, reason=self._closing or "", by_us=self._closing is not None)
        finally:
            self._finish(closed or Closed(error=ConnectionClosed("socket ended")))
        return closed

    def _send_control(self, opcode: int, payload: bytes) -> None:
        """Send a pong or close frame from the reader, only if it can go soon.

        The reader must not wait long on the send lock: a thread blocked sending a large
        message to a server that stopped reading holds it until the socket ends, and only the
        reader can end it. It waits :data:`CONTROL_LOCK_WAIT` for a sender to finish; a frame
        that still cannot go is skipped (the next ping is answered; a close ends the socket
        anyway). A failure ends the loop by itself.
        """
        try:
            sent = send_nowait(self._ws, payload, opcode, lock_wait=CONTROL_LOCK_WAIT)
        except ConnectionClosed as exc:
            log.debug("control frame not sent: %s", exc)
            return
        if sent is not Sent.SENT:
            log.debug("control frame %#x not sent: the socket is %s", opcode, sent)

    def _finish(self, closed: Closed) -> None:
        self.ended = closed
        with self._lock:
            self._closed.set()
            pending, self._pending = self._pending, {}
        error = ConnectionClosed("connection closed", code=closed.code, reason=closed.reason)
        for request, future in pending.values():
            if not future.done():
                future.set_exception(error)
            del request
        sock = self._ws.sock
        if sock is not None:  # wakes a thread blocked sending (closing the descriptor does not)
            _shut_transport(sock)
        self._ws.shutdown()  # type: ignore[no-untyped-call]

    # --- closing ------------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "closed by client") -> None:
        """Send the close frame on the socket; the reader ends when the peer answers.

        Safe from any thread, idempotent, and never blocked by the peer: a sender still busy
        after :data:`CLOSE_LOCK_WAIT` seconds, or a socket that cannot take the frame at once
        (the peer stopped reading), is shut down instead (:meth:`abort`). Call :meth:`abort`
        if the reader must end now.
        """
        with self._lock:
            if self._closing is not None or self._closed.is_set():
                return
            self._closing = reason
        payload = struct.pack("!H", code) + reason.encode("utf-8")[:120]
        try:
            sent = send_nowait(self._ws, payload, websocket.ABNF.OPCODE_CLOSE,
                               lock_wait=CLOSE_LOCK_WAIT)
        except ConnectionClosed as exc:
            log.debug("close frame not sent: %s", exc)
            sent = Sent.STALLED
        if sent is not Sent.SENT:
            log.debug("close frame not sent (%s): shutting the socket down", sent)
            self.abort()

    def abort(self, reason: str | None = None) -> None:
        """Shut the socket down now: a blocked ``recv`` returns and :meth:`run` ends."""
        with self._lock:
            if self._closing is None and reason is not None:
                self._closing = reason
        self._aborted = True
        sock = self._ws.sock
        if sock is not None:
            _shut_transport(sock)

    @property
    def closing_reason(self) -> str | None:
        """Why we are closing this socket, if we are."""
        return self._closing

    def wait_closed(self, timeout: float) -> bool:
        """Wait until :meth:`run` finished; True when it did."""
        return self._closed.wait(timeout)


def _after(first: bytes, recv: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """``recv``, whose first call returns ``first`` (bytes read already) instead."""
    pending = [first]

    def read(size: int) -> bytes:
        return pending.pop() if pending else recv(size)

    return read


def interrupt(ws: websocket.WebSocket) -> None:
    """Cut a socket whose handshake is in progress (its ``connect`` then fails at once)."""
    sock = ws.sock
    if sock is not None:
        _shut_transport(sock)


def _shut_transport(sock: socket.socket) -> None:
    """Shut down the TCP connection under ``sock`` without unwrapping its TLS layer.

    ``SSLSocket.shutdown`` drops the TLS state first; a reader blocked in ``recv`` may then
    fail with ValueError or read raw TLS records as if they were frames.
    """
    with contextlib.suppress(OSError):  # already closed
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except TypeError:  # not a socket.socket (a wrapper of another kind)
            sock.shutdown(socket.SHUT_RDWR)


def _resolve(request: Any, future: Reply[Any], response: Response) -> None:
    if future.done():  # cancelled by a caller that gave up
        return
    try:
        value = request.parse_response(response)
    except Exception as exc:  # noqa: BLE001 - RequestRejected / ProtocolError go to the caller
        future.set_exception(exc)
    else:
        future.set_result(value)


def _answer_code(code: int | None) -> int:
    """The status code to answer a peer's close with.

    The peer's own when a close frame may carry it (RFC 6455 §7.4), else 1000.
    """
    if code is not None and (1000 <= code <= 1003 or 1007 <= code <= 1014
                             or 3000 <= code <= 4999):
        return code
    return 1000


def _close_info(payload: bytes, closing: str | None) -> Closed:
    """How the peer's close frame ended the socket; 1005 when it carried no code."""
    if len(payload) >= 2:
        code = struct.unpack("!H", payload[:2])[0]
        return Closed(code=code, reason=payload[2:].decode("utf-8", "replace"),
                      by_us=closing is not None)
    return Closed(code=1005, reason="", by_us=closing is not None)


def handshake_headers(token: str | None, client_properties: str | None) -> list[str]:
    """Handshake headers (protocol notes §3.2): ``Authorization: jwt <token>``, Client-Properties.

    ``client_properties`` is the already encoded JSON header value.
    """
    headers: list[str] = []
    if token is not None:
        headers.append(f"Authorization: jwt {token}")  # §3.2: lowercase "jwt", one space
    if client_properties is not None:
        headers.append(f"Client-Properties: {client_properties}")
    return headers
