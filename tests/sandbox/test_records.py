"""The records API: what tests compare a client's view with."""

from __future__ import annotations

import dataclasses

import pytest

from lpbot.sandbox import ConversationRecord, Sandbox

from .conftest import Consumer


def test_records_hold_every_event_with_sequences(sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.publish_text(cid, "one")
    consumer.ok(
        "ms.PublishEvent",
        {"dialogId": cid, "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}},
    )
    reply = sandbox.wait_for_event(cid, lambda e: e.role == "ASSIGNED_AGENT" and e.text == "one")
    record = sandbox.conversation(cid)
    assert isinstance(record, ConversationRecord)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.state = "CLOSE"  # type: ignore[misc]
    sequences = [e.sequence for e in record.events if e.sequence is not None]
    assert sequences == list(range(len(sequences)))
    chat = [e for e in record.events if e.event_type == "ChatStateEvent" and e.role == "CONSUMER"]
    assert chat[0].sequence is None
    assert chat[0].server_timestamp is None
    assert reply.server_timestamp is not None
    assert reply.dialog_id == cid
    assert record.consumer_id == record.participants[0][0]
    assert record.assigned_agent_id == reply.originator_id
    assert record.ttr == ("NORMAL", 3600)
    assert record.skill_id == "-1"
    assert record.csat is None


def test_wait_helpers(sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    found = sandbox.wait_for_conversation()
    assert found.conversation_id == cid
    assert sandbox.wait_for_conversation(consumer_id=found.consumer_id).conversation_id == cid
    consumer.publish_text(cid, "ping")
    assert sandbox.wait_for_consumer_message(cid).text == "ping"
    assert [c.conversation_id for c in sandbox.conversations(consumer_id=found.consumer_id)] == [
        cid
    ]
    assert sandbox.conversations(consumer_id="nobody") == []
    with pytest.raises(TimeoutError):
        sandbox.wait_for_event(cid, lambda e: e.text == "never", timeout=0.05)
    with pytest.raises(TimeoutError):
        sandbox.wait_for_conversation(consumer_id="nobody", timeout=0.05)
    with pytest.raises(KeyError):
        sandbox.conversation("nope")
