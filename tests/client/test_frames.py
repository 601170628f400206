"""RFC 6455 frames from a scripted server over real sockets, and FrameReader on scripted reads.

The server in this file speaks raw bytes: it answers the upgrade, writes exactly the frames a
test scripts (split where the test says, one client read per piece), and reads and unmasks what
the client sends back, so a test can check the pong's payload and the close code it answered.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest

from lpbot.client.connection import Closed, Connection
from lpbot.client.frames import (
    MAX_MESSAGE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    READ_SIZE,
    FrameError,
    FrameReader,
)
from lpbot.errors import ConnectionClosed, ProtocolError
from lpbot.protocol.codec import Inbound
from lpbot.protocol.events import ContentEvent
from lpbot.protocol.notifications import MessagingEventNotification

#: seconds any one wait of these tests may take before it counts as a failure
WAIT = 5.0
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WIDE = "é€😀"  # two, three and four bytes of UTF-8


# --- frames and payloads ---------------------------------------------------------------------


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          masked: bool = False) -> bytes:
    """A server frame, with the shortest length encoding (or masked, to break §5.1)."""
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        header = bytes([first, mask_bit | size])
    elif size < 1 << 16:
        header = bytes([first, mask_bit | 126]) + struct.pack("!H", size)
    else:
        header = bytes([first, mask_bit | 127]) + struct.pack("!Q", size)
    if masked:
        key = b"\x37\xfa\x21\x3d"
        header += key
        payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    return header + payload


def close_frame(code: int, reason: str = "") -> bytes:
    return frame(OP_CLOSE, struct.pack("!H", code) + reason.encode("utf-8"))


def notification(sequence: int, text: str) -> bytes:
    """A live ms.MessagingEventNotification carrying one agent text, as UTF-8 JSON."""
    wire = {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [{
            "sequence": sequence,
            "originatorId": "agent-1",
            "originatorMetadata": {"id": "agent-1", "role": "ASSIGNED_AGENT"},
            "serverTimestamp": 1_700_000_000_000 + sequence,
            "event": {"type": "ContentEvent", "message": text, "contentType": "text/plain"},
            "conversationId": "conv-1",
            "dialogId": "conv-1",
        }]},
    }
    return json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def texts(inbound: Iterable[Inbound]) -> list[tuple[int | None, str | None]]:
    """(sequence, text) of every messaging event delivered, in order."""
    out: list[tuple[int | None, str | None]] = []
    for item in inbound:
        assert isinstance(item, MessagingEventNotification), item
        for change in item.changes:
            assert isinstance(change.event, ContentEvent), change
            out.append((change.sequence, change.event.text))
    return out


def pieces(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, deduplicated, inside the data)."""
    bounds = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    return [data[start:stop] for start, stop in itertools.pairwise(bounds)]


def mid_character(data: bytes, character: str, start: int = 0) -> int:
    """An offset inside the UTF-8 bytes of ``character``'s first occurrence from ``start``."""
    return data.index(character.encode("utf-8"), start) + 1


# --- the client under test, run on a named thread --------------------------------------------


