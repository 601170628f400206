"""The WebSocket opening handshake over real sockets: answers, redirects and errors, which lpbot
reads itself, and a proxy in the environment, which it leaves to websocket-client."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lpbot.client.connection import Closed, Connection, HandshakeRefused
from lpbot.client.frames import OP_TEXT
from lpbot.errors import ConnectionClosed

from .test_frames import WAIT, Peer, Reader, close_frame, frame, notification, texts

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
                   "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class OneShot:
    """Accepts one connection on ``host`` and runs ``script(sock)`` on a named thread."""

    def __init__(self, script: Callable[[socket.socket], Any], host: str = "127.0.0.1") -> None:
        self._script = script
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(WAIT)
        self.address = f"{host}:{self._listener.getsockname()[1]}"
        self.url = f"ws://{self.address}/ws_api/account/1234/messaging/consumer?v=3"
        self.error: BaseException | None = None
        self.result: Any = None
        self.thread = threading.Thread(target=self._serve, name="test-upgrade-server")
        self.thread.start()

    def _serve(self) -> None:
        try:
            accepted, _ = self._listener.accept()
            with accepted:
                accepted.settimeout(WAIT)
                self.result = self._script(accepted)
        except BaseException as exc:  # noqa: BLE001 - raised on the test thread by finish()
            self.error = exc
        finally:
            self._listener.close()

    def finish(self) -> Any:
        self.thread.join(WAIT * 3)
        assert not self.thread.is_alive(), "the scripted server did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise EOFError("the client hung up")
        data += chunk
    return data


def speak(peer: Peer) -> int:
    """After the 101: one agent text, then a close; the client's close code."""
    peer.send(frame(OP_TEXT, notification(1, "hello")) + close_frame(1000))
    return peer.expect_close()


@pytest.fixture
def servers() -> Iterator[list[OneShot]]:
    started: list[OneShot] = []
    yield started
    for server in started:
        server.thread.join(WAIT * 3)


def test_a_redirect_is_followed(servers: list[OneShot], no_proxy_environment: None) -> None:
    def answer(sock: socket.socket) -> int:
        peer = Peer(sock)
        peer.handshake()
        return speak(peer)

    target = OneShot(answer)
    servers.append(target)

    def redirect(sock: socket.socket) -> bytes:
        request = read_request(sock)
        sock.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target.url}\r\n"
                     "Content-Length: 0\r\n\r\n".encode())
        return request

    first = OneShot(redirect)
    servers.append(first)
    reader = Reader()
    closed = reader.run(first.url)
    assert first.finish().startswith(b"GET /ws_api/account/1234/messaging/consumer?v=3 HTTP/1.1")
    assert target.finish() == 1000
    assert texts(reader.inbound) == [(1, "hello")]
    assert closed == Closed(code=1000)


@pytest.mark.parametrize(("answer", "why"), [
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n", "Sec-WebSocket-Accept"),
    (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "Upgrade: websocket"),
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not HTTP"),
    (b"HTTP/1.1 101 Switching", "hung up"),
])
def test_an_answer_that_is_no_websocket_upgrade_is_a_typed_error(
        servers: list[OneShot], no_proxy_environment: None, answer: bytes, why: str) -> None:
    def script(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(answer)

    server = OneShot(script)
    servers.append(server)
    with pytest.raises(ConnectionClosed, match=why):
        Connection.open(server.url, timeout=WAIT)
    server.finish()


def test_an_error_status_is_handshake_refused_with_the_status(
        servers: list[OneShot], no_proxy_environment: None) -> None:
    def script(sock: socket.socket) -> bytes:
        request = read_request(sock)
        sock.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
        return request

    server = OneShot(script)
    servers.append(server)
    with pytest.raises(HandshakeRefused) as refused:
        Connection.open(server.url, headers=["Authorization: jwt abc"], timeout=WAIT)
    assert refused.value.status == 401
    request = server.finish().decode("latin-1").split("\r\n")
    assert "Authorization: jwt abc" in request
    assert "Sec-WebSocket-Version: 13" in request
    assert f"Host: {server.address}" in request


def test_a_proxy_in_the_environment_is_used(servers: list[OneShot],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # a consumer socket to a host that is not loopback by name: websocket-client skips the
    # proxy for 127.0.0.1 and localhost; 127.0.0.2 is loopback too
    try:
        socket.create_server(("127.0.0.2", 0)).close()
    except OSError:
        pytest.fail("127.0.0.2 cannot be bound on this machine")
    target = "127.0.0.2:4443"

    def proxy(sock: socket.socket) -> tuple[str, int]:
        request = read_request(sock).decode("latin-1")
        sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        peer = Peer(sock)  # the tunnel's far end, played by the proxy itself
        peer.handshake()
        return request.split("\r\n")[0], speak(peer)

    server = OneShot(proxy)
    servers.append(server)
    monkeypatch.setenv("http_proxy", f"http://{server.address}")
    reader = Reader()
    closed = reader.run(f"ws://{target}/ws_api/account/1234/messaging/consumer?v=3")
    line, code = server.finish()
    assert line == f"CONNECT {target} HTTP/1.1"
    assert code == 1000
    assert texts(reader.inbound) == [(1, "hello")]
    assert closed == Closed(code=1000)


def test_a_redirect_loop_ends_with_a_typed_error(servers: list[OneShot],
                                                no_proxy_environment: None) -> None:
    def loop(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 302 Found\r\nLocation: /somewhere-else\r\n\r\n")

    server = OneShot(loop)
    servers.append(server)
    with pytest.raises(ConnectionClosed, match="redirected"):
        Connection.open(server.url, timeout=WAIT)
    server.finish()
