"""The receiving half of RFC 6455 framing: a server's frames read many at a time off a socket.

websocket-client parses each frame with several Python calls and copies its whole read buffer
for every frame, which makes large reads cost more than they save; it is the dearest step of
receiving a small notification. :class:`FrameReader` reads up to :data:`READ_SIZE` bytes per
system call (a TLS socket gives one record, at most 16 KiB) and cuts every complete frame out
of them by offset, so one call (and one release of the GIL) serves dozens of notifications.
websocket-client keeps the handshake, TLS, and everything the client sends (messages, pongs,
pings, the close frame).

What RFC 6455 asks of a client receiving is checked here: no reserved bits (no extension is
negotiated), no masked server frames (§5.1), known opcodes, control frames final and at most
125 bytes (§5.5), continuation frames only inside a fragmented message (§5.4), a close payload
of 0 or at least 2 bytes (§5.5.1). A frame that breaks one raises :class:`FrameError`; the
connection then closes with 1002 (protocol error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from lpbot.errors import ProtocolError

__all__ = ["MAX_MESSAGE", "OP_BINARY", "OP_CLOSE", "OP_CONTINUATION", "OP_PING", "OP_PONG",
           "OP_TEXT", "READ_SIZE", "FrameError", "FrameReader"]

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
_CONTROL: Final = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_OPCODES: Final = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY, *_CONTROL})

#: bytes asked of the socket per read: about a hundred notifications on a plain socket; a TLS
#: socket returns at most one record (16 KiB) per read
READ_SIZE: Final = 65_536
#: largest message accepted, fragments included; LivePerson's frames are a few KiB at most
MAX_MESSAGE: Final = 64 * 1024 * 1024


class FrameError(ProtocolError):
    """A frame breaks RFC 6455 (masked, reserved bits, bad opcode or length): close with 1002."""


class FrameReader:
    """Cuts complete messages and control frames out of a blocking socket's byte stream.

    Args:
        recv: The socket's ``recv``; an empty result means the peer closed the stream.
        max_message: Largest message (all fragments together) accepted, in bytes.
    """

    __slots__ = ("_error", "_fragments", "_fragments_opcode", "_fragments_size", "_have",
                 "_max", "_need", "_parts", "_recv")

    def __init__(self, recv: Callable[[int], bytes], *, max_message: int = MAX_MESSAGE) -> None:
        self._recv = recv
        self._max = max_message
        self._parts: list[bytes] = []  # an incomplete frame's bytes so far
        self._have = 0  # their total size
        self._need = 0  # size of the whole incomplete frame, once its header is known
        self._fragments: list[bytes] = []  # payloads of a fragmented message so far
        self._fragments_size = 0
        self._fragments_opcode = OP_CONTINUATION
        self._error: FrameError | None = None  # met after good frames of the same read

    def read(self) -> list[tuple[int, bytes]]:
        """Block for one socket read; return what it completed, in order.

        Each item is the (opcode, payload) of a whole message or a control frame; the list is
        empty when the read only added to an incomplete frame.

        Raises:
            EOFError: the peer closed the stream.
            FrameError: a frame breaks RFC 6455.
            OSError: the socket failed.
        """
        if self._error is not None:  # the frames before it were returned first
            raise self._error
        data = self._recv(READ_SIZE)
        if not data:
            raise EOFError("the peer closed the stream")
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []  # a large frame still arriving: join its pieces once, at the end
            data = b"".join(self._parts)
            self._parts = []
        out: list[tuple[int, bytes]] = []
        try:
            self._cut(data, out)
        except FrameError as exc:
            if not out:
                raise
            self._error = exc  # deliver what came before it; fail on the next read
        return out

    def _cut(self, data: bytes, out: list[tuple[int, bytes]]) -> None:
        pos = 0
        end = len(data)
        need = 0  # size of the incomplete last frame, when its header is complete
        while end - pos >= 2:
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                start = pos + 4
                if start > end:
                    break
                length = int.from_bytes(data[pos + 2:start], "big")
            elif length == 127:
                start = pos + 10
                if start > end:
                    break
                length = int.from_bytes(data[pos + 2:start], "big")
            if second & 0x80:
                raise FrameError("the server masked a frame (RFC 6455 §5.1)")
            if first & 0x70:
                raise FrameError("a frame has reserved bits set and no extension was agreed")
            if length > self._max:
                raise FrameError(f"a frame of {length} bytes exceeds the limit of {self._max}")
            if first & 0x0F not in _OPCODES:  # before awaiting a payload it would refuse
                raise FrameError(f"unknown opcode {first & 0x0F:#x}")
            if length > 125 and first & 0x08:
                raise FrameError("a control frame is longer than 125 bytes (RFC 6455 §5.5)")
            stop = start + length
            if stop > end:
                need = stop - pos
                break
            pos = stop
            opcode = first & 0x0F
            if first & 0x80 and opcode == OP_TEXT and self._fragments_opcode == OP_CONTINUATION:
                out.append((OP_TEXT, data[start:stop]))  # the common case, first
            else:
                message = self._frame(opcode, bool(first & 0x80), data[start:stop])
                if message is not None:
                    out.append(message)
        if pos < end:  # keep the incomplete frame; need 0: its header is not complete yet
            self._parts = [data[pos:]]
            self._have = end - pos
        self._need = need

    def _frame(self, opcode: int, fin: bool, payload: bytes) -> tuple[int, bytes] | None:
        """Check one frame that is not a final unfragmented text frame; a message if complete."""
        # _cut refused unknown opcodes and control frames over 125 bytes on their header
        if opcode in _CONTROL:
            if not fin:
                raise FrameError("a control frame is fragmented (RFC 6455 §5.5)")
            if opcode == OP_CLOSE and len(payload) == 1:
                raise FrameError("a close frame carries one byte (RFC 6455 §5.5.1)")
            return opcode, payload
        if opcode == OP_CONTINUATION:
            if self._fragments_opcode == OP_CONTINUATION:
                raise FrameError("a continuation frame arrived outside a fragmented message")
        else:  # text or binary
            if self._fragments_opcode != OP_CONTINUATION:
                raise FrameError("a new message began inside a fragmented one")
            self._fragments_opcode = opcode
        self._fragments_size += len(payload)
        if self._fragments_size > self._max:
            raise FrameError(f"a fragmented message exceeds the limit of {self._max} bytes")
        self._fragments.append(payload)
        if not fin:
            return None
        message = (self._fragments_opcode, b"".join(self._fragments))
        self._fragments = []
        self._fragments_size = 0
        self._fragments_opcode = OP_CONTINUATION
        return message