class Reader:
    """Runs ``Connection.run`` on a named thread and records what it hands to its callbacks.

    ``reads`` holds, for each ``on_read`` call, how many notifications had been delivered.
    The server side waits on it (a Condition with a timeout) to write one piece per read.
    """

    def __init__(self) -> None:
        self.inbound: list[Inbound] = []
        self.malformed: list[ProtocolError] = []
        self.reads: list[int] = []
        self.log: list[str] = []  # "item" and "read", in call order
        self.conn: Connection | None = None
        self._cond = threading.Condition()

    def _on_inbound(self, item: Inbound) -> None:
        with self._cond:
            self.inbound.append(item)
            self.log.append("item")

    def _on_malformed(self, error: ProtocolError) -> None:
        with self._cond:
            self.malformed.append(error)

    def _on_read(self) -> None:
        with self._cond:
            self.reads.append(len(self.inbound))
            self.log.append("read")
            self._cond.notify_all()

    def read_count(self) -> int:
        with self._cond:
            return len(self.reads)

    def wait_read(self, after: int, delivered: int = 0) -> None:
        """Wait for a read beyond the first ``after`` that saw ``delivered`` items delivered."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self.reads) > after and self.reads[-1] >= delivered, WAIT)
        assert ok, (f"no read after #{after} with {delivered} items delivered "
                    f"(reads so far: {self.reads})")

    def run(self, url: str) -> Closed:
        """Connect to ``url`` and read until the socket ends; return how it ended."""
        conn = Connection.open(url, timeout=WAIT)
        self.conn = conn
        result: list[Closed] = []
        thread = threading.Thread(
            target=lambda: result.append(conn.run(self._on_inbound, self._on_malformed,
                                                  self._on_read)),
            name="test-frames-reader")
        thread.start()
        thread.join(WAIT)
        if thread.is_alive():
            conn.abort("test timed out")
            thread.join(WAIT)
            pytest.fail("Connection.run did not return")
        assert result, "Connection.run raised (see the thread exception above)"
        return result[0]


# --- the scripted server ---------------------------------------------------------------------


class Peer:
    """The server's end of one accepted connection: raw writes, unmasked reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = bytearray()
        sock.settimeout(WAIT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65_536)
            if not chunk:
                raise EOFError(f"client closed the stream; wanted {size} bytes")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def handshake(self, then: bytes = b"") -> None:
        """Read the upgrade request and answer 101; ``then`` goes in the same write."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("client closed the stream during the handshake")
            self._buffer += chunk
        head, _, rest = bytes(self._buffer).partition(b"\r\n\r\n")
        self._buffer = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("GET /"), lines[0]
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        digest = hashlib.sha1((headers["sec-websocket-key"] + GUID).encode("ascii"),
                              usedforsecurity=False).digest()
        accept = base64.b64encode(digest).decode("ascii")
        self.send(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n")
                  .encode("ascii") + then)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_in_reads(self, data: bytes, cuts: Iterable[int], reader: Reader) -> None:
        """Write ``data`` cut at ``cuts``, each piece only after the client read the last one."""
        for piece in pieces(data, cuts):
            mark = reader.read_count()
            self.send(piece)
            reader.wait_read(after=mark)

    def read_frame(self) -> tuple[int, bytes]:
        """The client's next frame, unmasked: (opcode, payload)."""
        first, second = self._exactly(2)
        assert first & 0x80, "the client sent a fragmented frame"
        assert second & 0x80, "the client sent an unmasked frame (RFC 6455 §5.3)"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._exactly(8))
        key = self._exactly(4)
        payload = bytes(byte ^ key[i % 4] for i, byte in enumerate(self._exactly(size)))
        return first & 0x0F, payload

    def expect_close(self) -> int:
        """Read the client's close frame; return its status code."""
        opcode, payload = self.read_frame()
        assert opcode == OP_CLOSE, f"expected a close frame, got {(opcode, payload)!r}"
        assert len(payload) >= 2, f"close frame without a code: {payload!r}"
        code: int = struct.unpack("!H", payload[:2])[0]
        return code


class ScriptedServer:
    """Accepts one connection on 127.0.0.1, answers the upgrade, then runs ``script(peer)``.

    The script runs on the server's named thread; :meth:`finish` joins it and returns what the
    script returned, or raises what it raised. The connection closes when the script returns.
    """

    def __init__(self, script: Callable[[Peer], Any], *, with_handshake: bytes = b"") -> None:
        self._script = script
        self._with_handshake = with_handshake
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(WAIT)
        port = self._listener.getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/ws_api/account/1234/messaging/consumer?v=3"
        self._result: list[Any] = []
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="test-frames-server")
        self.thread.start()

    def _serve(self) -> None:
        try:
            accepted, _ = self._listener.accept()
            with accepted:
                peer = Peer(accepted)
                peer.handshake(self._with_handshake)
                self._result.append(self._script(peer))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by finish()
            self._error = exc
        finally:
            self._listener.close()

    def finish(self) -> Any:
        self.thread.join(WAIT * 3)
        assert not self.thread.is_alive(), "the scripted server did not finish"
        if self._error is not None:
            raise self._error
        return self._result[0]


