"""The bounded HTTP server under every port lpbot serves: slow, idle and vanishing clients.

Real sockets only. A "slow client" sends one header line at a time and never finishes its
request; an "idle client" connects and sends nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

import pytest
import trustme

from lpbot import httpserver
from lpbot.httpserver import BoundedHTTPServer, BoundedRequestHandler, ServerLimits, is_direct_host
from lpbot.sandbox import Sandbox
from lpbot.sandbox.http import HttpReply, HttpRequest

LIMITS = ServerLimits(workers=4, backlog=8, max_connections=400, request_timeout=1.0,
                      write_timeout=1.0)


class Handler(BoundedRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        body = self.read_body()
        if body is None:
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[BoundedHTTPServer]:
    running = BoundedHTTPServer(("127.0.0.1", 0), Handler, name="lpbot-test-http", limits=LIMITS)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def get(port: int, path: str = "/healthz", timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def slow_client(port: int) -> socket.socket:
    """A client that has sent a request line and one header, and will send more later."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def hang_up(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a client killed mid-request does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_client_pacing_its_header_lines_is_dropped_at_the_request_deadline(
        server: BoundedHTTPServer) -> None:
    sock = slow_client(server.port)
    started = time.monotonic()
    dropped = False
    with sock:
        sock.settimeout(0.3)
        while not dropped and time.monotonic() - started < 5:
            try:
                dropped = sock.recv(1024) == b""
            except TimeoutError:
                sock.sendall(b"X-Slow: 1\r\n")  # one more header line, never the blank one
            except ConnectionError:
                dropped = True
    assert dropped
    assert time.monotonic() - started < LIMITS.request_timeout + 1.5


def test_healthz_answers_while_slow_clients_hold_connections(server: BoundedHTTPServer) -> None:
    slow = [slow_client(server.port) for _ in range(LIMITS.workers * 2)]
    try:
        assert get(server.port).endswith(b"ok")
    finally:
        for sock in slow:
            sock.close()


def test_stop_does_not_wait_for_clients(server: BoundedHTTPServer) -> None:
    slow = [slow_client(server.port) for _ in range(20)]
    try:
        assert get(server.port).endswith(b"ok")  # the slow ones are in by now
        started = time.monotonic()
        assert server.stop(timeout=2.0) is True
        assert time.monotonic() - started < 2.0
        assert "lpbot-test-http" not in {t.name for t in threading.enumerate()}
        assert not [t for t in threading.enumerate() if t.name == "lpbot-test-http-worker"]
    finally:
        for sock in slow:
            sock.close()


def test_idle_connections_take_no_thread(server: BoundedHTTPServer) -> None:
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    try:
        assert get(server.port).endswith(b"ok")
        assert server.thread_count <= 1 + LIMITS.workers
        assert threading.active_count() <= before + LIMITS.workers
    finally:
        for sock in idle:
            sock.close()


def test_past_max_connections_a_client_gets_503_at_once() -> None:
    limits = ServerLimits(workers=1, backlog=1, max_connections=2, request_timeout=5.0)
    running = BoundedHTTPServer(("127.0.0.1", 0), Handler, name="lpbot-test-http", limits=limits)
    running.start()
    idle = [socket.create_connection(("127.0.0.1", running.port)) for _ in range(2)]
    try:
        assert get(running.port).startswith(b"HTTP/1.0 503")
        assert running.stats.refused_busy >= 1
    finally:
        for sock in idle:
            sock.close()
        running.stop()


