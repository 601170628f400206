"""Unsubscribed and forgotten conversations stay quiet; closing ends the conversation stream.

Over real sockets against the sandbox, whose own state (``sandbox.subscriptions``,
``sandbox.unsubscribes``) says what the server holds for the client.
"""

from __future__ import annotations

import logging

from lpbot.client import ConnectionState
from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.protocol.names import Role
from lpbot.protocol.requests import GetClock
from lpbot.testing import wait_until

from .support import agent_assigned, client_threads

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


def test_closing_the_client_unsubscribes_its_conversation_stream(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    [socket] = sandbox.subscriptions(client.consumer_id)
    assert len(socket.conversation_streams) == 1
    client.close()
    assert sandbox.unsubscribes == 1  # close() waited for the answer


def test_a_server_that_does_not_answer_does_not_delay_close(sandbox, make_client, caplog):
    client, _ = make_client()
    client.connect(timeout=5)
    sandbox.faults.delay_responses(60)
    with caplog.at_level(logging.WARNING, logger="lpbot.client"):
        client.close(timeout=1.0)
    # The reader answered the close frame and was joined within the close timeout.
    assert [r.message for r in caplog.records if "did not stop" in r.message] == []
    assert client_threads() == []
    wait_until(lambda: sandbox.unsubscribes == 1, 5, "the unsubscribe")  # sent all the same


def test_closing_from_a_callback_sends_the_unsubscribe_without_waiting(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    client.on_message = lambda event: event.role == Role.ASSIGNED_AGENT and client.close()
    sandbox.agents.say(conversation.id, "close yourself")
    wait_until(lambda: client.state is ConnectionState.CLOSED and not client_threads(), 5,
               "the reader thread to end by itself")
    assert sandbox.unsubscribes == 1