Serve = Callable[..., ScriptedServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start scripted servers; each one's thread is joined after the test."""
    started: list[ScriptedServer] = []

    def start(script: Callable[[Peer], Any], *, with_handshake: bytes = b"") -> ScriptedServer:
        server = ScriptedServer(script, with_handshake=with_handshake)
        started.append(server)
        return server

    yield start
    for server in started:
        server.thread.join(WAIT * 3)
        assert not server.thread.is_alive(), "a scripted server thread was left running"


# --- 1. many frames per read, and one frame over many reads ----------------------------------


def test_many_small_frames_in_one_write_arrive_in_order(serve: Serve) -> None:
    batch = b"".join(frame(OP_TEXT, notification(n, f"message {n}")) for n in range(1, 201))

    def script(peer: Peer) -> int:
        peer.send(batch)
        peer.send(close_frame(1000))
        return peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1000
    assert texts(reader.inbound) == [(n, f"message {n}") for n in range(1, 201)]
    assert closed == Closed(code=1000)
    assert reader.malformed == []
    assert len(reader.reads) <= 50, f"{len(reader.reads)} reads for 200 frames: not batched"


def test_frames_written_one_byte_per_send_arrive_whole(serve: Serve) -> None:
    short = frame(OP_TEXT, notification(1, "byte by byte é€😀"))
    medium = frame(OP_TEXT, notification(2, "x" * 200 + WIDE * 5))  # 16-bit length header
    assert medium[1] == 126
    stream = short + medium
    reader = Reader()

    def script(peer: Peer) -> int:
        peer.send_in_reads(stream, range(1, len(stream)), reader)  # one client read per byte
        peer.send(close_frame(1000))
        return peer.expect_close()

    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1000
    assert texts(reader.inbound) == [(1, "byte by byte é€😀"), (2, "x" * 200 + WIDE * 5)]
    assert closed == Closed(code=1000)
    # a read per byte, and nothing delivered before the last byte of each frame
    assert len(reader.reads) == len(stream) + 1
    assert reader.reads[len(short) - 2] == 0
    assert reader.reads[len(short) - 1] == 1
    assert reader.reads[len(stream) - 2] == 1


def test_frames_sent_with_the_handshake_response_are_not_lost(serve: Serve) -> None:
    def script(peer: Peer) -> int:
        peer.send(close_frame(1000))
        return peer.expect_close()

    first = frame(OP_TEXT, notification(1, "right behind the 101"))
    reader = Reader()
    server = serve(script, with_handshake=first)
    closed = reader.run(server.url)

    assert server.finish() == 1000
    assert texts(reader.inbound) == [(1, "right behind the 101")]
    assert closed == Closed(code=1000)


# --- 2. extended payload lengths ---------------------------------------------------------------


def test_16_and_64_bit_lengths_with_utf8_split_across_reads(serve: Serve) -> None:
    text16 = "sixteen " + WIDE * 20
    text64 = "sixty-four " + WIDE * 8_000
    payload16 = notification(1, text16)
    payload64 = notification(2, text64)
    assert 126 <= len(payload16) < 1 << 16 <= len(payload64)
    frame16 = frame(OP_TEXT, payload16)
    frame64 = frame(OP_TEXT, payload64)
    assert (frame16[1], frame64[1]) == (126, 127)
    # cuts inside each header, and inside two-, three- and four-byte characters
    cuts16 = [1, 2, 3, 4 + mid_character(payload16, "€"), 4 + mid_character(payload16, "😀") + 1]
    cuts64 = [1, 2, 5, 9, 10, 10 + mid_character(payload64, "é"),
              10 + mid_character(payload64, "😀", 20_000) + 2,
              10 + mid_character(payload64, "€", 40_000),
              10 + mid_character(payload64, "😀", 65_500)]
    reader = Reader()

    def script(peer: Peer) -> int:
        peer.send_in_reads(frame16, cuts16, reader)
        peer.send_in_reads(frame64, cuts64, reader)
        peer.send(close_frame(1000))
        return peer.expect_close()

    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1000
    assert texts(reader.inbound) == [(1, text16), (2, text64)]
    assert closed == Closed(code=1000)
    assert reader.malformed == []


# --- 3. fragmented messages and pings ----------------------------------------------------------


@pytest.mark.parametrize("first_opcode", [OP_TEXT, OP_BINARY], ids=["text", "binary"])
def test_fragmented_message_with_a_ping_between_fragments(serve: Serve,
                                                           first_opcode: int) -> None:
    text = "in three fragments ✓ ✓"
    payload = notification(7, text)
    cut1 = mid_character(payload, "✓")
    cut2 = len(payload) - 10
    ping = b"\x00\xffping-42"  # not UTF-8: the pong must carry the bytes as they are
    reader = Reader()

    def script(peer: Peer) -> tuple[tuple[int, bytes], int]:
        peer.send(frame(first_opcode, payload[:cut1], fin=False) + frame(OP_PING, ping))
        pong = peer.read_frame()  # answered before the message is complete
        mark = reader.read_count()
        peer.send(frame(OP_CONTINUATION, payload[cut1:cut2], fin=False))
        reader.wait_read(after=mark)
        peer.send(frame(OP_CONTINUATION, payload[cut2:]) + close_frame(1000))
        return pong, peer.expect_close()

    server = serve(script)
    closed = reader.run(server.url)

    pong, code = server.finish()
    assert pong == (OP_PONG, ping)
    assert code == 1000
    assert texts(reader.inbound) == [(7, text)]
    assert reader.reads[-2] == 0  # the first fragments delivered nothing on their own
    assert closed == Closed(code=1000)
    assert reader.malformed == []


def test_pings_are_answered_in_order_with_their_payloads(serve: Serve) -> None:
    payloads = [b"", b"a", b"p" * 125]

    def script(peer: Peer) -> tuple[list[tuple[int, bytes]], int]:
        peer.send(b"".join(frame(OP_PING, p) for p in payloads)
                  + frame(OP_TEXT, notification(1, "after the pings")))
        pongs = [peer.read_frame() for _ in payloads]
        peer.send(close_frame(1000))
        return pongs, peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    pongs, code = server.finish()
    assert pongs == [(OP_PONG, p) for p in payloads]
    assert code == 1000
    assert texts(reader.inbound) == [(1, "after the pings")]
    assert closed == Closed(code=1000)


# --- 4. the server's close frame -------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected", "answered"),
    [
        pytest.param(struct.pack("!H", 4401) + "token expired ✗".encode(),
                     Closed(code=4401, reason="token expired ✗"), 4401, id="4401-with-reason"),
        pytest.param(struct.pack("!H", 1001), Closed(code=1001), 1001, id="code-only"),
        pytest.param(b"", Closed(code=1005), 1000, id="no-code"),
        # codes a close frame may not carry (RFC 6455 §7.4) are answered with 1000
        pytest.param(struct.pack("!H", 1006), Closed(code=1006), 1000, id="1006"),
        pytest.param(struct.pack("!H", 999), Closed(code=999), 1000, id="999"),
        pytest.param(struct.pack("!H", 1012), Closed(code=1012), 1012, id="1012-restart"),
    ],
)
def test_server_close_ends_run_and_is_answered_with_its_code(
        serve: Serve, payload: bytes, expected: Closed, answered: int) -> None:
    def script(peer: Peer) -> int:
        # frames after the close frame (in the same write) are not read (RFC 6455 §5.5.1)
        peer.send(frame(OP_TEXT, notification(1, "before the close")) + frame(OP_CLOSE, payload)
                  + frame(OP_TEXT, notification(2, "after the close")))
        return peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == answered
    assert closed == expected
    assert texts(reader.inbound) == [(1, "before the close")]
    assert reader.malformed == []


