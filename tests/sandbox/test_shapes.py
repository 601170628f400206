"""Emitted payloads carry every key of the documented examples (tests/fixtures/documented)."""

from __future__ import annotations

from typing import Any

from lpbot.sandbox import Sandbox

from .conftest import Consumer, load_fixture


def _keys_of(documented: dict[str, Any], actual: dict[str, Any], where: str) -> None:
    missing = set(documented) - set(actual)
    assert not missing, f"{where}: missing {missing}"
    for key, value in documented.items():
        if (
            isinstance(value, dict)
            and isinstance(actual[key], dict)
            and key not in ("metaData", "event")
        ):
            _keys_of(value, actual[key], f"{where}.{key}")


def test_conversation_notification_shape(sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    consumer.conversation_change(
        lambda c: len(c["result"]["conversationDetails"]["participants"]) == 2
    )
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": field})
    frame = consumer.notification(
        "ExConversationChangeNotification",
        lambda f: f["body"]["changes"][0]["result"]["conversationDetails"]["state"] == "CLOSE",
    )
    documented = load_fixture("26-notification-cqm_ExConversationChangeNotification.json")
    assert frame["type"] == documented["type"]
    assert frame["kind"] == documented["kind"]
    change, doc_change = frame["body"]["changes"][0], documented["body"]["changes"][0]
    _keys_of(doc_change, change, "change")
    details = change["result"]["conversationDetails"]
    doc_main = doc_change["result"]["conversationDetails"]["dialogs"][0]
    _keys_of(doc_main, details["dialogs"][0], "dialog")
    roles = {p["role"] for p in details["participants"]}
    assert roles == {"CONSUMER", "ASSIGNED_AGENT"}
    # the older tutorial example's keys (minus participantsPId, §9) are there too
    older = load_fixture("25-notification-cqm_ExConversationChangeNotification.json")
    older_details = dict(older["body"]["changes"][0]["result"]["conversationDetails"])
    del older_details["participantsPId"]
    _keys_of(older_details, details, "details")


def test_messaging_notification_shapes(sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    seq = consumer.publish_text(cid, "shape")
    agent_text = consumer.event(
        lambda c: (
            c["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
            and c["event"].get("message") == "shape"
        )
    )
    _keys_of(
        load_fixture("32-notification-ms_MessagingEventNotification.json")["body"]["changes"][0],
        agent_text,
        "text",
    )
    read = consumer.event(lambda c: c["event"].get("status") == "READ")
    assert read["event"]["sequenceList"] == [seq]
    _keys_of(
        load_fixture("34-notification-ms_MessagingEventNotification.json")["body"]["changes"][0],
        read,
        "read",
    )
    typing = consumer.event(lambda c: c["event"]["type"] == "ChatStateEvent")
    documented = load_fixture("33-notification-ms_MessagingEventNotification.json")["body"][
        "changes"
    ][0]
    assert set(typing) == set(documented)
