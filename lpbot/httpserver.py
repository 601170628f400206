"""Bounded HTTP serving: the one server under every HTTP port lpbot opens.

The standard library's ``HTTPServer`` serves one client at a time (a slow client blocks every
other one, and ``shutdown()`` waits for it); ``ThreadingHTTPServer`` starts a thread per
connection without a cap and joins them all on close. :class:`BoundedHTTPServer` keeps what they
do well (the request parser of :class:`~http.server.BaseHTTPRequestHandler`) and bounds the rest:

- **Threads.** The accepting thread reads each request's head (request line and headers) with a
  selector, so idle and slow clients hold no thread. A complete head goes to a pool of at most
  ``workers`` named threads through a queue of ``backlog`` places; past ``max_connections`` open
  connections, or with a full queue, a client gets ``503`` at once and is closed.
- **Deadlines.** A request (line, headers and body) must arrive within ``request_timeout``
  seconds of the connection being accepted, however the client paces its bytes; a client that
  stops reading the response is dropped after ``write_timeout`` seconds per write.
- **Shutdown.** :meth:`BoundedHTTPServer.stop` closes the listener and every connection and joins
  the threads within its timeout: it never waits on a client.
- **Errors.** A client that hangs up or times out is counted and logged at DEBUG; a handler bug is
  logged at ERROR through :mod:`logging` (so JSON log lines and redaction apply), never printed.
- **TLS.** With an ``ssl_context``, a worker does each connection's handshake and reads its
  request, both within ``request_timeout``: an encrypted head cannot be read in the selector,
  so there a connection takes a thread from its first byte (still capped, still timed).
- **Keep-alive.** A handler class that speaks ``HTTP/1.1`` (``protocol_version``) keeps a
  connection open after a response that says so: the connection goes back to the selector,
  holding no thread, and waits there up to ``keep_alive`` seconds for its next request, which
  then has ``request_timeout`` like the first. Clients of a keep-alive server skip a TCP and a
  TLS handshake per request (the costly part of an HTTPS call). Handlers that speak
  ``HTTP/1.0`` (the default) close after each response, as before.

Standard library only, so the sandbox and the plugins can both use it.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import queue
import selectors
import socket
import ssl
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Final

__all__ = [
    "BoundedHTTPServer",
    "BoundedRequestHandler",
    "ServerLimits",
    "ServerStats",
    "header",
    "is_direct_host",
]

log = logging.getLogger(__name__)

#: the largest request head (request line and headers) read; past it: 431
MAX_HEAD: Final = 32 * 1024
_TOO_LARGE: Final = (
    b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
_BUSY: Final = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 12\r\nConnection: close\r\nRetry-After: 1\r\n\r\nserver busy\n"
)
#: exceptions that mean the client went away or was too slow: not a bug of ours
_CLIENT_GONE: Final = (ConnectionError, TimeoutError, BrokenPipeError, ssl.SSLError)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """How much one server may take on (every field is a hard bound)."""

    #: threads serving requests at once
    workers: int = 16
    #: connections with bytes to read, waiting for a worker
    backlog: int = 64
    #: open connections in all (idle, queued and being served); past it new ones get 503
    max_connections: int = 256
    #: seconds from accepting a connection to the last byte of its request body
    request_timeout: float = 10.0
    #: seconds one write of the response may take (a client that does not read is dropped)
    write_timeout: float = 10.0
    #: the largest request body read, in bytes (past it: 413 without reading it)
    max_body: int = 64 * 1024
    #: seconds a kept-alive connection may wait for its next request (HTTP/1.1 handlers only)
    keep_alive: float = 5.0


@dataclass(slots=True)
class ServerStats:
    """Counts of what a server refused or dropped (read them; the server counts with :meth:`add`).

    The accepting thread and the workers count at the same time: :meth:`add` takes a lock, so
    no count is lost whatever the interpreter's thread switching (a plain ``+= 1`` is a read and a
    write, and another thread may count in between).
    """

    accepted: int = 0
    #: answered 503 because the server was full
    refused_busy: int = 0
    #: dropped because the request did not arrive within ``request_timeout``
    timed_out: int = 0
    #: the client hung up or stopped reading mid-exchange
    client_errors: int = 0
    #: a handler raised (logged at ERROR)
    handler_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False,
                                  compare=False)

    def add(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``name`` (``"accepted"``, ``"timed_out"``...)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + count)


def is_direct_host(host_header: str | None, bound_host: str) -> bool:
    """True if a ``Host`` header names the server by address, not by a name others control.

    Accepted: an IP address, ``localhost`` or the host the server was bound to.

    Browsers send the name they resolved in ``Host``: a DNS-rebinding page reaching 127.0.0.1
    through ``evil.example`` still says ``Host: evil.example``, which this refuses.
    """
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if host in ("localhost", bound_host.lower()):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _DeadlineReader(io.RawIOBase):
    """Socket reads that fail with TimeoutError once the request's deadline has passed."""

    def __init__(self, sock: socket.socket, deadline: float, head: bytes) -> None:
        super().__init__()
        self._sock = sock
        self.deadline = deadline
        self._head = memoryview(head)  # what the acceptor read already
        #: set once the request is served: reads then take only bytes already received
        self.exhausted = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        if self.exhausted:
            return 0
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class _TimedWriter(io.BufferedIOBase):
    """Unbuffered socket writes, each bounded by ``timeout`` seconds."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__()
        self._sock = sock
        self._timeout = timeout

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.settimeout(self._timeout)
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


class BoundedRequestHandler(BaseHTTPRequestHandler):
    """A request handler whose reads keep the request deadline and whose writes time out.

    Subclasses implement ``do_GET`` and friends as usual; :meth:`read_body` reads a bounded body.
    Access lines go to the ``lpbot.httpserver`` logger at DEBUG.
    """

    server: BoundedHTTPServer

    def setup(self) -> None:
        """Wrap the socket in deadline-keeping reader and timed writer."""
        self.connection = self.request
        limits = self.server.limits
        deadline, head = self.server.current_request()
        self._reader = _DeadlineReader(self.connection, deadline, head)
        self._served = False
        self.rfile = io.BufferedReader(self._reader, 8192)
        self.wfile = _TimedWriter(self.connection, limits.write_timeout)

    def handle(self) -> None:
        """Serve one request; the server keeps the connection for the next (see finish)."""
        self.close_connection = True
        self.handle_one_request()
        self._served = True

    def finish(self) -> None:
        """Hand a kept-alive connection back to the server, with any bytes read ahead."""
        if self._served and not self.close_connection:
            self._reader.exhausted = True  # what is buffered already, without waiting
            ahead = bytearray()
            while chunk := self.rfile.read1(65536):
                ahead += chunk
            self.server.keep_connection(bytes(ahead))
        super().finish()

    def read_body(self, limit: int | None = None) -> bytes | None:
        """The request body (at most ``limit`` bytes, the server's ``max_body`` by default).

        Returns None after answering 400, 411 or 413 when the body is unusable or too large.
        """
        cap = self.server.limits.max_body if limit is None else limit
        if self.headers.get("Transfer-Encoding"):
            self.send_error(411, "send a Content-Length")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw) if raw.strip().isdigit() else -1
        except ValueError:  # pragma: no cover - isdigit() said digits
            length = -1
        if length < 0:
            self.send_error(400, "bad Content-Length")
            return None
        if length > cap:
            self.send_error(413, f"bodies are limited to {cap} bytes")
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionResetError("the client hung up inside the body")
        return body

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively (None when absent)."""
        return self.headers.get(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Access and error lines at DEBUG, never on stderr."""
        log.debug("%s %s: %s", self.server.name, self.client_address[0], format % args)


class BoundedHTTPServer(HTTPServer):
    """An HTTP server with bounded threads, request deadlines and a shutdown that never waits.

    See the module docstring. :meth:`start` serves on the thread ``name``.
    """

    request_queue_size = 256  # the listen() backlog: a burst of connects is not refused

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BoundedRequestHandler],
        *,
        name: str,
        limits: ServerLimits = ServerLimits(),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(address, handler)
        self.socket.setblocking(False)
        self.name = name
        self.limits = limits
        self.ssl_context = ssl_context
        self.stats = ServerStats()
        # unbounded as a Queue: _hand_over keeps it within backlog, stop() adds the sentinels
        self._queue: queue.Queue[tuple[socket.socket, Any, float, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        #: connections whose request head is not complete yet: address, deadline, bytes so far
        self._idle: dict[socket.socket, tuple[Any, float, bytearray]] = {}
        #: refused connections: their request is read and dropped until EOF or the deadline, so
        #: the client reads the 503 rather than a reset
        self._refused: dict[socket.socket, float] = {}
        self._selector: selectors.BaseSelector | None = None
        self._active: set[socket.socket] = set()  # queued or being served
        self._workers: list[threading.Thread] = []
        self._load = 0  # connections queued or being served (what the workers must cover)
        self._local = threading.local()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        #: kept-alive connections handed back by workers, for the acceptor to watch again
        self._returned: list[tuple[socket.socket, Any, bytes]] = []
        #: plain kept-alive connections waiting for the first byte of their next request
        self._kept: set[socket.socket] = set()
        #: TLS kept-alive connections waiting for their next request: address, deadline
        self._kept_tls: dict[socket.socket, tuple[Any, float]] = {}
        self._thread = threading.Thread(target=self._accept_loop, name=name, daemon=True)
        self._stopping = False

    @property
    def port(self) -> int:
        """The bound port (useful after binding port 0)."""
        return int(self.server_address[1])

    def start(self) -> None:
        """Serve on the thread ``name`` until :meth:`stop`."""
        self._thread.start()

    def current_request(self) -> tuple[float, bytes]:
        """The deadline and the head bytes already read of this thread's request."""
        request: tuple[float, bytes] | None = getattr(self._local, "request", None)
        return request or (time.monotonic() + self.limits.request_timeout, b"")

    def keep_connection(self, ahead: bytes) -> None:
        """Keep this thread's connection for another request; ``ahead``: bytes read of it."""
        self._local.keep = ahead

    @property
    def thread_count(self) -> int:
        """Threads this server runs now (the acceptor and its live workers)."""
        with self._lock:
            workers = sum(t.is_alive() for t in self._workers)
        return workers + (1 if self._thread.is_alive() else 0)

    def stop(self, timeout: float = 2.0) -> bool:
        """Close the listener and every connection, join every thread; True if all ended.

        Idempotent. Connections being served are shut down under their handler, which then ends
        at its next read or write; ``timeout`` bounds the whole call.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            first, self._stopping = not self._stopping, True
            workers = list(self._workers)
            active = list(self._active)
        if first:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.server_close()
        for conn in active:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._lock:
            returned, self._returned = self._returned, []
        for conn, _, _ in returned:
            self._close(conn)
        while True:  # connections still queued: close them unserved
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._close(item[0])
        for _ in workers:
            self._queue.put_nowait(None)
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = [t.name for t in [self._thread, *workers] if t.is_alive()]
        if left:
            log.warning("%s: %d thread(s) still busy after %g s", self.name, len(left), timeout)
        for sock in (self._wake_r, self._wake_w):
            sock.close()
        return not left

    # -- accepting (thread ``name``) ----------------------------------------------------------

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            try:
                # one wake-up byte may stand for both a returned connection and stop(): the
                # stop flag is read on every turn, not only when a byte is read for it
                while not self._stopping:
                    timeout = self._expire_idle(selector)
                    for key, _ in selector.select(timeout):
                        if key.fileobj is self._wake_r:  # stop(), or connections kept
                            self._watch_returned(selector)
                        elif key.fileobj is self.socket:
                            self._accept(selector)
                        elif key.fileobj in self._refused:
                            self._drain_refused(selector, key.fileobj)
                        elif key.fileobj in self._kept_tls:
                            self._next_tls_request(selector, key.fileobj)
                        else:
                            conn = key.fileobj
                            assert isinstance(conn, socket.socket)  # noqa: S101 - registered
                            self._read_head(selector, conn)
            finally:
                self._selector = None
                for conn in [*self._idle, *self._refused, *self._kept_tls]:
                    self._close(conn)
                self._idle.clear()
                self._refused.clear()
                self._kept.clear()
                self._kept_tls.clear()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        for _ in range(64):  # what is waiting now; then back to the selector
            try:
                conn, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors, for example: keep serving
                log.warning("%s: accept failed: %s", self.name, exc)
                return
            self.stats.add("accepted")
            with self._lock:
                open_now = len(self._idle) + len(self._active) + len(self._kept_tls)
                full = open_now >= self.limits.max_connections
            if full:
                self._refuse(conn)
                continue
            deadline = time.monotonic() + self.limits.request_timeout
            if self.ssl_context is not None:  # the handshake and the head: on a worker
                self._hand_over(conn, address, deadline, b"")
                continue
            conn.setblocking(False)
            self._idle[conn] = (address, deadline, bytearray())
            selector.register(conn, selectors.EVENT_READ)

    def _read_head(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        """Read what arrived; hand the connection to a worker once its head is complete."""
        address, deadline, head = self._idle[conn]
        data = _recv_now(conn)
        if data is None:
            return
        if data:
            if conn in self._kept:  # a kept connection's next request: its time starts now
                self._kept.discard(conn)
                deadline = time.monotonic() + self.limits.request_timeout
                self._idle[conn] = (address, deadline, head)
            head += data
            if not _head_complete(head) and len(head) <= MAX_HEAD:
                return
        selector.unregister(conn)
        del self._idle[conn]
        if not data:
            if conn in self._kept:  # the client closed a connection it no longer needs
                self._kept.discard(conn)
            else:
                self.stats.add("client_errors")
            self._close(conn)
        elif len(head) > MAX_HEAD and b"\r\n\r\n" not in head[:MAX_HEAD]:
            with contextlib.suppress(OSError):
                conn.send(_TOO_LARGE)
            self._close(conn)
        else:
            self._hand_over(conn, address, deadline, bytes(head))

    def _expire_idle(self, selector: selectors.BaseSelector) -> float | None:
        """Close connections that sent nothing in time; the seconds to the next deadline."""
        now = time.monotonic()
        for conn, (_, deadline, _) in list(self._idle.items()):
            if deadline <= now:
                selector.unregister(conn)
                del self._idle[conn]
                if conn in self._kept:  # no next request came: an idle close, not a fault
                    self._kept.discard(conn)
                else:
                    self.stats.add("timed_out")
                self._close(conn)
        for conn, (_, deadline) in list(self._kept_tls.items()):
            if deadline <= now:
                selector.unregister(conn)
                del self._kept_tls[conn]
                self._close(conn)
        for conn, deadline in list(self._refused.items()):
            if deadline <= now:
                selector.unregister(conn)
                del self._refused[conn]
                self._close(conn)
        deadlines = [d for _, d, _ in self._idle.values()] + list(self._refused.values())
        deadlines += [d for _, d in self._kept_tls.values()]
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _watch_returned(self, selector: selectors.BaseSelector) -> None:
        """Watch the connections workers kept alive until their next request arrives."""
        with contextlib.suppress(OSError):
            self._wake_r.recv(4096)
        with self._lock:
            returned, self._returned = self._returned, []
        now = time.monotonic()
        for conn, address, ahead in returned:
            if isinstance(conn, ssl.SSLSocket):
                if ahead or conn.pending():  # the next request is here already
                    self._hand_over(conn, address, now + self.limits.request_timeout, ahead)
                    continue
                self._kept_tls[conn] = (address, now + self.limits.keep_alive)
                selector.register(conn, selectors.EVENT_READ)
                continue
            if _head_complete(ahead):
                self._hand_over(conn, address, now + self.limits.request_timeout, ahead)
                continue
            conn.setblocking(False)
            if ahead:
                self._idle[conn] = (address, now + self.limits.request_timeout, bytearray(ahead))
            else:
                self._kept.add(conn)
                self._idle[conn] = (address, now + self.limits.keep_alive, bytearray())
            selector.register(conn, selectors.EVENT_READ)

    def _next_tls_request(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        """Bytes on a kept TLS connection: a worker reads its next request (or its close)."""
        selector.unregister(conn)
        address, _ = self._kept_tls.pop(conn)
        self._hand_over(conn, address, time.monotonic() + self.limits.request_timeout, b"")

    def _drain_refused(self, selector: selectors.BaseSelector, conn: socket.socket) -> None:
        if _recv_now(conn) == b"":
            selector.unregister(conn)
            del self._refused[conn]
            self._close(conn)

    def _hand_over(self, conn: socket.socket, address: Any, deadline: float, head: bytes) -> None:
        conn.setblocking(True)
        with self._lock:
            if self._stopping:
                self._close(conn)
                return
            full = self._queue.qsize() >= self.limits.backlog
            if not full:
                self._active.add(conn)
                self._load += 1
                self._queue.put_nowait((conn, address, deadline, head))
                self._workers = [t for t in self._workers if t.is_alive()]
                # a worker per connection queued or being served, up to the cap (workers end
                # only at stop, so this is the most connections served at once so far)
                if len(self._workers) < min(self.limits.workers, self._load):
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-worker", daemon=True
                    )
                    self._workers.append(thread)
                    thread.start()
        if full:
            self._refuse(conn)

    def _refuse(self, conn: socket.socket) -> None:
        """Answer 503 and close (after reading what the client sends, for at most a second)."""
        self.stats.add("refused_busy")
        conn.setblocking(False)
        try:
            conn.send(_BUSY)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        selector = self._selector
        if selector is None or threading.current_thread() is not self._thread or (
                len(self._refused) >= self.limits.max_connections):
            self._close(conn)
            return
        self._refused[conn] = time.monotonic() + 1.0
        selector.register(conn, selectors.EVENT_READ)

    @staticmethod
    def _close(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.close()

    # -- serving (worker threads) -------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            conn, address, deadline, head = item
            self._local.request = (deadline, head)
            self._local.keep = None
            try:
                if deadline <= time.monotonic():
                    self.stats.add("timed_out")
                else:
                    conn = self._secure(conn, deadline)
                    self.finish_request(conn, address)
            except Exception:  # noqa: BLE001 - isolation boundary: one request, logged below
                self.handle_error(conn, address)
            finally:
                ahead, self._local.keep, self._local.request = self._local.keep, None, None
                with self._lock:
                    self._active.discard(conn)
                    self._load -= 1
                    kept = ahead is not None and not self._stopping
                    if kept:
                        self._returned.append((conn, address, ahead))
                if kept:
                    with contextlib.suppress(OSError):  # full: the acceptor is awake anyway
                        self._wake_w.send(b"k")
                else:
                    self.shutdown_request(conn)
            if self._stopping:
                return

    def _secure(self, conn: socket.socket, deadline: float) -> socket.socket:
        """The connection after its TLS handshake (itself without an ``ssl_context``)."""
        if self.ssl_context is None or isinstance(conn, ssl.SSLSocket):  # new, or kept alive
            return conn
        conn.settimeout(max(0.001, deadline - time.monotonic()))
        tls = self.ssl_context.wrap_socket(conn, server_side=True)  # ssl.SSLError: a bad client
        with self._lock:
            self._active.discard(conn)
            self._active.add(tls)
        return tls

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log through :mod:`logging`: a client's hang-up at DEBUG, anything else at ERROR."""
        error = sys.exc_info()[1]
        if isinstance(error, _CLIENT_GONE) or self._stopping:
            self.stats.add("client_errors")
            log.debug("%s: client %s went away: %r", self.name, client_address, error)
            return
        self.stats.add("handler_errors")
        log.error("%s: request from %s failed", self.name, client_address, exc_info=error)


def _recv_now(conn: socket.socket) -> bytes | None:
    """What a non-blocking socket holds now: None when nothing yet, ``b""`` when it ended."""
    try:
        return conn.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _head_complete(head: bytes | bytearray) -> bool:
    """True once a request head (request line and headers) ended with its blank line."""
    return b"\r\n\r\n" in head or b"\n\n" in head


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` in a plain mapping, case-insensitively."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)
