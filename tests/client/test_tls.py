"""TLS end to end: certificates are verified by default, ``ca_file`` trusts a private CA.

The sandbox speaks plain HTTP and WebSocket, so the test puts TLS in front of it: a scripted
CSDS over HTTPS that names two TLS-terminating proxies, one before the sandbox's HTTP port
(IDP) and one before its WebSocket port. Their certificate (certs/server.pem, for 127.0.0.1)
is signed by a test CA (certs/ca.pem) that no system trusts.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from scripted_csds import CERTS, ScriptedCsds, base_uris, server_context

from lpbot.client import ConnectionState
from lpbot.client.backoff import Backoff
from lpbot.client.connection import Connection, handshake_headers
from lpbot.errors import ConnectionClosed, RequestRejected
from lpbot.protocol.names import Services
from lpbot.protocol.requests import GetClock

from .support import agent_assigned

pytestmark = pytest.mark.lp_sandbox_tls(False)  # TLS is put in front of a plain sandbox here

CA_FILE = str(CERTS / "ca.pem")


class TlsProxy:
    """Accepts TLS on 127.0.0.1 and pipes the plain bytes to ``target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._context = server_context()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._accepting = threading.Thread(target=self._accept, name="test-tls-proxy")
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return  # closed
            serve = threading.Thread(target=self._serve, args=(raw,), name="test-tls-proxy-conn")
            with self._lock:
                self._sockets.append(raw)
                self._threads.append(serve)
            serve.start()

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.callback(raw.close)
            try:
                client = stack.enter_context(self._context.wrap_socket(raw, server_side=True))
                upstream = stack.enter_context(
                    socket.create_connection(("127.0.0.1", self.target_port)))
            except OSError:
                return  # e.g. the client refused our certificate (ssl.SSLError)
            with self._lock:
                self._sockets += [client, upstream]
            back = threading.Thread(target=self._pipe, args=(upstream, client),
                                    name="test-tls-proxy-pipe")
            back.start()
            self._pipe(client, upstream)
            back.join(5)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        self._accepting.join(5)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)


@dataclass(frozen=True)
class TlsFront:
    """The scripted CSDS over HTTPS, naming the two proxies as its services."""

    csds: ScriptedCsds
    ws_port: int


@pytest.fixture
def tls_front(sandbox) -> Iterator[TlsFront]:
    http = TlsProxy(sandbox.http_port)
    ws = TlsProxy(sandbox.ws_port)
    hosts = {Services.MESSAGING: f"127.0.0.1:{ws.port}", Services.IDP: f"127.0.0.1:{http.port}",
             Services.AGENT_PROFILE: f"127.0.0.1:{http.port}"}
    csds = ScriptedCsds(200, base_uris(hosts), ssl_context=server_context())
    try:
        yield TlsFront(csds, ws.port)
    finally:
        csds.close()
        http.close()
        ws.close()


def test_tls_with_a_trusted_ca_runs_the_whole_flow(sandbox, make_client, tls_front):
    client, recorder = make_client(csds_domain=tls_front.csds.domain, tls=True, ca_file=CA_FILE)
    client.connect(timeout=10)
    assert client.state is ConnectionState.CONNECTED
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "over TLS")
    assert "over TLS" in recorder.wait_agent_texts(1)


def test_an_untrusted_certificate_is_refused_by_default(make_client, tls_front):
    # Same servers, no ca_file: the system's CAs do not know the test CA, so the client
    # refuses the certificate rather than talking to an unverified server.
    client, _ = make_client(csds_domain=tls_front.csds.domain, tls=True,
                            backoff=Backoff.immediate())
    with pytest.raises(ConnectionClosed) as failure:
        client.connect(timeout=10)
    causes = []
    error: BaseException | None = failure.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    assert any("CERTIFICATE_VERIFY_FAILED" in str(cause) for cause in causes), causes
    assert tls_front.csds.requests == 0  # no request was ever completed over the bad TLS


def test_the_websocket_verifies_its_certificate_too(tls_front):
    url = f"wss://127.0.0.1:{tls_front.ws_port}/ws_api/account/sandbox/messaging/consumer?v=3"
    with pytest.raises(ConnectionClosed, match="CERTIFICATE_VERIFY_FAILED"):
        Connection.open(url, timeout=5)  # no context given: the system's CAs
    trusted = ssl.create_default_context(cafile=CA_FILE)
    conn = Connection.open(url, timeout=5, ssl_context=trusted)
    reader = threading.Thread(target=conn.run, args=(lambda inbound: None, lambda error: None),
                              name="test-reader")
    reader.start()
    try:
        # No token sent: the server wants InitConnection first and refuses the request (§8.1),
        # which is an answer all the same, carried over the verified TLS session.
        reply = conn.request(GetClock())
        assert reply.wait(5)
        assert isinstance(reply.exception(), RequestRejected)
    finally:
        conn.close()
        reader.join(5)
    assert not reader.is_alive()


def test_abort_during_tls_reads_ends_the_reader_cleanly(sandbox, tls_front):
    # An SSLSocket's own shutdown() drops its TLS state under a blocked read, which then
    # failed with ValueError or read raw TLS records as frames; abort() must do neither.
    url = f"wss://127.0.0.1:{tls_front.ws_port}/ws_api/account/{sandbox.account}/messaging/consumer?v=3"
    conn = Connection.open(url, headers=handshake_headers(sandbox.signup(), None), timeout=5,
                           ssl_context=ssl.create_default_context(cafile=CA_FILE))
    seen: list[object] = []
    malformed: list[object] = []
    ended: list[object] = []
    fifth = threading.Event()
    aborted = threading.Event()

    def on_inbound(inbound: object) -> None:
        seen.append(inbound)
        if len(seen) == 5:  # hold the reader while the rest piles up and abort() comes
            fifth.set()
            aborted.wait(5)

    reader = threading.Thread(target=lambda: ended.append(conn.run(on_inbound, malformed.append)),
                              name="test-reader")
    reader.start()
    try:
        for _ in range(2000):  # more than one socket read holds, queued at the abort
            sandbox.faults.send_unknown_notification()
        assert fifth.wait(5)
        conn.abort("test abort")
        aborted.set()
        reader.join(5)
        assert not reader.is_alive()
    finally:
        conn.abort()
        reader.join(5)
    assert len(ended) == 1  # run() returned: nothing escaped the reader
    assert ended[0].by_us
    assert len(seen) < 2000  # what was still queued at the abort was not read
    assert malformed == []
    assert conn.malformed == 0