# --- 5. RFC violations -------------------------------------------------------------------------

VIOLATIONS = [
    pytest.param(frame(OP_TEXT, notification(2, "masked"), masked=True), id="masked"),
    pytest.param(frame(OP_TEXT, b"{}", rsv=0x40), id="rsv1"),
    pytest.param(frame(OP_TEXT, b"{}", rsv=0x20), id="rsv2"),
    pytest.param(frame(OP_TEXT, b"{}", rsv=0x10), id="rsv3"),
    pytest.param(frame(0x3, b"{}"), id="reserved-data-opcode"),
    pytest.param(frame(0xB, b""), id="reserved-control-opcode"),
    pytest.param(frame(OP_PING, b"ping", fin=False), id="fragmented-ping"),
    pytest.param(frame(OP_PING, b"p" * 126), id="ping-126-bytes"),
    pytest.param(frame(OP_CLOSE, struct.pack("!H", 1000) + b"r" * 124), id="close-126-bytes"),
    pytest.param(frame(OP_CONTINUATION, b"{}"), id="continuation-outside-message"),
    pytest.param(frame(OP_TEXT, b'{"kind":', fin=False) + frame(OP_TEXT, b"{}"),
                 id="text-inside-fragmented-text"),
    pytest.param(frame(OP_BINARY, b'{"kind":', fin=False) + frame(OP_TEXT, b"{}", fin=False),
                 id="fragment-inside-fragmented-binary"),
    pytest.param(frame(OP_CLOSE, b"\x03"), id="close-one-byte"),
    pytest.param(bytes([0x81, 127]) + struct.pack("!Q", MAX_MESSAGE + 1),
                 id="message-over-limit"),
    pytest.param(bytes([0x82, 127]) + struct.pack("!Q", 1 << 63), id="length-msb-set"),
]


