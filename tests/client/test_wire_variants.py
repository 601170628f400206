"""The client against every documented variant of what the server sends (protocol notes §4.4, §6,
§9), and against dialogs that carry no messages (CoBrowse, voice, video; §6.1 Example D)."""

from __future__ import annotations

from typing import Any

import pytest

from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.protocol.names import Role
from lpbot.sandbox.survey import SURVEY_QUESTION
from lpbot.testing import wait_until

from .support import QUIET_AGENTS, agent_assigned


def _with(*features: str) -> dict[str, Any]:
    return {**DEFAULT_CLIENT_PROPERTIES,
            "features": [*DEFAULT_CLIENT_PROPERTIES["features"], *features]}


@pytest.fixture(params=["canonical", "legacy"])
def lp_sandbox_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"agents": QUIET_AGENTS, "wire_variants": request.param}


def test_flow_in_every_variant(sandbox, make_client):
    """Roles, conversation ids, kind-less responses and single-event bodies are all read."""
    client, recorder = make_client(client_properties=_with("MULTI_DIALOG"))
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_id = agent_assigned(sandbox, conversation.id)
    wait_until(lambda: conversation.agent_id == agent_id, 5, "the agent in the metadata")
    conversation.send_text("hello")
    sandbox.agents.say(conversation.id, "how can I help?")
    assert recorder.wait_agent_texts(1) == ["how can I help?"]
    reply = next(e for e in recorder.events if e.sequence is not None and e.role != Role.CONSUMER)
    assert (reply.role, reply.originator_id, reply.conversation_id) == (
        Role.ASSIGNED_AGENT, agent_id, conversation.id)
    own = next(e for e in recorder.events if e.role == Role.CONSUMER)
    assert own.event.text == "hello"
    conversation.set_ttr("URGENT", 300)  # answered without kind in legacy (§5.4)
    wait_until(lambda: sandbox.conversation(conversation.id).ttr[0] == "URGENT", 5, "TTR")

    # the survey: the bot is AGENT there, the assigned agent a READER (§6.1 Example C)
    sandbox.agents.close(conversation.id, survey=True)
    wait_until(lambda: any(e.event.text == SURVEY_QUESTION for e in list(recorder.events)
                           if hasattr(e.event, "text")), 5, "the survey question")
    question = next(e for e in recorder.events
                    if getattr(e.event, "text", None) == SURVEY_QUESTION)
    assert (question.role, question.conversation_id) == (Role.AGENT, conversation.id)
    # a running survey keeps the conversation the consumer's open one (§7.2)
    assert client.open_conversation() == conversation
    conversation.send_text("5")
    wait_until(lambda: sandbox.conversation(conversation.id).stage == "CLOSE", 5, "the end")
    assert client.stats.duplicates == 0


def test_text_goes_to_the_main_dialog_beside_a_cobrowse_session(sandbox, make_client):
    client, _ = make_client(client_properties=_with("CO_BROWSE"))
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    dialog_id = sandbox.agents.invite(conversation.id, "video")
    wait_until(lambda: len(conversation.state.dialogs) == 2, 5, "the video dialog")
    assert conversation.dialog_id == conversation.id
    conversation.send_text("can you see me?")
    message = sandbox.wait_for_consumer_message(conversation.id)
    assert message.dialog_id == conversation.id
    sandbox.agents.session_state(conversation.id, dialog_id, "CLOSED")
    wait_until(lambda: not conversation.state.dialogs[1].is_open, 5, "the call's end")
    assert conversation.is_open
