"""A long-lived consumer forgets closed conversations: bounded memory, nothing delivered twice."""

from __future__ import annotations

import pytest

from lpbot.client import ConnectionState
from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.errors import RequestRejected
from lpbot.protocol.names import Role
from lpbot.sandbox.survey import SURVEY_QUESTION
from lpbot.testing import wait_until

from .support import agent_assigned

MULTI_DIALOG = {**DEFAULT_CLIENT_PROPERTIES,
                "features": [*DEFAULT_CLIENT_PROPERTIES["features"], "MULTI_DIALOG"]}


def retained(client) -> tuple[int, int, int]:
    stats = client.stats
    return stats.retained_conversations, stats.retained_dialogs, stats.retained_handles


def forgotten(client) -> bool:
    return retained(client) == (0, 0, 0)


def survey_texts(recorder, conversation_id: str) -> list[str]:
    return [e.event.text for e in list(recorder.events)
            if e.conversation_id == conversation_id and e.dialog_id != conversation_id
            and e.role == Role.AGENT and e.sequence is not None]


def test_closed_conversations_are_forgotten_and_never_delivered_twice(
        sandbox, make_client, tmp_path):
    options = {"closed_retention": 2.0, "keepalive_interval": 0.02,
               "client_properties": MULTI_DIALOG}
    client, recorder = make_client(**options)
    client.connect(timeout=5)
    handles = []
    for n in range(12):
        conversation = client.open_conversation()
        assert conversation not in handles
        handles.append(conversation)
        agent_assigned(sandbox, conversation.id)
        sandbox.agents.say(conversation.id, f"hello {n}")
        wait_until(lambda n=n: f"hello {n}" in recorder.agent_texts(), 5, "the agent's message")
        if n % 2:
            # The agent closes the main dialog; the survey's events come after that close.
            sandbox.agents.close(conversation.id, survey=True)
            wait_until(lambda c=conversation: survey_texts(recorder, c.id), 5, "the survey")
            conversation.send_text("5")
            wait_until(lambda c=conversation: survey_texts(recorder, c.id) == [
                SURVEY_QUESTION, "Thank you!"], 5, "the survey's end")
        else:
            conversation.close()
            wait_until(lambda c=conversation: not c.is_open, 5, "the close")
        # Within the retention the conversation keeps its handle, and a CSAT given after the
        # close still reaches the client; after a survey, CSAT is refused (§7.7: never both).
        assert client.conversation(conversation.id) is conversation
        if n % 2:
            with pytest.raises(RequestRejected) as refused:
                conversation.rate(5, resolved=True)
            assert refused.value.code == 400
            continue
        conversation.rate(5, resolved=True)
        wait_until(lambda c=conversation: recorder.rated(c.id), 5, "the CSAT change")

    wait_until(lambda: forgotten(client), 10, "every closed conversation to be forgotten")
    assert client.conversations() == []
    assert client.stats.forgotten_dialogs >= 12 + 6  # the survey dialogs too
    delivered = recorder.delivered()
    assert len(delivered) == len(set(delivered))

    # A forgotten conversation followed again, or reported again after a reconnect, resumes
    # after its last sequence: nothing is delivered twice.
    handle = client.conversation(handles[0].id)
    assert handle is not handles[0]  # made again on demand
    handle.subscribe()
    sandbox.faults.drop_all()
    wait_until(lambda: client.stats.connects == 2 and client.state is ConnectionState.CONNECTED,
               5, "the reconnect")
    wait_until(lambda: forgotten(client), 10, "the re-reported closed conversations to go")
    assert recorder.delivered() == delivered
    client.close()

    # So does a restart on the same state directory (the committed sequences are resumed).
    again, again_recorder = make_client(**options)
    again.connect(timeout=5)
    assert again.consumer_id == client.consumer_id
    wait_until(lambda: forgotten(again), 10, "the restored dialogs to be forgotten")
    agent_events = [e for e in again_recorder.events if e.role == Role.ASSIGNED_AGENT]
    assert agent_events == []
    assert again_recorder.delivered() == []
