"""The conversation's messaging dialog beside CoBrowse, voice and video dialogs (§6.1 Example D).

Over real sockets against the sandbox, whose agent opens such a dialog (``agents.invite``).
"""

from __future__ import annotations

from typing import Any

from lpbot.client.dialogs import cobrowse_dialogs
from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.testing import wait_until

from .support import agent_assigned

CO_BROWSE: dict[str, Any] = {**DEFAULT_CLIENT_PROPERTIES,
                             "features": [*DEFAULT_CLIENT_PROPERTIES["features"], "CO_BROWSE"]}


def test_receipts_and_chat_states_go_to_main_beside_a_cobrowse_dialog(sandbox, make_client):
    client, recorder = make_client(client_properties=CO_BROWSE)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "let me show you")
    recorder.wait_agent_texts(1)
    agent_sequence = recorder.sequences(conversation.id)[-1]
    dialog_id = sandbox.agents.invite(conversation.id, "cobrowse")
    wait_until(lambda: cobrowse_dialogs(conversation.state), 5, "the CoBrowse dialog")
    [dialog] = cobrowse_dialogs(conversation.state)
    assert (dialog.dialog_id, dialog.kind, dialog.session_state) == (dialog_id, "cobrowse",
                                                                    "INVITED")

    conversation.mark_read([agent_sequence])  # each call returns once the server answered
    conversation.set_chat_state("COMPOSING")
    conversation.send_text("go ahead")
    mine = [e for e in sandbox.conversation(conversation.id).events if e.role == "CONSUMER"]
    assert {e.event_type for e in mine} >= {"AcceptStatusEvent", "ContentEvent"}
    assert {e.dialog_id for e in mine} == {conversation.id}  # never the CoBrowse dialog


def test_an_explicit_subscription_leaves_the_cobrowse_dialog_alone_unless_asked(
        sandbox, make_client):
    client, _ = make_client(client_properties=CO_BROWSE, auto_follow=False)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    dialog_id = sandbox.agents.invite(conversation.id, "voice")
    wait_until(lambda: cobrowse_dialogs(conversation.state), 5, "the voice dialog")
    conversation.unsubscribe()
    conversation.subscribe()
    assert client.stats.retained_dialogs == 1  # MAIN only: no stream for the call
    conversation.follow_dialog(dialog_id)  # asked for: followed like any dialog
    assert client.stats.retained_dialogs == 2


def test_during_a_survey_messages_go_to_the_survey_and_the_conversation_stays_the_open_one(
        sandbox, make_client):
    multi_dialog = {**DEFAULT_CLIENT_PROPERTIES,
                    "features": [*DEFAULT_CLIENT_PROPERTIES["features"], "MULTI_DIALOG"]}
    client, _ = make_client(client_properties=multi_dialog)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.close(conversation.id, survey=True)
    wait_until(lambda: conversation.dialog_id != conversation.id, 5, "the survey dialog")
    survey = conversation.dialog_id
    assert client.open_conversation() == conversation  # not a 400: the survey is running
    conversation.set_chat_state("COMPOSING")
    conversation.send_text("5")
    mine = [e for e in sandbox.conversation(conversation.id).events
            if e.role == "CONSUMER" and e.dialog_id == survey]
    assert {e.event_type for e in mine} == {"ChatStateEvent", "ContentEvent"}
    assert [e.text for e in mine if e.text is not None] == ["5"]