def test_bodies_beyond_the_limit_get_413_unread(server: BoundedHTTPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: 8388608\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.0 413")


def test_hang_ups_are_logged_through_logging_not_printed(
        server: BoundedHTTPServer, capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lpbot.httpserver")
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"POST / HTTP/1.0\r\nContent-Length: 100\r\n\r\nhalf")
        hang_up(sock)
    assert get(server.port).endswith(b"ok")
    server.stop()
    assert capfd.readouterr().err == ""
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_sandbox_hang_ups_print_nothing_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with Sandbox() as sandbox:
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", sandbox.http_port))
            sock.sendall(b"POST /api/account/sandbox/authenticate HTTP/1.1\r\n"
                         b"Content-Length: 100\r\n\r\n{")
            hang_up(sock)
        assert get(sandbox.http_port, "/api/account/sandbox/service/baseURI.json?version=1.0")
    assert capfd.readouterr().err == ""


def test_sandbox_http_threads_are_capped_under_300_idle_connections() -> None:
    with Sandbox() as sandbox:
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", sandbox.http_port)) for _ in range(300)]
        try:
            reply = get(sandbox.http_port, "/api/account/sandbox/service/baseURI.json?version=1.0")
            assert reply.startswith(b"HTTP/1.1 200")  # keep-alive server, closed for 1.0
            assert threading.active_count() < before + 40
        finally:
            for sock in idle:
                sock.close()


def test_sandbox_stop_with_twenty_slow_clients_is_prompt() -> None:
    sandbox = Sandbox().start()
    slow = [slow_client(sandbox.http_port) for _ in range(20)]
    try:
        assert get(sandbox.http_port, "/api/account/sandbox/service/baseURI.json?version=1.0")
        started = time.monotonic()
        assert sandbox.stop(timeout=3.0) is True
        assert time.monotonic() - started < 3.0
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1:8383", True), ("localhost:8383", True), ("[::1]:8383", True),
    ("127.0.0.1", True), ("evil.example:8383", False), ("evil.example", False),
    ("127.0.0.1.evil.example", False), ("", False), (None, False), ("10.1.2.3:80", True),
])
def test_is_direct_host(host: str | None, local: bool) -> None:
    assert is_direct_host(host, "127.0.0.1") is local


