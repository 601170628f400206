"""Sending a small frame only if the socket takes it at once: the keepalive never waits.

One thread sends every client's keepalive (:mod:`lpbot.client.keepalive`). websocket-client's
``send`` takes the socket's send lock and loops until the kernel took every byte, so a send to a
peer that stopped reading (its receive window full, our send buffer full) blocks the thread, and
with it every other client's keepalive. :func:`send_nowait` never blocks:

* the send lock is only tried (``acquire(blocking=False)``). Held, it belongs to another sender:
  a healthy one finishing a send (the socket is writable: :attr:`Sent.BUSY`, try at the next
  tick) or one blocked on a full buffer (it is not: :attr:`Sent.STALLED`);
* the socket is polled for writing with a zero timeout; not writable is :attr:`Sent.STALLED`;
* writable, it takes the frame without blocking. Linux reports a TCP socket writable only while
  its free send space is at least half of what is queued (``sk_stream_min_wspace``), that is at
  least a third of the buffer (over 1 KiB even at the smallest ``SO_SNDBUF``), and a keepalive
  frame (a ping, a ``GetClock``) is under 150 bytes, TLS record included.

A socket's timeout cannot bound the send instead: it is shared with the reader, blocked in
``recv`` on the same socket, and a non-blocking flag (``MSG_DONTWAIT``) is refused by
``ssl.SSLSocket``.
"""

from __future__ import annotations

import select
import socket
from enum import StrEnum

import websocket

from lpbot.errors import ConnectionClosed

__all__ = ["Sent", "send_nowait"]


class Sent(StrEnum):
    """What :func:`send_nowait` did."""

    SENT = "sent"          # the socket took the whole frame
    BUSY = "busy"          # another thread is sending and the socket is writable: try later
    STALLED = "stalled"    # the socket cannot take the frame now: the peer stopped reading


def send_nowait(ws: websocket.WebSocket, payload: str | bytes,
                opcode: int = websocket.ABNF.OPCODE_TEXT, *, lock_wait: float = 0.0) -> Sent:
    """Send one small frame on ``ws`` if it can go at once; never waits (module docstring).

    ``lock_wait``: seconds to wait for a sender that holds the send lock to finish (closing a
    socket waits a little for a message being sent; the keepalive does not wait).

    Raises:
        ConnectionClosed: the socket is closed or the send failed.
    """
    sock = ws.sock
    if sock is None:
        raise ConnectionClosed("cannot send: the socket is closed")
    lock = ws.lock  # websocket-client's send lock (a threading.Lock with enable_multithread)
    taken = lock.acquire(timeout=lock_wait) if lock_wait > 0 else lock.acquire(blocking=False)
    if not taken:
        return Sent.BUSY if _writable(sock) else Sent.STALLED
    try:
        if not _writable(sock):
            return Sent.STALLED
        frame = websocket.ABNF.create_frame(payload, opcode)
        if ws.get_mask_key:
            frame.get_mask_key = ws.get_mask_key
        data = memoryview(frame.format())
        while data:
            data = data[sock.send(data):]
    except (OSError, ValueError) as exc:  # ValueError: a TLS socket shut down meanwhile
        raise ConnectionClosed(f"cannot send: {exc}") from exc
    finally:
        lock.release()
    return Sent.SENT


def _writable(sock: socket.socket) -> bool:
    """True when the socket's send buffer has room now (poll with a zero timeout).

    ``select.poll`` has no limit on descriptor numbers (a process with thousands of consumers
    has descriptors above ``select.select``'s 1024); ``select`` is the fallback where there is
    no ``poll`` (Windows).
    """
    if not hasattr(select, "poll"):
        try:
            return bool(select.select([], [sock], [], 0)[1])
        except (OSError, ValueError):
            return True
    poller = select.poll()
    try:
        poller.register(sock, select.POLLOUT)
        events = poller.poll(0)
    except (OSError, ValueError):  # closed meanwhile: the send reports it
        return True
    return any(mask & select.POLLOUT for _, mask in events)
