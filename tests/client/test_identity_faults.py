"""An identity the IDP refuses while the client runs: one ERROR line, FAILED, no retry loop.

A permanent refusal (HTTP 4xx other than 408/429) of the connector id or of a code ends that
consumer's attempts; a refused code is followed by one fresh code first; a 503 stays retried.
Each test runs a real client against a real sandbox whose identity service is broken on purpose
(``sandbox.faults.revoke_connector``, ``refuse_codes``, ``fail_identity``).
"""

from __future__ import annotations

import logging
import threading

import pytest

from lpbot.client import Client, ConnectionState
from lpbot.errors import ConnectionClosed, IdentityRefused
from lpbot.sandbox import IdentityOptions, Sandbox
from lpbot.testing import wait_until

from .support import QUIET_AGENTS

#: seconds a refused client may take to stop (with the tests' millisecond backoff)
BOUND = 10.0


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def reader_ended(client: Client) -> bool:
    name = f"lpbot-reader-{client.consumer_id}"
    return not any(t.name == name for t in threading.enumerate())


def assert_stopped_for_good(client: Client, caplog: pytest.LogCaptureFixture) -> str:
    """The client is FAILED with an IdentityRefused, said once at ERROR; returns that line."""
    wait_until(lambda: client.state is ConnectionState.FAILED, BOUND, "the client to give up")
    wait_until(lambda: reader_ended(client), BOUND, "the reader thread to end")
    assert isinstance(client.failure, IdentityRefused)
    assert client.stats.identity_refusals == 1
    errors = errors_logged(caplog)
    assert len(errors) == 1, errors
    assert client.consumer_id is not None
    assert client.consumer_id in errors[0]
    assert "eyJ" not in caplog.text  # no token reaches the log
    return errors[0]


def connected_code_client(sandbox: Sandbox, make_client, user: str) -> tuple[Client, list[str]]:
    """A connected client of the code flow, and the codes its provider handed out so far."""
    codes: list[str] = []

    def code() -> str:
        codes.append(sandbox.mint_auth_code(user))
        return codes[-1]

    client, _ = make_client(code_provider=code)
    client.connect(timeout=5)
    return client, codes


def test_a_connector_revoked_while_running_stops_the_consumer(sandbox, make_client, caplog):
    caplog.set_level(logging.INFO, logger="lpbot")
    client, recorder = make_client(connector_id="acr0")
    client.connect(timeout=5)
    conversation = client.open_conversation()

    sandbox.faults.revoke_connector()
    sandbox.faults.expire_tokens()  # 4407: the identity must be obtained again, and is refused
    line = assert_stopped_for_good(client, caplog)
    assert "/app/acr0/authenticate" in line
    assert "HTTP 403" in line
    assert "connector acr0 is disabled" in line
    states = [s.state for s in recorder.states]
    assert states[-1] is ConnectionState.FAILED
    assert ConnectionState.RECONNECTING not in states[states.index(ConnectionState.DISCONNECTED):]
    # a request fails at once, not after waiting request_timeout for a reconnect that never comes
    with pytest.raises(ConnectionClosed, match="gave up"):
        conversation.send_text("anyone there?")


def test_a_connector_revoked_before_a_refresh_ahead_of_expiry_stops_the_consumer(
        make_client, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="lpbot")
    with Sandbox(host="127.0.0.1", port=0, ws_port=0, tls=sandbox.tls, agents=QUIET_AGENTS,
                 identity=IdentityOptions(anonymous_lifetime=2)) as short:
        client, _ = make_client(connector_id="acr0", csds_domain=short.csds_domain,
                                ca_file=short.ca_file, keepalive_interval=0.05)
        client.connect(timeout=5)
        short.faults.revoke_connector()  # the keepalive's refresh (at half the 2 s) is refused
        line = assert_stopped_for_good(client, caplog)
        assert "HTTP 403" in line
        assert client.stats.token_refreshes == 0
        client.close()


def test_a_code_refused_twice_while_running_stops_the_consumer(sandbox, make_client, caplog):
    caplog.set_level(logging.INFO, logger="lpbot")
    client, codes = connected_code_client(sandbox, make_client, "customer-7")

    sandbox.faults.refuse_codes(2)
    sandbox.faults.expire_tokens()  # 4401: a fresh token, from a fresh code
    line = assert_stopped_for_good(client, caplog)
    assert len(codes) == 3  # the first code, the refused one, ONE fresh one: then no more
    assert "/app/default/authenticate" in line
    assert "HTTP 400 invalid_code" in line
    assert "a fresh code from the provider was refused too" in line
    assert not any(issued in caplog.text for issued in codes)  # codes are secrets too


def test_a_code_refused_once_is_followed_by_one_fresh_code_at_once(sandbox, make_client,
                                                                   caplog):
    caplog.set_level(logging.INFO, logger="lpbot")
    client, codes = connected_code_client(sandbox, make_client, "customer-8")
    consumer_id = client.consumer_id

    sandbox.faults.refuse_codes(1)
    sandbox.faults.expire_tokens()
    wait_until(lambda: client.stats.token_refreshes >= 1
               and client.state is ConnectionState.CONNECTED, BOUND, "a refreshed reconnect")
    assert len(codes) == 3
    assert client.consumer_id == consumer_id
    assert client.stats.identity_refusals == 0
    # the fresh code went at once, and the socket re-opened at once: no backoff
    assert set(client.stats.retry_delays) == {0.0}
    assert client.failure is None
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_an_identity_service_answering_503_is_still_retried(sandbox, make_client, caplog):
    caplog.set_level(logging.INFO, logger="lpbot")
    client, _ = make_client(connector_id="acr0")
    client.connect(timeout=5)
    consumer_id = client.consumer_id

    # more failures than one call's request retries (3): the reader backs off and tries again
    sandbox.faults.fail_identity(6, status=503)
    sandbox.faults.expire_tokens()
    wait_until(lambda: client.stats.token_refreshes >= 1
               and client.state is ConnectionState.CONNECTED, BOUND, "a refreshed reconnect")
    assert client.consumer_id == consumer_id
    assert client.failure is None
    assert client.stats.identity_refusals == 0
    assert errors_logged(caplog) == []
    assert any("cannot renew credentials" in r.getMessage() for r in caplog.records)