def test_sandbox_stop_is_bounded_and_reports_a_thread_it_could_not_end() -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(request: HttpRequest) -> HttpReply:
        entered.set()
        release.wait(30)  # a route that ignores the shutdown
        return HttpReply.json(200, {})

    sandbox = Sandbox().start()
    sandbox.add_route("GET", "/stuck", stuck)
    client = socket.create_connection(("127.0.0.1", sandbox.http_port))
    try:
        client.sendall(b"GET /stuck HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        assert entered.wait(5)
        started = time.monotonic()
        assert sandbox.stop(timeout=1.0) is False
        assert time.monotonic() - started < 2.5
    finally:
        release.set()
        client.close()


def contexts(authority: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context trusting it."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    return server_context, client_context


def test_tls_connections_are_served_bounded_and_stopped_promptly(
        capfd: pytest.CaptureFixture[str]) -> None:
    server_context, client_context = contexts(trustme.CA())
    running = BoundedHTTPServer(("127.0.0.1", 0), Handler, name="lpbot-test-https",
                                limits=LIMITS, ssl_context=server_context)
    running.start()
    plain = socket.create_connection(("127.0.0.1", running.port))
    plain.sendall(b"GET / HTTP/1.0\r\n\r\n")  # not TLS: refused by the handshake, quietly
    slow = [client_context.wrap_socket(socket.create_connection(("127.0.0.1", running.port)),
                                       server_hostname="127.0.0.1") for _ in range(3)]
    try:
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.0\r\n")  # and never the rest
        with client_context.wrap_socket(socket.create_connection(("127.0.0.1", running.port)),
                                        server_hostname="127.0.0.1") as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert read_all(sock).endswith(b"ok")
        started = time.monotonic()
        assert running.stop(timeout=2.0) is True
        assert time.monotonic() - started < 2.0
    finally:
        for sock in [plain, *slow]:
            sock.close()
        running.stop()
    assert capfd.readouterr().err == ""


# --- keep-alive (HTTP/1.1 handlers) ------------------------------------------------------------


class KeepAliveHandler(Handler):
    protocol_version = "HTTP/1.1"


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def keep_alive_server(limits: ServerLimits, tls: bool,
                      authority: trustme.CA) -> tuple[BoundedHTTPServer, ssl.SSLContext | None]:
    """A started HTTP/1.1 server, and the client context to reach it with (None: plain)."""
    server_context, client_context = contexts(authority) if tls else (None, None)
    running = BoundedHTTPServer(("127.0.0.1", 0), KeepAliveHandler, name="lpbot-test-keep",
                                limits=limits, ssl_context=server_context)
    running.start()
    return running, client_context


def connection(port: int, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if context is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)


def fetch(conn: http.client.HTTPConnection, path: str = "/") -> bytes:
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    return response.read()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_an_http11_handler_serves_many_requests_on_one_connection(
        tls: bool, authority: trustme.CA) -> None:
    running, context = keep_alive_server(LIMITS, tls, authority)
    try:
        conn = connection(running.port, context)
        with contextlib.closing(conn):
            assert fetch(conn) == b"ok"
            first = conn.sock
            for _ in range(3):
                assert fetch(conn) == b"ok"
                assert conn.sock is first  # the same connection, not closed by the server
        assert running.stats.accepted == 1
    finally:
        running.stop()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_kept_connection_holds_no_thread_while_it_waits(
        tls: bool, authority: trustme.CA) -> None:
    # one worker, long deadlines: a worker held by A's idle connection would starve B
    limits = ServerLimits(workers=1, backlog=8, max_connections=8, request_timeout=30.0,
                          keep_alive=30.0)
    running, context = keep_alive_server(limits, tls, authority)
    try:
        a, b = connection(running.port, context), connection(running.port, context)
        with contextlib.closing(a), contextlib.closing(b):
            assert fetch(a) == b"ok"
            assert fetch(b) == b"ok"  # answered while A's connection stays open and idle
            assert fetch(a) == b"ok"  # and A's next request is served on it
            assert running.stats.accepted == 2
    finally:
        running.stop()


def test_pipelined_requests_are_all_answered(authority: trustme.CA) -> None:
    running, _ = keep_alive_server(LIMITS, False, authority)
    try:
        with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
            request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            sock.sendall(request * 2 + b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Length: 4\r\nConnection: close\r\n\r\nlast")
            answers = read_all(sock)  # the server closes after the third, as asked
        assert answers.count(b"HTTP/1.1 200") == 3
        assert answers.endswith(b"last")
    finally:
        running.stop()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_an_idle_kept_connection_is_closed_after_keep_alive_seconds(
        tls: bool, authority: trustme.CA) -> None:
    limits = ServerLimits(workers=2, backlog=8, max_connections=8, keep_alive=0.2)
    running, context = keep_alive_server(limits, tls, authority)
    try:
        conn = connection(running.port, context)
        with contextlib.closing(conn):
            assert fetch(conn) == b"ok"
            assert conn.sock is not None
            conn.sock.settimeout(5)
            assert conn.sock.recv(1) == b""  # closed by the server, well within 5 s
        assert running.stats.timed_out == 0  # an idle close is not a client's fault
        assert running.stats.client_errors == 0
    finally:
        running.stop()


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_stop_closes_kept_connections(tls: bool, authority: trustme.CA) -> None:
    limits = ServerLimits(workers=2, backlog=8, max_connections=8, keep_alive=30.0)
    running, context = keep_alive_server(limits, tls, authority)
    conn = connection(running.port, context)
    with contextlib.closing(conn):
        assert fetch(conn) == b"ok"
        assert running.stop(timeout=2.0) is True
        assert conn.sock is not None
        conn.sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):  # closed either way
            assert conn.sock.recv(1) == b""
    assert not [t for t in threading.enumerate() if t.name.startswith("lpbot-test-keep")]


def test_an_http10_handler_still_closes_after_each_response(server: BoundedHTTPServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_all(sock).endswith(b"ok")  # read_all returns: the server closed



class Failing(BoundedRequestHandler):
    def do_GET(self) -> None:
        raise RuntimeError("a handler bug")  # counted in handler_errors by the worker threads


def preempt_anywhere(frame: FrameType, event: str, arg: object) -> Callable[..., Any] | None:
    """A trace function that calls back between any two bytecodes of lpbot.httpserver.

    CPython 3.11 switches threads only at calls and backward jumps, so a plain ``+= 1`` on an
    attribute happens not to lose counts there; a free-threaded build (or another interpreter)
    has no such luck. A Python call between each bytecode gives the interpreter a chance to
    switch threads anywhere, as those do.
    """
    if frame.f_code.co_filename != httpserver.__file__:
        return None
    frame.f_trace_opcodes = True
    frame.f_trace_lines = False
    return opcode


def opcode(frame: FrameType, event: str, arg: object) -> Callable[..., Any]:
    return opcode


def test_counts_are_exact_when_many_threads_count_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger("lpbot.httpserver"), "disabled", True)
    clients, each = 16, 80
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    threading.settrace(preempt_anywhere)  # the server's threads, started from here on
    running = BoundedHTTPServer(("127.0.0.1", 0), Failing, name="lpbot-test-http",
                                limits=ServerLimits(workers=16, backlog=64, max_connections=64))
    try:
        running.start()
        start = threading.Barrier(clients)

        def hammer(_: int) -> None:
            start.wait(5)
            for _ in range(each):
                get(running.server_address[1], timeout=10)

        with ThreadPoolExecutor(clients, thread_name_prefix="test-hammer") as pool:
            list(pool.map(hammer, range(clients), timeout=60))
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
        sys.setswitchinterval(interval)
        running.stop()
    assert running.stats.accepted == clients * each
    assert running.stats.handler_errors == clients * each
    assert running.stats.refused_busy == running.stats.timed_out == 0
