"""Production identities over the sandbox's IDP: ACR0 (anonymous), code flow, what keeps a consumer.

Each test runs a real client against a real sandbox; the sandbox's IDP plays LivePerson's
(protocol notes §2.3, §2.4) as docs/sandbox-production.md describes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import requests

from lpbot.client import ConnectionState
from lpbot.client.state import StateStore, StoredIdentity
from lpbot.errors import AuthError
from lpbot.sandbox import IdentityOptions, Sandbox
from lpbot.testing import wait_until

from .support import QUIET_AGENTS, agent_assigned
from .test_identity import make_jwt

#: how long the sandbox lets an expired ACR0 token be refreshed, in these tests
WINDOW = 60.0


@pytest.fixture
def lp_sandbox_options() -> dict[str, object]:
    return {"agents": QUIET_AGENTS, "identity": IdentityOptions(refresh_window=WINDOW)}


def renewals_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "replaces consumer" in r.getMessage()]


def test_an_anonymous_consumer_keeps_its_id_when_its_token_expires(sandbox, make_client,
                                                                    caplog):
    caplog.set_level(logging.INFO, logger="lpbot.client")
    client, recorder = make_client(connector_id="acr0")
    client.connect(timeout=5)
    consumer_id = client.consumer_id
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)

    sandbox.faults.expire_tokens()  # 4407: "extend the unauthenticated identity" (§2.5)
    wait_until(lambda: client.stats.token_refreshes >= 1
               and client.state is ConnectionState.CONNECTED, 5, "a refreshed reconnect")
    closes = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert closes[0].code == 4407
    assert client.consumer_id == consumer_id  # §2.4 step 3: the same consumer
    assert client.stats.identity_renewals == 0
    assert renewals_logged(caplog) == []
    sandbox.agents.say(conversation.id, "after the refresh")
    assert recorder.wait_agent_texts(1) == ["after the refresh"]
    assert conversation.send_text("still the same consumer") >= 0


def test_an_anonymous_token_is_refreshed_ahead_of_its_ten_minutes(make_client, sandbox):
    with Sandbox(host="127.0.0.1", port=0, ws_port=0, tls=sandbox.tls, agents=QUIET_AGENTS,
                 identity=IdentityOptions(anonymous_lifetime=2)) as short:
        client, recorder = make_client(connector_id="acr0", csds_domain=short.csds_domain,
                                       ca_file=short.ca_file, keepalive_interval=0.05)
        client.connect(timeout=5)
        consumer_id = client.consumer_id
        wait_until(lambda: client.stats.token_refreshes >= 2 and client.stats.connects >= 3
                   and client.state is ConnectionState.CONNECTED, 15, "two planned refreshes")
        reasons = {s.reason for s in recorder.states if s.state is ConnectionState.DISCONNECTED}
        assert reasons == {"token refreshed ahead of expiry"}  # never closed with 4407
        assert client.consumer_id == consumer_id
        client.close()


def test_a_restarted_anonymous_consumer_refreshes_its_stored_identity(sandbox, make_client,
                                                                       tmp_path):
    first, _ = make_client(state_dir=tmp_path / "state", connector_id="acr0")
    first.connect(timeout=5)
    consumer_id = first.consumer_id
    conversation_id = first.open_conversation().id
    first.close()

    sandbox.faults.expire_tokens()  # the stored consumer token is refused at the upgrade (401)
    second, recorder = make_client(state_dir=tmp_path / "state", connector_id="acr0")
    second.connect(timeout=5)
    assert second.consumer_id == consumer_id
    assert second.open_conversation().id == conversation_id  # its open conversation again
    refused = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert refused[0].http_status == 401
    assert second.stats.identity_renewals == 0


def test_a_stored_anonymous_identity_past_its_refresh_window_is_one_clear_error(
        sandbox, make_client, tmp_path):
    # An external token issued long ago: it expired more than the refresh window ago.
    sandbox.identity.clock = lambda: time.time() - 100 * WINDOW
    verify = sandbox.ca_file or True
    external = requests.post(
        f"{sandbox.http_url}/api/account/{sandbox.account}/anonymous/authorize",
        headers={"Content-Type": "application/json"}, timeout=5, verify=verify).json()["token"]
    sandbox.identity.clock = time.time
    state = tmp_path / "state"
    with StateStore(state) as store:
        store.save_identity(f"{sandbox.account}/default", StoredIdentity(
            consumer_id="consumer-gone", token=make_jwt({"sub": "consumer-gone", "exp": 1}),
            authenticated=False, external_token=external))

    client, _ = make_client(state_dir=state, connector_id="acr0")
    with pytest.raises(AuthError) as caught:
        client.connect(timeout=5)
    message = str(caught.value)
    assert "consumer-gone" in message
    assert "refresh window has passed" in message
    assert "eyJ" not in message
    assert client.stats.retry_delays == ()  # refused once, not retried


def test_an_anonymous_consumer_past_its_window_while_running_is_renewed_with_a_warning(
        make_client, sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.client")
    # tokens that live 1 s and can be refreshed for 1 ms after: the window passes at once
    with Sandbox(host="127.0.0.1", port=0, ws_port=0, tls=sandbox.tls, agents=QUIET_AGENTS,
                 identity=IdentityOptions(anonymous_lifetime=1, refresh_window=0.001)) as short:
        client, _ = make_client(connector_id="acr0", csds_domain=short.csds_domain,
                                ca_file=short.ca_file)
        client.connect(timeout=5)
        old = client.consumer_id
        wait_until(lambda: client.stats.identity_renewals >= 1, 10, "a renewed identity")
        wait_until(lambda: client.consumer_id != old, 5, "the new consumer adopted")
        logged = renewals_logged(caplog)
        assert logged
        assert old in logged[0]
        assert any("can no longer be refreshed" in r.getMessage()
                   and "refresh window has passed" in r.getMessage() for r in caplog.records)
        client.close()


def test_a_connector_the_idp_refuses_is_one_clear_error(make_client):
    client, _ = make_client(connector_id="no-such-connector")
    with pytest.raises(AuthError, match="unknown_connector") as caught:
        client.connect(timeout=5)
    assert "no-such-connector" in str(caught.value)
    assert client.stats.retry_delays == ()


def test_the_code_flow_keeps_its_consumer_across_refreshes(sandbox, make_client):
    codes: list[str] = []

    def code() -> str:
        codes.append(sandbox.mint_auth_code("customer-5"))
        return codes[-1]

    client, recorder = make_client(code_provider=code)
    client.connect(timeout=5)
    consumer_id = client.consumer_id
    conversation = client.open_conversation()
    sandbox.faults.expire_tokens()  # 4401: a fresh token from the brand (§2.5)
    wait_until(lambda: client.stats.token_refreshes >= 1
               and client.state is ConnectionState.CONNECTED, 5, "a refreshed reconnect")
    closes = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert closes[0].code == 4401
    assert len(codes) == 2  # a code is used once: a new one for each token
    assert client.consumer_id == consumer_id
    assert client.stats.identity_renewals == 0
    assert conversation.send_text("after the refresh") >= 0


def test_a_code_the_token_endpoint_refuses_is_one_clear_error(make_client):
    client, _ = make_client(code_provider=lambda: "a-code-nobody-issued")
    with pytest.raises(AuthError, match="invalid_code"):
        client.connect(timeout=5)
    assert client.stats.retry_delays == ()


def test_a_1008_close_does_not_change_a_signup_consumer(sandbox, make_client, caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.client")
    client, recorder = make_client()
    client.connect(timeout=5)
    consumer_id = client.consumer_id
    conversation = client.open_conversation()
    sandbox.faults.drop_all(1008)  # what a late InitConnection gets (§8.1)
    wait_until(lambda: client.stats.connects >= 2 and client.state is ConnectionState.CONNECTED,
               5, "a reconnect")
    closes = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert closes[0].code == 1008
    assert client.consumer_id == consumer_id
    assert client.stats.identity_renewals == 0
    assert renewals_logged(caplog) == []
    assert conversation.send_text("same consumer, same conversation") >= 0


def test_an_expired_signup_identity_is_renewed_once_with_a_warning(sandbox, make_client,
                                                                    caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.client")
    client, _ = make_client()
    client.connect(timeout=5)
    old = client.consumer_id
    sandbox.faults.expire_tokens()  # 4407: a signup identity cannot be extended (§2.5, §10)
    wait_until(lambda: client.stats.identity_renewals >= 1
               and client.state is ConnectionState.CONNECTED, 5, "a renewed identity")
    assert client.stats.identity_renewals == 1
    assert client.stats.token_refreshes == 0
    logged = renewals_logged(caplog)
    assert len(logged) == 1
    assert old in logged[0]
    assert str(client.consumer_id) in logged[0]


def test_an_anonymous_identity_is_persisted_without_showing_tokens(make_client,
                                                                     tmp_path: Path):
    client, _ = make_client(state_dir=tmp_path / "state", connector_id="acr0")
    client.connect(timeout=5)
    stored = client.store.load_identity(client.identities.key) if client.store else None
    assert stored is not None
    assert stored.external_token is not None
    assert stored.consumer_id == client.consumer_id
    assert "eyJ" not in repr(stored)
    assert "eyJ" not in repr(client.identity)