@pytest.mark.parametrize("violation", VIOLATIONS)
def test_rfc_violation_fails_the_connection_with_1002(serve: Serve, violation: bytes) -> None:
    reader = Reader()

    def script(peer: Peer) -> int:
        mark = reader.read_count()
        peer.send(frame(OP_TEXT, notification(1, "before")))
        reader.wait_read(after=mark, delivered=1)
        peer.send(violation)
        return peer.expect_close()

    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1002
    assert isinstance(closed.error, FrameError)
    assert closed.by_us is True
    assert closed.code is None
    assert reader.malformed == [closed.error]
    assert reader.conn is not None
    assert reader.conn.malformed == 1
    assert texts(reader.inbound) == [(1, "before")]


def test_frames_before_a_violation_in_the_same_read_are_delivered(
        serve: Serve) -> None:
    # Whether a valid notification arrives must not depend on how TCP cut the stream: written
    # in one piece with a bad frame, it is still delivered before the connection fails.
    def script(peer: Peer) -> int:
        peer.send(frame(OP_TEXT, notification(1, "valid, sent first"))
                  + frame(OP_TEXT, b"{}", rsv=0x40))
        return peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1002
    assert isinstance(closed.error, FrameError)
    assert texts(reader.inbound) == [(1, "valid, sent first")]


def test_a_close_before_a_violation_in_the_same_read_keeps_its_code(serve: Serve) -> None:
    def script(peer: Peer) -> int:
        peer.send(close_frame(4401, "expired") + frame(OP_TEXT, b"{}", rsv=0x40))
        return peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 4401
    assert closed == Closed(code=4401, reason="expired")
    assert reader.malformed == []


# --- 6. frames that are not UTF-8 JSON ---------------------------------------------------------

UNDECODABLE = [
    (OP_TEXT, b"\xff\xfe{}", "UTF-8"),  # not UTF-8 at all
    (OP_TEXT, b'{"kind":"notification","x":"\xe2\x82"}', "UTF-8"),  # truncated character
    (OP_TEXT, b"\xed\xa0\x80", "UTF-8"),  # an encoded surrogate
    (OP_BINARY, b"\xc0\xaf", "UTF-8"),  # overlong encoding, in a binary frame
    (OP_TEXT, b"not json", "JSON"),
    (OP_TEXT, b"[1, 2]", "object"),
    (OP_TEXT, b'{"type":"ms.MessagingEventNotification"}', "kind"),
]


def test_undecodable_frames_are_counted_and_the_loop_goes_on(serve: Serve) -> None:
    bad = b"".join(frame(opcode, payload) for opcode, payload, _ in UNDECODABLE)

    def script(peer: Peer) -> int:
        peer.send(frame(OP_TEXT, notification(1, "first")) + bad)
        peer.send(frame(OP_TEXT, notification(2, "still reading")))
        peer.send(close_frame(1000))
        return peer.expect_close()

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1000  # not 1002: the connection stays up
    assert texts(reader.inbound) == [(1, "first"), (2, "still reading")]
    assert closed == Closed(code=1000)
    assert reader.conn is not None
    assert reader.conn.malformed == len(UNDECODABLE)
    assert len(reader.malformed) == len(UNDECODABLE)
    for error, (_, _, says) in zip(reader.malformed, UNDECODABLE, strict=True):
        assert type(error) is ProtocolError
        assert says in str(error)


