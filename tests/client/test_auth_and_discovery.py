"""Identity over the sandbox's IDP: refresh ahead of expiry, secrets, TLS by default, retries."""

from __future__ import annotations

import logging
import socket
import threading

import pytest
import requests

from lpbot.client import ConnectionState
from lpbot.client.backoff import Backoff
from lpbot.client.discovery import Discovery
from lpbot.errors import ConfigError, ConnectionClosed
from lpbot.testing import wait_until

from .support import FAST_BACKOFF, agent_assigned

pytestmark = pytest.mark.lp_sandbox_tls  # auth: over plain and TLS


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_authenticated_token_is_refreshed_ahead_of_expiry(sandbox, make_client):
    minted: list[str] = []

    def provider() -> str:
        minted.append(sandbox.mint_brand_token("customer-9", lifetime=3))
        return minted[-1]

    # the LP token lives as long as the brand token: due for refresh after half of it
    client, recorder = make_client(token_provider=provider, keepalive_interval=0.05)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    consumer_id = client.consumer_id
    wait_until(lambda: client.stats.token_refreshes >= 1 and client.stats.connects >= 2
               and client.state is ConnectionState.CONNECTED, 5, "a planned reconnect")
    reasons = [s.reason for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert "token refreshed ahead of expiry" in reasons
    assert len(minted) >= 2
    assert client.consumer_id == consumer_id
    sandbox.agents.say(conversation.id, "still talking")
    assert "still talking" in recorder.wait_agent_texts(1)


def test_short_lived_token_is_refreshed_at_half_its_lifetime_not_on_every_tick(
        sandbox, make_client):
    minted: list[str] = []

    def provider() -> str:
        minted.append(sandbox.mint_brand_token("customer-7", lifetime=4))
        return minted[-1]

    # the token lives ~4 s, far less than refresh_ahead (300 s): with the keepalive ticking
    # every 50 ms, a refresh on every tick would re-open the socket ~40 times per lifetime
    client, recorder = make_client(token_provider=provider, keepalive_interval=0.05)
    assert client.options.refresh_ahead == 300
    client.connect(timeout=5)
    def refreshed_and_reconnected() -> bool:
        # a refresh is counted before its socket closes: wait for the reconnect it causes too
        stats = client.stats
        return (stats.token_refreshes >= 3 and stats.connects > stats.token_refreshes
                and client.state is ConnectionState.CONNECTED)

    wait_until(refreshed_and_reconnected, 30, "three planned refreshes")
    stats = client.stats
    # each token stayed in use for many ticks (about half its lifetime) before its refresh
    assert stats.keepalives >= 5 * stats.token_refreshes, stats
    assert stats.token_refreshes <= stats.connects - 1 <= stats.token_refreshes + 1
    reasons = {s.reason for s in recorder.states if s.state is ConnectionState.DISCONNECTED}
    assert reasons == {"token refreshed ahead of expiry"}  # never closed for expiry (4401)


def test_no_jwt_in_the_client_logs(sandbox, make_client, caplog):
    caplog.set_level(logging.DEBUG, logger="lpbot.client")
    client, _ = make_client(token_provider=lambda: sandbox.mint_brand_token("customer-1"))
    client.connect(timeout=5)
    client.open_conversation().send_text("hello")
    sandbox.faults.expire_tokens()
    wait_until(lambda: client.stats.token_refreshes == 1
               and client.state is ConnectionState.CONNECTED, 5, "a refreshed reconnect")
    client.close()
    records = [r for r in caplog.records if r.name.startswith("lpbot.client")]
    assert records
    assert not [r for r in records if "eyJ" in r.getMessage()]
    assert "eyJ" not in repr(client.options)


def test_tls_is_on_unless_configured_off(sandbox, make_client):
    # A client left at the default (https, verified against the system's CAs) fails: on a
    # plain sandbox instead of silently downgrading, on a TLS one as its CA is no one's.
    client, _ = make_client(tls=True, ca_file=None, backoff=Backoff.immediate())
    with pytest.raises(ConnectionClosed, match="CSDS"):
        client.connect(timeout=5)


def test_an_unknown_account_is_a_config_error_without_retries(sandbox, make_client):
    """CSDS answers 401 for an account it does not know (§1.1): retrying cannot help."""
    client, _ = make_client(account="no-such-account")
    with pytest.raises(ConfigError, match="401"):
        client.connect(timeout=5)
    assert client.stats.retry_delays == ()


def test_csds_lookup_is_retried_with_the_backoff_then_fails():
    delays: list[float] = []

    def record(stop: threading.Event, delay: float) -> bool:
        delays.append(delay)
        return stop.is_set()

    with requests.Session() as http:
        discovery = Discovery("acct", session=http, csds_domain=f"127.0.0.1:{closed_port()}",
                              tls=False, backoff=FAST_BACKOFF, waiter=record)
        with pytest.raises(ConnectionClosed, match="CSDS lookup failed"):
            discovery.host("idp")
    assert delays == [FAST_BACKOFF.delay(n) for n in range(3)]  # §3.5: 5, 10, 15 s (scaled)


def test_close_interrupts_a_retry_wait():
    stop = threading.Event()
    stop.set()
    with requests.Session() as http:
        discovery = Discovery("acct", session=http, csds_domain=f"127.0.0.1:{closed_port()}",
                              tls=False, backoff=Backoff(), stop=stop)
        with pytest.raises(ConnectionClosed, match="closed"):
            discovery.host("idp")  # would wait 5 s; the stop event ends the wait at once
