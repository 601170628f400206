"""TLS and threads are paid per process, not per consumer (lpbot.client.tls, HEARTBEAT).

Over real sockets against the TLS sandbox: every client trusting one CA file uses one
``SSLContext`` for its WebSocket and its HTTPS calls, the consumers of one account reuse one
pool of HTTPS connections, a connected consumer costs one reader thread (plus the process's one
keepalive thread), and each client keeps its own keepalive timing on that thread.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from scripted_csds import ScriptedCsds

from lpbot.client import Client, ClientOptions
from lpbot.client.keepalive import HEARTBEAT
from lpbot.client.tls import CaFileError, acquire_pools, release_pools, tls_context
from lpbot.errors import CertificateError
from lpbot.testing import wait_until
from lpbot.testing.harness import DaemonProcess

from .support import FAST_BACKOFF, client_threads

pytestmark = pytest.mark.lp_sandbox_tls(True)


def lpbot_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith("lpbot-") and not t.name.startswith("lpbot-sandbox"))


def test_clients_of_one_ca_file_share_one_context_for_websocket_and_https(sandbox, make_client):
    clients = [make_client(identity_name=f"shared-{n}")[0] for n in range(3)]
    for client in clients:
        client.connect(timeout=10)
    assert len({client.consumer_id for client in clients}) == 3
    # the domain lookup's answer is shared too: one CSDS request for the three
    assert sum(client.discovery.fetches for client in clients) == 1
    shared = tls_context(sandbox.ca_file)
    contexts = {id(client.link.conn.ssl_context) for client in clients if client.link.conn}
    assert contexts == {id(shared)}
    adapter = acquire_pools(sandbox.account, sandbox.ca_file)
    try:
        manager = adapter.poolmanager
        pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118 - no iter
        assert pools, "the clients' HTTPS calls went through the account's shared pools"
        assert {id(pool.conn_kw["ssl_context"]) for pool in pools} == {id(shared)}
        # three consumers signed up (and looked the services up): over reused connections
        requests_made = sum(pool.num_requests for pool in pools)
        connections = sum(pool.num_connections for pool in pools)
        assert requests_made > len(clients)
        assert connections < requests_made, (connections, requests_made)
    finally:
        release_pools(adapter)


def test_https_calls_never_load_a_ca_file_into_the_shared_context(sandbox, make_client,
                                                                  monkeypatch):
    # requests names the environment's bundle on every request; urllib3 would load it into the
    # context of each new connection: the shared context would then trust that CA as well.
    other_ca = Path(__file__).with_name("certs") / "ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other_ca))
    shared = tls_context(sandbox.ca_file)
    trusted = shared.get_ca_certs()
    clients = [make_client()[0] for _ in range(2)]
    for client in clients:
        client.connect(timeout=10)
    assert shared.get_ca_certs() == trusted
    assert len(trusted) == 1


def test_the_account_pools_are_closed_when_the_last_client_closes(sandbox, make_client):
    first, _ = make_client()
    second, _ = make_client()
    first.connect(timeout=10)
    second.connect(timeout=10)
    adapter = acquire_pools(sandbox.account, sandbox.ca_file)
    release_pools(adapter)
    first.close()
    assert adapter.poolmanager.pools, "still in use by the second client"
    second.close()
    assert len(adapter.poolmanager.pools) == 0
    fresh = acquire_pools(sandbox.account, sandbox.ca_file)
    release_pools(fresh)
    assert fresh is not adapter


def test_a_consumer_costs_one_reader_thread_and_the_process_one_keepalive(make_client):
    clients = [make_client()[0] for _ in range(4)]
    for client in clients:
        client.connect(timeout=10)
    assert lpbot_threads() == sorted([f"lpbot-reader-{c.consumer_id}" for c in clients]
                                     + ["lpbot-keepalive"])
    for client in clients[:3]:
        client.close()
    assert lpbot_threads() == ["lpbot-keepalive", f"lpbot-reader-{clients[3].consumer_id}"]
    clients[3].close()
    assert client_threads() == []  # the keepalive thread was stopped and joined with the last
    again, _ = make_client()
    again.connect(timeout=10)  # and started again for the next one
    assert "lpbot-keepalive" in lpbot_threads()


def test_each_client_keeps_its_own_keepalive_interval_on_the_shared_thread(make_client):
    fast, _ = make_client(keepalive_interval=0.02)
    slow, _ = make_client(keepalive_interval=60.0)
    fast.connect(timeout=10)
    slow.connect(timeout=10)
    wait_until(lambda: fast.stats.keepalives >= 5, 5, "the fast client's keepalives")
    assert slow.stats.keepalives == 0
    assert HEARTBEAT.clients == 2
    fast.close()
    assert HEARTBEAT.clients == 1
    assert "lpbot-keepalive" in lpbot_threads()


def test_a_silent_socket_is_still_replaced_by_its_own_keepalive(sandbox, make_client):
    # Every answer is late: only the client whose GetClock came due finds it unanswered.
    ticking, recorder = make_client(keepalive_interval=0.02)
    waiting, _ = make_client(keepalive_interval=60.0)
    ticking.connect(timeout=10)
    waiting.connect(timeout=10)
    wait_until(lambda: ticking.stats.keepalives >= 2, 5, "keepalives")
    sandbox.faults.delay_responses(1.0)
    try:
        wait_until(lambda: ticking.stats.connects >= 2, 5, "the silent socket to be replaced")
    finally:
        sandbox.faults.delay_responses(0)
    assert "keepalive: GetClock unanswered" in [change.reason for change in recorder.states]
    assert waiting.stats.disconnects == 0


def test_a_slow_token_provider_delays_no_other_clients_keepalive(sandbox, make_client):
    # The refresh runs on the client's own short-lived thread, not on the shared one.
    asked = threading.Event()
    release = threading.Event()
    tokens = 0

    def slow_provider() -> str:
        nonlocal tokens
        tokens += 1
        if tokens > 1:  # the refresh ahead of expiry: hangs until the test lets it go
            asked.set()
            release.wait(10)
        return sandbox.mint_brand_token("customer-slow", lifetime=2)

    slow, _ = make_client(token_provider=slow_provider, keepalive_interval=0.05)
    other, _ = make_client(keepalive_interval=0.02)
    slow.connect(timeout=10)
    other.connect(timeout=10)
    try:
        assert asked.wait(10), "the refresh came due"
        counted = other.stats.keepalives
        wait_until(lambda: other.stats.keepalives >= counted + 5, 5,
                   "the other client's keepalives while the provider hangs")
        assert any(name.startswith("lpbot-refresh-") for name in lpbot_threads())
    finally:
        release.set()
    wait_until(lambda: slow.stats.token_refreshes >= 1, 5, "the refresh to finish")
    slow.close()
    assert not any(name.startswith("lpbot-refresh-") for name in lpbot_threads())


@pytest.fixture
def missing_ca(tmp_path: Path) -> str:
    return str(tmp_path / "no-such-ca.pem")


def test_a_missing_ca_file_is_one_line_naming_it(sandbox, missing_ca):
    with pytest.raises(CaFileError, match=r"^ca_file .*no-such-ca\.pem: no such file$"):
        Client(ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain,
                             ca_file=missing_ca))
    assert client_threads() == []


@pytest.mark.parametrize(("content", "cause"), [
    (b"\x00\x01binary garbage\xff" * 20, "holds no PEM certificate"),
    (b"<html>a login page</html>\n", "holds no PEM certificate"),
    (b"", "holds no PEM certificate"),
    (b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
     "not a PEM certificate bundle"),
])
def test_a_ca_file_that_is_not_pem_is_one_line_naming_the_cause(sandbox, tmp_path, content,
                                                                  cause):
    path = tmp_path / "ca.pem"
    path.write_bytes(content)
    with pytest.raises(CaFileError) as failure:
        Client(ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain,
                             ca_file=str(path)))
    assert str(failure.value).startswith(f"ca_file {path}: {cause}")
    assert "\n" not in str(failure.value)


def test_a_renewed_ca_file_gets_a_fresh_context(sandbox, tmp_path):
    path = tmp_path / "ca.pem"
    path.write_bytes(Path(sandbox.ca_file).read_bytes())
    first = tls_context(path)
    assert tls_context(path) is first
    path.write_bytes(Path(sandbox.ca_file).read_bytes() + b"\n")
    assert tls_context(path) is not first


@pytest.fixture
def other_host(tmp_path: Path) -> Iterator[tuple[ScriptedCsds, str]]:
    """An HTTPS CSDS on 127.0.0.1 whose certificate names another host, and its (trusted) CA."""
    ca = trustme.CA()
    ca_file = str(tmp_path / "other-ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("other.example").configure_cert(context)
    with ScriptedCsds(200, {"baseURIs": []}, ssl_context=context) as csds:
        yield csds, ca_file


def test_a_certificate_for_another_host_is_refused_naming_the_cause(other_host):
    csds, ca_file = other_host
    client = Client(ClientOptions(account="123", csds_domain=csds.domain, ca_file=ca_file,
                                  backoff=FAST_BACKOFF))
    with pytest.raises(CertificateError) as failure:
        client.connect(timeout=10)
    assert "certificate is not valid for '127.0.0.1'" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert client.stats.retry_delays == ()  # trust is configuration: never retried
    assert client_threads() == []


def test_lpbot_run_with_a_missing_ca_file_exits_3_with_one_line(tmp_path, missing_ca):
    config = tmp_path / "lpbot.toml"
    config.write_text(f'[account]\nid = "123"\ncsds_domain = "127.0.0.1:9"\n'
                      f'ca_file = "{missing_ca}"\n[bot]\nconsumers = ["one"]\n')
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state")) as daemon:
        assert daemon.wait(timeout=30) == 3
    messages = "\n".join(daemon.messages())
    assert f"ca_file {missing_ca}: no such file" in messages
    assert "Traceback" not in messages
