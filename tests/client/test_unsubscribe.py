"""Unsubscribed and forgotten conversations stay quiet.

Over real sockets against the sandbox, whose own state (``sandbox.subscriptions``,
``sandbox.unsubscribes``) says what the server holds for the client.
"""

from __future__ import annotations

from lpbot.client import ConnectionState
from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.protocol.requests import GetClock
from lpbot.testing import wait_until

from .support import agent_assigned

MULTI_DIALOG = {**DEFAULT_CLIENT_PROPERTIES,
                "features": [*DEFAULT_CLIENT_PROPERTIES["features"], "MULTI_DIALOG"]}


def reconnected(client, connects: int = 2) -> bool:
    return client.stats.connects == connects and client.state is ConnectionState.CONNECTED


def subscribed_dialogs(sandbox, client) -> frozenset[str]:
    """The dialogs the client's one socket is subscribed to, once the server read all it sent."""
    client.request(GetClock())  # answered after every subscription sent before it
    wait_until(lambda: len(sandbox.subscriptions(client.consumer_id)) == 1, 5, "one socket")
    [socket] = sandbox.subscriptions(client.consumer_id)
    return socket.dialogs


def test_an_unsubscribed_conversation_stays_quiet_across_a_reconnect(sandbox, make_client):
    client, recorder = make_client()  # auto_follow: every conversation is followed by default
    client.connect(timeout=5)
    with client.open_conversation() as conversation:
        agent_assigned(sandbox, conversation.id)
        sandbox.agents.say(conversation.id, "inside")
        recorder.wait_agent_texts(1)
    assert client.stats.retained_dialogs == 0  # nothing kept per dialog once unsubscribed
    changes = len(recorder.changes)

    # The socket still carries the dialog (the protocol cannot end it): dropped and counted.
    sandbox.agents.say(conversation.id, "outside")
    wait_until(lambda: client.stats.dropped_events == 1, 5, "the dropped event")

    sandbox.faults.drop_all()
    wait_until(lambda: reconnected(client), 5, "the reconnect")
    assert conversation.id not in subscribed_dialogs(sandbox, client)
    assert client.stats.dropped_changes >= 1  # the new socket's snapshot reported it again

    sandbox.agents.say(conversation.id, "after the reconnect")
    sandbox.agents.close(conversation.id)
    wait_until(lambda: not conversation.is_open, 5, "the close")  # its state is still kept
    assert recorder.agent_texts() == ["inside"]
    assert len(recorder.changes) == changes
    assert client.stats.retained_dialogs == 0

    conversation.subscribe()  # asked again: followed again, resuming after "inside"
    wait_until(lambda: recorder.agent_texts() == ["inside", "outside", "after the reconnect"],
               5, "the missed messages")


def test_a_dialog_opened_after_the_unsubscribe_is_not_followed(sandbox, make_client):
    client, recorder = make_client(client_properties=MULTI_DIALOG)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    conversation.unsubscribe()
    sandbox.agents.close(conversation.id, survey=True)
    wait_until(lambda: conversation.dialog_id != conversation.id, 5, "the survey dialog")
    survey = conversation.dialog_id
    conversation.send_text("5")  # the survey bot answers and closes the survey
    wait_until(lambda: conversation.state.stage == "CLOSE", 5, "the survey to complete")
    assert survey not in subscribed_dialogs(sandbox, client)
    assert [e for e in recorder.events if e.dialog_id == survey] == []


def test_a_forgotten_conversation_is_not_brought_back_by_a_reconnect(sandbox, make_client):
    client, recorder = make_client(closed_retention=0.2, keepalive_interval=0.02)
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "hello")
    recorder.wait_agent_texts(1)
    conversation.close()
    wait_until(lambda: client.stats.retained_handles == 0 and client.conversations() == [],
               5, "the closed conversation to be forgotten")
    changes = len(recorder.changes)

    sandbox.faults.drop_all()
    wait_until(lambda: reconnected(client), 5, "the reconnect")
    # The new socket's snapshot reports it closed: dropped, counted, nothing re-created.
    assert client.stats.dropped_changes >= 1
    assert client.conversations() == []
    assert (client.stats.retained_dialogs, client.stats.retained_handles) == (0, 0)
    assert len(recorder.changes) == changes
    assert conversation.id not in subscribed_dialogs(sandbox, client)

    handle = client.conversation(conversation.id)  # asked for by id: a new handle
    assert handle is not conversation
    assert handle.state is None
