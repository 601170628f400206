"""A minimal consumer-protocol server for the client benchmarks, run in its own process.

Run: python benchmarks/push_server.py COUNT   (prints "PORT <n>" and serves until stdin closes)

One port speaks just enough of the protocol (docs/protocol-notes.md) for a client to connect:
CSDS (every service is this host), IDP signup (an unsigned JWT), the WebSocket upgrade,
``cqm.SubscribeExConversations`` (one OPEN conversation), ``ms.SubscribeMessagingEvents``
(answered, then COUNT messaging notifications from ``fromSeq`` pushed back to back), and any
other request answered at once (``GetClock``, ``ms.PublishEvent``).

Frames are written with the socket's ``sendall`` from pre-built bytes, so the server outruns
any Python client: the benchmarks measure the receiving side, not this process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import sys
import threading

CONVERSATION = "bench-conversation-0000-0000-000000000000"
AGENT = "bench-agent-0000-0000-0000-000000000000"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _jwt() -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"sub": "bench-consumer", "aud": "acc:bench", "iat": 0, "exp": 4102444800}
    return f"{part({'alg': 'none'})}.{part(claims)}.x"


def frame(text: str) -> bytes:
    """An unmasked server text frame."""
    data = text.encode("utf-8")
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + data


def notification(sequence: int) -> str:
    """One agent message as LivePerson sends it (protocol notes §6.2)."""
    return json.dumps({
        "kind": "notification",
        "body": {"changes": [{
            "sequence": sequence, "originatorId": AGENT,
            "originatorMetadata": {"id": AGENT, "role": "ASSIGNED_AGENT"},
            "serverTimestamp": 1538492183879 + sequence,
            "event": {"type": "ContentEvent", "message": f"message number {sequence}",
                      "contentType": "text/plain"},
            "conversationId": CONVERSATION, "dialogId": CONVERSATION,
        }]},
        "type": "ms.MessagingEventNotification",
    }, separators=(",", ":"))


def _snapshot() -> str:
    details = {
        "participants": [{"id": "bench-consumer", "role": "CONSUMER"},
                         {"id": AGENT, "role": "ASSIGNED_AGENT"}],
        "dialogs": [{"dialogId": CONVERSATION, "dialogType": "MAIN", "state": "OPEN",
                     "participantsDetails": []}],
        "state": "OPEN", "stage": "OPEN", "startTs": 1, "metaDataLastUpdateTs": 1,
    }
    return json.dumps({"kind": "notification", "type": "cqm.ExConversationChangeNotification",
                       "body": {"subscriptionId": "s", "changes": [{"type": "UPSERT", "result": {
                           "convId": CONVERSATION, "conversationDetails": details}}]}})


class Session:
    """One client socket: reads masked frames, answers them."""

    def __init__(self, sock: socket.socket, count: int) -> None:
        self.sock = sock
        self.count = count
        self.buffer = b""

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def next_frame(self) -> tuple[int, bytes]:
        first, second = self.read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.read(8))[0]
        mask = self.read(4) if second & 0x80 else b""
        payload = self.read(size)
        if mask and size:
            key = (mask * (size // 4 + 1))[:size]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
                size, "big")
        return first & 0x0F, payload

    def serve(self) -> None:
        while True:
            opcode, payload = self.next_frame()
            if opcode == 0x8:  # close: answer and stop
                self.sock.sendall(b"\x88\x02" + payload[:2])
                return
            if opcode == 0x9:  # ping
                self.sock.sendall(b"\x8a" + bytes([len(payload)]) + payload)
                continue
            if opcode != 0x1:
                continue
            self.answer(json.loads(payload))

    def answer(self, request: dict) -> None:
        req_id, kind = request.get("id"), request.get("type")
        body = request.get("body") or {}

        def resp(value: object, type_name: str) -> bytes:
            return frame(json.dumps({"kind": "resp", "reqId": req_id, "code": 200,
                                     "body": value, "type": type_name}))

        if kind == "cqm.SubscribeExConversations":
            self.sock.sendall(resp({"subscriptionId": "s"}, "cqm.SubscribeExConversationsResponse")
                              + frame(_snapshot()))
        elif kind == "ms.SubscribeMessagingEvents":
            start = int(body.get("fromSeq", 0))
            self.sock.sendall(resp({}, "GenericSubscribeResponse"))
            blob = b"".join(frame(notification(n)) for n in range(start, start + self.count))
            self.sock.sendall(blob)
        elif kind == "GetClock":
            self.sock.sendall(resp({"currentTime": 1700000000000}, ".GetClock$Response"))
        elif kind == "ms.PublishEvent":
            self.sock.sendall(resp({"sequence": 1}, "ms.PublishEventResponse"))
        else:
            self.sock.sendall(resp("OK", ".ReqBody$StringResp"))


def handle(sock: socket.socket, port: int, count: int) -> None:
    with sock:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n")
        path = lines[0].split(b" ")[1].decode()
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.decode().partition(":") for line in lines[1:] if line)}
        if "sec-websocket-key" in headers:
            accept = base64.b64encode(hashlib.sha1(  # noqa: S324 - RFC 6455 mandates SHA-1
                headers["sec-websocket-key"].encode() + _GUID).digest()).decode()
            sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
                         .encode())
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(ConnectionError, OSError, ValueError):
                Session(sock, count).serve()
            return
        host = f"127.0.0.1:{port}"
        if "/signup" in path:
            payload = {"jwt": _jwt()}
        else:
            payload = {"baseURIs": [{"service": name, "account": "bench", "baseURI": host}
                                    for name in ("asyncMessagingEnt", "idp", "acCdnDomain")]}
        body = json.dumps(payload).encode()
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close"
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    print(f"PORT {port}", flush=True)

    def accept() -> None:
        while True:
            try:
                sock, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(sock, port, count), daemon=True,
                             name="bench-push-conn").start()

    acceptor = threading.Thread(target=accept, name="bench-push-accept", daemon=True)
    acceptor.start()
    sys.stdin.read()  # the parent closes stdin to stop us
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