# --- 7. the stream ends without a close frame --------------------------------------------------


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(b"", id="between-frames"),
        pytest.param(b"\x81", id="inside-a-header"),
        pytest.param(frame(OP_TEXT, notification(2, "cut short"))[:-5], id="inside-a-payload"),
        pytest.param(frame(OP_TEXT, b'{"kind":', fin=False), id="inside-a-fragmented-message"),
    ],
)
def test_stream_ending_without_a_close_frame(serve: Serve, tail: bytes) -> None:
    def script(peer: Peer) -> None:
        peer.send(frame(OP_TEXT, notification(1, "last words")) + tail)
        peer.sock.shutdown(socket.SHUT_WR)
        assert peer.sock.recv(1) == b"", "the client wrote something after the stream ended"

    reader = Reader()
    server = serve(script)
    closed = reader.run(server.url)

    server.finish()
    assert isinstance(closed.error, ConnectionClosed)
    assert (closed.code, closed.by_us) == (None, False)
    assert texts(reader.inbound) == [(1, "last words")]
    assert reader.malformed == []


# --- 8. on_read --------------------------------------------------------------------------------


def test_on_read_follows_each_read_after_its_items(serve: Serve) -> None:
    batch_a = b"".join(frame(OP_TEXT, notification(n, f"a{n}")) for n in range(1, 6))
    batch_b = b"".join(frame(OP_TEXT, notification(n, f"b{n}")) for n in range(6, 9))
    half = frame(OP_TEXT, notification(9, "in two halves"))
    reader = Reader()

    def script(peer: Peer) -> int:
        mark = reader.read_count()
        peer.send(batch_a)
        reader.wait_read(after=mark, delivered=5)  # the client then blocks in recv
        mark = reader.read_count()
        peer.send(half[:20])  # a read that completes nothing still calls on_read
        reader.wait_read(after=mark, delivered=5)
        mark = reader.read_count()
        peer.send(half[20:] + batch_b)
        reader.wait_read(after=mark, delivered=9)
        peer.send(close_frame(1000))
        return peer.expect_close()

    server = serve(script)
    closed = reader.run(server.url)

    assert server.finish() == 1000
    assert closed == Closed(code=1000)
    assert len(reader.inbound) == 9
    assert {5, 9} <= set(reader.reads)
    assert reader.log[-1] == "read"
    assert reader.log.count("read") == len(reader.reads) >= 4


# --- FrameReader on scripted reads -------------------------------------------------------------


