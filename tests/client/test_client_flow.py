"""The getting-started flow through the client API, over real sockets to the sandbox."""

from __future__ import annotations

import pytest

from lpbot.client import ConnectionState
from lpbot.client.discovery import Discovery
from lpbot.protocol.names import Role
from lpbot.testing import wait_until

from .support import agent_assigned, client_threads

pytestmark = pytest.mark.lp_sandbox_tls  # connect: over plain and TLS


def test_getting_started_flow(sandbox, make_client, tmp_path):
    client, recorder = make_client()
    client.connect(timeout=5)
    assert client.state is ConnectionState.CONNECTED
    assert client_threads() == [f"lpbot-reader-{client.consumer_id}",
                                "lpbot-keepalive"]

    conversation = client.open_conversation(ttr="NORMAL")
    assert conversation.state is not None
    assert conversation.state.consumer_id == client.consumer_id
    agent_id = agent_assigned(sandbox, conversation.id)

    sequence = conversation.send_text("hello")
    message = sandbox.wait_for_consumer_message(conversation.id)
    assert message.sequence == sequence
    assert message.event["message"] == "hello"

    sandbox.agents.say(conversation.id, "how can I help?")
    assert recorder.wait_agent_texts(1) == ["how can I help?"]
    agent_sequence = recorder.events[-1].sequence
    conversation.mark_accepted([agent_sequence])
    conversation.mark_read([agent_sequence])
    conversation.set_chat_state("COMPOSING")
    conversation.send_rich_content({"type": "vertical", "elements": [
        {"type": "text", "text": "card"}]})
    sandbox.wait_for_event(conversation.id, lambda e: e.event.get("type") == "RichContentEvent")

    conversation.set_ttr("URGENT", 300)
    wait_until(lambda: sandbox.conversation(conversation.id).ttr[0] == "URGENT", 5, "TTR")
    wait_until(lambda: conversation.agent_id == agent_id, 5, "the agent in the metadata")
    profile = conversation.agent_profile()
    assert profile is not None
    assert profile.agent_id == agent_id
    assert profile.nickname

    conversation.close()
    wait_until(lambda: not conversation.is_open, 5, "the conversation to close")
    conversation.rate(5, resolved=True)
    wait_until(lambda: sandbox.conversation(conversation.id).csat, 5, "CSAT")
    # every message of the dialog arrived once, in order (the echo of our own ones too)
    sequences = recorder.sequences(conversation.id)
    assert sequences == sorted(set(sequences))
    assert client.stats.duplicates == 0


def test_restarted_client_is_the_same_consumer_and_reuses_its_open_conversation(
        sandbox, make_client, tmp_path):
    first, first_recorder = make_client()
    first.connect(timeout=5)
    conversation = first.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "one")
    first_recorder.wait_agent_texts(1)  # handled, hence committed
    consumer_id = first.consumer_id
    first.close()

    sandbox.agents.say(conversation.id, "two")  # while the bot is down
    second, recorder = make_client()
    second.connect(timeout=5)
    assert second.consumer_id == consumer_id
    assert second.open_conversation().id == conversation.id
    assert recorder.wait_agent_texts(1) == ["two"]  # "one" was committed before the restart
    assert len(sandbox.conversations(consumer_id=consumer_id)) == 1


@pytest.mark.lp_sandbox_tls(True)
def test_the_ca_in_the_environment_is_trusted_without_ca_file(sandbox, make_client, monkeypatch):
    # requests reads REQUESTS_CA_BUNDLE, the WebSocket's ssl context OpenSSL's SSL_CERT_FILE
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_file)
    monkeypatch.setenv("SSL_CERT_FILE", sandbox.ca_file)
    client, _ = make_client(ca_file=None)
    client.connect(timeout=5)
    assert client.state is ConnectionState.CONNECTED


def test_init_connection_mode(sandbox, make_client):
    client, recorder = make_client(auth_mode="init")
    client.connect(timeout=5)
    conversation = client.open_conversation()
    assert conversation.send_text("via InitConnection") >= 0
    wait_until(lambda: recorder.sequences(conversation.id), 5, "the echo")


def test_authenticated_flow_with_a_token_provider(sandbox, make_client):
    client, _ = make_client(token_provider=lambda: sandbox.mint_brand_token("user-42"))
    client.connect(timeout=5)
    assert client.identity is not None
    assert client.identity.authenticated
    assert "eyJ" not in repr(client.identity)
    assert client.open_conversation().send_text("authenticated") >= 0


def test_handle_lifetime_scopes_delivery(sandbox, make_client):
    client, recorder = make_client(auto_follow=False)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    with conversation:
        sandbox.agents.say(conversation.id, "inside")
        recorder.wait_agent_texts(1)
    sandbox.agents.say(conversation.id, "outside")
    conversation.send_text("marker")  # our own echo is muted too once the handle is done
    sandbox.wait_for_consumer_message(conversation.id)
    assert recorder.agent_texts() == ["inside"]


def test_discovery_is_cached_and_tls_is_the_default(sandbox):
    import requests

    with requests.Session() as http:
        http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        http.verify = sandbox.ca_file or True
        discovery = Discovery(sandbox.account, session=http, csds_domain=sandbox.csds_domain,
                              tls=sandbox.tls)
        assert discovery.host("idp") == discovery.host("asyncMessagingEnt").replace(
            str(sandbox.ws_port), str(sandbox.http_port))
        discovery.host("acCdnDomain")
        assert discovery.fetches == 1
        discovery.invalidate()
        discovery.host("idp")
        assert discovery.fetches == 2
        secure = Discovery("acct", session=http)
        assert secure.csds_url().startswith("https://api.liveperson.net/")
        assert secure.ws_scheme == "wss"


def test_role_of_own_echo_is_consumer(sandbox, make_client):
    client, recorder = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    conversation.send_text("echo me")
    event = wait_until(lambda: next((e for e in recorder.events if e.role == Role.CONSUMER),
                                    None), 5, "our own echo")
    assert event.originator_id == client.consumer_id


def test_one_handle_per_conversation_with_its_stash(sandbox, make_client):
    from lpbot.stash import StashKey

    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    key = StashKey[int]()
    conversation.stash[key] = 7
    again = client.conversation(conversation.id)
    assert again is conversation
    assert again.stash[key] == 7


def test_post_conversation_survey_dialog_is_followed_and_answered(sandbox, make_client):
    from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES

    features = [*DEFAULT_CLIENT_PROPERTIES["features"], "MULTI_DIALOG"]
    client, recorder = make_client(
        client_properties={**DEFAULT_CLIENT_PROPERTIES, "features": features})
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.close(conversation.id, survey=True)
    question = wait_until(lambda: next((e for e in recorder.events
                                        if e.dialog_id != conversation.id
                                        and e.role == Role.AGENT), None), 5, "the survey")
    assert conversation.dialog_id == question.dialog_id
    conversation.send_text("5")  # goes to the survey dialog
    wait_until(lambda: conversation.state.stage == "CLOSE", 5, "the survey to complete")
    survey_sequences = recorder.sequences(question.dialog_id)
    assert survey_sequences == sorted(set(survey_sequences))
