"""A server that stops reading never holds up the process's one keepalive thread, nor close().

Two clients talk to a real sandbox, their sockets through a relay (a scripted TCP server with
a small receive buffer) that the test can make stop reading one connection; a scripted CSDS
answers with the relay as the messaging host. A thread then blocks sending a message larger than
any send buffer on the stalled socket, holding its send lock, as a dispatcher worker would. The
other client's keepalives must go on, and the stalled socket must be counted and replaced.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from scripted_csds import ScriptedCsds, base_uris

from lpbot.client import ConnectionState
from lpbot.errors import ConnectionClosed, LpError
from lpbot.protocol import ContentEvent
from lpbot.protocol.names import Services
from lpbot.protocol.requests import PublishEvent
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

WAIT = 10.0
#: seconds between keepalives: short, yet long enough for a GetClock's answer on a busy machine
INTERVAL = 0.25
#: the relay's receive buffer (the kernel doubles it): it fills at once
SMALL_BUFFER = 4096


def largest_send_buffer() -> int:
    """The most a TCP send buffer may grow to here (Linux autotuning's ceiling)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 16 * 1024 * 1024


class StallingRelay:
    """Relays TCP connections to ``target``; :meth:`stall` stops reading one of them.

    Each accepted connection gets two pump threads (``test-relay-*``); :meth:`close` shuts every
    socket and joins them all.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # set before listen(): accepted sockets inherit it, so the receive window stays small
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.address = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stalled: list[threading.Event] = []  # one per accepted connection, in order
        self._threads = [threading.Thread(target=self._accept, name="test-relay-accept")]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
            upstream = socket.create_connection(self._target, timeout=WAIT)
            upstream.settimeout(None)
            stalled = threading.Event()
            with self._lock:
                index = len(self._stalled)
                self._sockets += [client, upstream]
                self._stalled.append(stalled)
                pumps = [threading.Thread(target=self._pump, args=(client, upstream, stalled),
                                          name=f"test-relay-up-{index}"),
                         threading.Thread(target=self._pump,
                                          args=(upstream, client, threading.Event()),
                                          name=f"test-relay-down-{index}")]
                self._threads += pumps
            for pump in pumps:
                pump.start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, stalled: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while not stalled.is_set():
                data = source.recv(65_536)
                if not data or stalled.is_set():
                    break
                sink.sendall(data)
        if stalled.is_set():
            return  # stop reading; close() shuts the sockets
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._stalled)

    def stall(self, index: int) -> None:
        """Stop reading what the client of connection ``index`` sends (after its next read)."""
        with self._lock:
            self._stalled[index].set()

    def refuse(self, index: int, code: int) -> None:
        """Play a server refusing what it is sent: a close frame with ``code``, then no more.

        The client of connection ``index`` gets the frame (a server's, unmasked); what it sends
        is no longer read (call :meth:`stall` first).
        """
        with self._lock:
            client = self._sockets[2 * index]
        client.sendall(bytes([0x88, 2]) + code.to_bytes(2, "big"))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept thread; close() does not
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(WAIT)
            assert not thread.is_alive(), f"{thread.name} did not stop"


@pytest.fixture
def relay(sandbox: Sandbox) -> Iterator[tuple[StallingRelay, ScriptedCsds]]:
    relay = StallingRelay(("127.0.0.1", sandbox.ws_port))
    http = f"127.0.0.1:{sandbox.http_port}"
    csds = ScriptedCsds(200, base_uris({Services.MESSAGING: f"127.0.0.1:{relay.address[1]}",
                                        Services.IDP: http, Services.AGENT_PROFILE: http}))
    yield relay, csds
    relay.close()  # first: a send still blocked on a stalled socket fails and lets go
    csds.close()


def test_a_stalled_socket_never_holds_up_another_clients_keepalive(
        relay: tuple[StallingRelay, ScriptedCsds], make_client, caplog) -> None:
    proxy, csds = relay
    stalled, _ = make_client(csds_domain=csds.domain, identity_name="stalled",
                             keepalive_interval=INTERVAL)
    healthy, _ = make_client(csds_domain=csds.domain, identity_name="healthy",
                             keepalive_interval=INTERVAL)
    stalled.connect(timeout=WAIT)
    healthy.connect(timeout=WAIT)
    assert proxy.connections == 2
    conversation = stalled.open_conversation()

    proxy.stall(0)  # the server side of the first client's socket stops reading
    done = threading.Event()

    text = "x" * (2 * largest_send_buffer() + SMALL_BUFFER * 64)
    publish = PublishEvent(dialog_id=conversation.id, event=ContentEvent.text_plain(text))
    socket_in_use = stalled.link.wait_connected(WAIT)

    def send_more_than_any_buffer() -> None:
        try:  # blocks holding the socket's send lock until the socket is cut
            socket_in_use.request(publish)
        except LpError:
            pass  # cut: only the blocking matters here (Client.request would send it again)
        finally:
            done.set()

    sender = threading.Thread(target=send_more_than_any_buffer, name="test-blocked-sender")
    sender.start()
    try:
        wait_until(lambda: stalled.stats.keepalive_stalls >= 1, WAIT, "the stall noticed")
        before = healthy.stats.keepalives
        wait_until(lambda: healthy.stats.keepalives >= before + 3, WAIT,
                   "the healthy client's keepalives to go on")
        # the stalled socket was cut and replaced: a new connection through the relay
        wait_until(lambda: proxy.connections >= 3
                   and stalled.state is ConnectionState.CONNECTED, WAIT, "the reconnect")
        assert healthy.state is ConnectionState.CONNECTED
        assert healthy.stats.keepalive_stalls == 0
        assert healthy.stats.disconnects == 0
        assert any("cannot take a frame" in r.getMessage() for r in caplog.records)
    finally:
        if not done.wait(WAIT):
            proxy.close()  # unblock the sender before joining it
        sender.join(WAIT)


def test_close_never_waits_on_a_socket_whose_server_stopped_reading(
        relay: tuple[StallingRelay, ScriptedCsds], make_client) -> None:
    proxy, csds = relay
    # no keepalive during the test: only close() can end the stalled socket
    client, _ = make_client(csds_domain=csds.domain, identity_name="closing",
                            keepalive_interval=600.0)
    client.connect(timeout=WAIT)
    conversation = client.open_conversation()
    proxy.stall(0)
    text = "x" * (2 * largest_send_buffer() + SMALL_BUFFER * 64)
    publish = PublishEvent(dialog_id=conversation.id, event=ContentEvent.text_plain(text))
    socket_in_use = client.link.wait_connected(WAIT)
    blocked = threading.Event()

    def send_more_than_any_buffer() -> None:
        blocked.set()
        with contextlib.suppress(LpError):  # blocks holding the send lock until the cut
            socket_in_use.request(publish)

    sender = threading.Thread(target=send_more_than_any_buffer, name="test-blocked-sender")
    sender.start()
    assert blocked.wait(WAIT)
    wait_until(lambda: socket_in_use.pending == 1, WAIT, "the large message in flight")
    closer = threading.Thread(target=client.close, name="test-closer")
    closer.start()
    try:
        closer.join(WAIT)
        assert not closer.is_alive(), "close() waited on the stalled socket"
        assert client.state is ConnectionState.CLOSED
        sender.join(WAIT)
        assert not sender.is_alive(), "the blocked send was not cut by the close"
    finally:
        if closer.is_alive() or sender.is_alive():
            proxy.close()  # unblock them before the fixture joins everything
        closer.join(WAIT)
        sender.join(WAIT)


def test_a_message_the_server_refuses_by_closing_is_not_sent_again(
        relay: tuple[StallingRelay, ScriptedCsds], make_client) -> None:
    proxy, csds = relay
    client, _ = make_client(csds_domain=csds.domain, identity_name="refused",
                            keepalive_interval=600.0, request_timeout=20.0)
    client.connect(timeout=WAIT)
    conversation = client.open_conversation()
    proxy.stall(0)
    socket_in_use = client.link.wait_connected(WAIT)
    errors: list[BaseException] = []

    def send_too_much() -> None:
        try:  # blocks in the send until the socket ends
            conversation.send_text("x" * (2 * largest_send_buffer() + SMALL_BUFFER * 64))
        except LpError as exc:
            errors.append(exc)

    sender = threading.Thread(target=send_too_much, name="test-refused-sender")
    sender.start()
    try:
        wait_until(lambda: socket_in_use.pending == 1, WAIT, "the message in flight")
        proxy.refuse(0, 1009)  # "message too big", as a server ends such a socket
        sender.join(WAIT)
        assert not sender.is_alive(), "the send went on after the server refused it"
        [error] = errors
        assert isinstance(error, ConnectionClosed)
        assert error.code == 1009
        assert "not sent again" in str(error)
        wait_until(lambda: client.state is ConnectionState.CONNECTED
                   and client.link.conn is not socket_in_use, WAIT, "the new socket")
        assert proxy.connections == 2  # the refused socket and its replacement, no resends
        conversation.send_text("small enough")  # and the client goes on
    finally:
        if sender.is_alive():
            proxy.close()
        sender.join(WAIT)