class ScriptedRecv:
    """A ``recv`` returning the given chunks (at most ``size`` bytes each), then b""."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = deque(chunks)
        self.sizes: list[int] = []

    def __call__(self, size: int) -> bytes:
        self.sizes.append(size)
        if not self._chunks:
            return b""
        chunk = self._chunks.popleft()
        if len(chunk) > size:  # like a socket: the rest waits for the next call
            self._chunks.appendleft(chunk[size:])
        return chunk[:size]


def read_all(chunks: Iterable[bytes], **options: Any) -> list[tuple[int, bytes]]:
    """Everything FrameReader yields for ``chunks``, up to the end of the stream."""
    reader = FrameReader(ScriptedRecv(chunks), **options)
    out: list[tuple[int, bytes]] = []
    while True:
        try:
            out.extend(reader.read())
        except EOFError:
            return out


STREAM_FRAMES: Sequence[tuple[bytes, tuple[int, bytes] | None]] = [
    (frame(OP_TEXT, b"small"), (OP_TEXT, b"small")),
    (frame(OP_TEXT, b""), (OP_TEXT, b"")),
    (frame(OP_BINARY, b"\x00\x01binary"), (OP_BINARY, b"\x00\x01binary")),
    (frame(OP_TEXT, WIDE.encode() * 40), (OP_TEXT, WIDE.encode() * 40)),  # 360 bytes, 16-bit
    (frame(OP_TEXT, b"frag", fin=False), None),
    (frame(OP_PING, b"between"), (OP_PING, b"between")),
    (frame(OP_CONTINUATION, b"men", fin=False), None),
    (frame(OP_CONTINUATION, b"ted"), (OP_TEXT, b"fragmented")),
    (frame(OP_PONG, b""), (OP_PONG, b"")),
    (frame(OP_BINARY, b"bi", fin=False), None),
    (frame(OP_CONTINUATION, b"nary"), (OP_BINARY, b"binary")),
    (close_frame(4401, "bye"), (OP_CLOSE, struct.pack("!H", 4401) + b"bye")),
]
STREAM = b"".join(data for data, _ in STREAM_FRAMES)
EXPECTED = [message for _, message in STREAM_FRAMES if message is not None]


def test_reader_gives_the_same_messages_for_every_split_point() -> None:
    assert read_all([STREAM]) == EXPECTED
    for cut in range(1, len(STREAM)):
        assert read_all([STREAM[:cut], STREAM[cut:]]) == EXPECTED, f"split at {cut}"


def test_reader_one_byte_per_read() -> None:
    reader = FrameReader(ScriptedRecv(STREAM[i:i + 1] for i in range(len(STREAM))))
    out: list[tuple[int, bytes]] = []
    for _ in range(len(STREAM)):
        out.extend(reader.read())
    assert out == EXPECTED
    with pytest.raises(EOFError):
        reader.read()


def test_reader_returns_nothing_until_a_frame_is_complete() -> None:
    data = frame(OP_TEXT, b"x" * 1000)
    recv = ScriptedRecv([data[:1], data[1:3], data[3:500], data[500:-1], data[-1:]])
    reader = FrameReader(recv)
    assert [reader.read() for _ in range(4)] == [[], [], [], []]
    assert reader.read() == [(OP_TEXT, b"x" * 1000)]
    assert recv.sizes == [READ_SIZE] * 5


def test_reader_64_bit_length_split_in_its_header_and_payload() -> None:
    payload = WIDE.encode() * 10_000
    data = frame(OP_TEXT, payload)
    assert data[1] == 127
    for cut in [*range(1, 11), 11, 1000, READ_SIZE, len(data) - 1]:
        assert read_all([data[:cut], data[cut:]]) == [(OP_TEXT, payload)], f"split at {cut}"
    assert read_all(pieces(data, range(0, len(data), 4093))) == [(OP_TEXT, payload)]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([], id="empty"),
        pytest.param([frame(OP_TEXT, b"whole")], id="after-a-frame"),
        pytest.param([frame(OP_TEXT, b"whole")[:-1]], id="mid-frame"),
    ],
)
def test_reader_raises_eof_when_the_stream_ends(chunks: list[bytes]) -> None:
    reader = FrameReader(ScriptedRecv(chunks))
    for _ in chunks:
        reader.read()
    with pytest.raises(EOFError):
        reader.read()


@pytest.mark.parametrize("violation", VIOLATIONS)
def test_reader_rejects_rfc_violations(violation: bytes) -> None:
    with pytest.raises(FrameError):
        read_all([violation])
    with pytest.raises(FrameError):  # also when each byte comes on its own
        read_all(violation[i:i + 1] for i in range(len(violation)))


def test_reader_limits_message_size() -> None:
    limit = 100
    at_limit = [frame(OP_TEXT, b"a" * 60, fin=False), frame(OP_CONTINUATION, b"b" * 40)]
    assert read_all(at_limit, max_message=limit) == [(OP_TEXT, b"a" * 60 + b"b" * 40)]
    assert read_all([frame(OP_TEXT, b"c" * limit)], max_message=limit) == [
        (OP_TEXT, b"c" * limit)]
    # a frame over the limit fails on its header, before its payload is awaited
    with pytest.raises(FrameError, match="exceeds"):
        read_all([frame(OP_BINARY, b"d" * (limit + 1))[:2]], max_message=limit)
    with pytest.raises(FrameError, match="exceeds"):
        read_all([frame(OP_TEXT, b"a" * 60, fin=False), frame(OP_CONTINUATION, b"b" * 41)],
                 max_message=limit)


def test_reader_rejects_an_unknown_opcode_on_its_header() -> None:
    header = bytes([0x83, 127]) + struct.pack("!Q", 60 * 1024 * 1024)
    with pytest.raises(FrameError, match="unknown opcode"):
        FrameReader(ScriptedRecv([header])).read()


def test_reader_rejects_a_long_control_frame_on_its_header() -> None:
    # a ping announcing 60 MB fails at once instead of waiting for 60 MB to arrive
    header = bytes([0x89, 127]) + struct.pack("!Q", 60 * 1024 * 1024)
    with pytest.raises(FrameError, match="control frame"):
        FrameReader(ScriptedRecv([header])).read()
