"""The WebSocket opening handshake (RFC 6455 §4.1), its answer read in one go.

websocket-client reads the server's answer to the upgrade one byte per ``recv`` call: about 190
calls for LivePerson's headers, each a TLS read from Python. Measured on the benchmark machine
(``benchmarks/synth_load.py``), that was about 0.5 ms of CPU per consumer connect over TLS, a
third of the connect and the dearest Python step of a consumer's start after the TLS handshake
itself. :func:`upgrade` sends the same request and reads the answer a few KiB at a time; the
bytes that follow the headers (the server's first frames, if any) are returned to the caller,
which reads the socket from then on.

It handles what every consumer meets: a direct connection (no proxy in the environment),
answered ``101``, an error status, or a redirect (followed, as websocket-client does, up to
:data:`MAX_REDIRECTS` times). A proxy to tunnel through is left to websocket-client:
:func:`upgrade` returns ``None`` and the caller connects with ``WebSocket.connect``. Either
way the ``websocket.WebSocket`` then sends every frame.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from typing import Final
from urllib.parse import urlsplit

import websocket

from lpbot.client.tls import environment_proxies, tls_context
from lpbot.errors import ConnectionClosed

__all__ = ["MAX_ANSWER", "MAX_REDIRECTS", "HandshakeRefused", "upgrade"]

#: the largest answer head read (status line and headers)
MAX_ANSWER: Final = 64 * 1024
#: RFC 6455 §1.3: what the server appends to our key before hashing it
_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: redirects followed (websocket-client's statuses and limit)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 3


class HandshakeRefused(ConnectionClosed):
    """The server refused the WebSocket upgrade with an HTTP status (401, 429, 5xx ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")
        self.status = status


def upgrade(ws: websocket.WebSocket, url: str, *, headers: list[str], timeout: float,
            ssl_context: ssl.SSLContext | None, redirects: int = MAX_REDIRECTS) -> bytes | None:
    """Connect ``ws`` to ``url`` and upgrade; the bytes read past the answer's headers.

    ``ws.sock`` is set as soon as the TCP connection exists (so :func:`interrupt
    <lpbot.client.connection.interrupt>` can cut the TLS handshake and the upgrade), then to
    the TLS socket; on success ``ws`` is connected. Returns ``None``, having sent nothing,
    when websocket-client must connect instead (a proxy applies to the URL).

    Raises:
        HandshakeRefused: the server answered with an HTTP error status.
        ConnectionClosed: the answer is not a WebSocket upgrade, or the server hung up.
        OSError: the network failed (``ssl.SSLError`` included: a certificate error too).
    """
    parts = urlsplit(url)
    secure = parts.scheme == "wss"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    if environment_proxies(f"{'https' if secure else 'http'}://{parts.netloc}/"):
        return None
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket = raw
    ws.sock = raw
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if secure:
            context = ssl_context if ssl_context is not None else tls_context()
            sock = context.wrap_socket(raw, server_hostname=host)
            ws.sock = sock
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        default_port = port == (443 if secure else 80)
        request = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                   "Upgrade: websocket", "Connection: Upgrade",
                   f"Host: {host if default_port else f'{host}:{port}'}",
                   f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *headers, "", ""]
        sock.sendall("\r\n".join(request).encode("utf-8"))
        status, answer, ahead = _read_answer(sock)
        if status in _REDIRECTS:
            location = answer.get("location", "")
            if redirects <= 0 or urlsplit(location).scheme not in ("ws", "wss"):
                raise ConnectionClosed(f"the WebSocket upgrade was redirected ({status}) to "
                                       f"{location[:200]!r}; not followed")
            ws.sock = None
            sock.close()
            return upgrade(ws, location, headers=headers, timeout=timeout,
                           ssl_context=ssl_context, redirects=redirects - 1)
        if status != 101:
            raise HandshakeRefused(status)
        _check_answer(answer, key)
    except BaseException:
        ws.sock = None
        sock.close()  # the TLS socket owns the descriptor once it wrapped the TCP one
        raw.close()
        raise
    ws.connected = True
    return ahead


def _read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The answer's status, its headers (names lowercased), and the bytes after them."""
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        if len(data) > MAX_ANSWER:
            raise ConnectionClosed(f"the upgrade's answer has over {MAX_ANSWER} bytes of headers")
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionClosed("the server hung up during the WebSocket upgrade")
        data += chunk
    lines = data[:end].decode("iso-8859-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/") or (
            not status_line[1].isdigit()):
        raise ConnectionClosed(f"the upgrade's answer is not HTTP: {lines[0][:80]!r}")
    answer: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            answer[name.strip().lower()] = value.strip()
    return int(status_line[1]), answer, data[end + 4:]


def _check_answer(answer: dict[str, str], key: str) -> None:
    """RFC 6455 §4.1: the answer must upgrade to websocket and prove it read our key."""
    digest = hashlib.sha1((key + _GUID).encode("ascii"), usedforsecurity=False).digest()
    expected = base64.b64encode(digest).decode("ascii")
    if answer.get("upgrade", "").lower() != "websocket":
        raise ConnectionClosed("the upgrade's answer has no 'Upgrade: websocket'")
    if "upgrade" not in (token.strip().lower() for token in answer.get("connection", "")
                         .split(",")):
        raise ConnectionClosed("the upgrade's answer has no 'Connection: Upgrade'")
    if answer.get("sec-websocket-accept") != expected:
        raise ConnectionClosed("the upgrade's answer has a wrong Sec-WebSocket-Accept")
