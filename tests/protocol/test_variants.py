"""The variants LivePerson's own material disagrees on (protocol notes §4.2, §4.4, §6.3, §9)."""

from __future__ import annotations

import json

import pytest

from lpbot.protocol import (
    AcceptStatusEvent,
    ChatStateEvent,
    CloseStage,
    ContentEvent,
    Decoder,
    ExConversationChangeNotification,
    GenerateUploadUrl,
    MessagingEventNotification,
    Participant,
    PublishEvent,
    Response,
    RichContentEvent,
    SubscribeExConversations,
    SubscribeMessagingEvents,
    UnknownEvent,
    UnknownNotification,
    UpdateConversationField,
    decode_request,
    parse_event,
    parse_request,
)
from lpbot.protocol.names import ChatState, Role

from .samples import load


def decode(frame: dict) -> object:
    return Decoder().decode(json.dumps(frame))


def conversation_frame(type_name: str) -> dict:
    frame = load("25-notification-cqm_ExConversationChangeNotification.json")
    frame["type"] = type_name
    return frame


@pytest.mark.parametrize(
    "type_name",
    [
        "cqm.ExConversationChangeNotification",
        "aam.ExConversationChangeNotification",
        ".ams.aam.ExConversationChangeNotification",
    ],
)
def test_conversation_notification_spellings(type_name):
    note = decode(conversation_frame(type_name))
    assert isinstance(note, ExConversationChangeNotification)
    assert note.notification_type == type_name
    assert note.changes[0].details.consumer_id == "72fca421-d1a2-459c-a420-6c5b1f3e75b0"


@pytest.mark.parametrize(
    "type_name", ["ms.MessagingEventNotification", ".ams.ms.MessagingEventNotification"]
)
def test_messaging_notification_spellings(type_name):
    frame = load("32-notification-ms_MessagingEventNotification.json")
    frame["type"] = type_name
    note = decode(frame)
    assert isinstance(note, MessagingEventNotification)
    assert note.changes[0].event.text == "Hello again"


@pytest.mark.parametrize(
    "type_name", [".ams.ms.OnlineEventDistribution", "ms.OnlineEventDistribution"]
)
def test_older_single_event_online_distribution(type_name):
    frame = {
        "kind": "notification",
        "type": type_name,
        "body": {
            "sequence": 5,
            "originatorPId": "agent-1",
            "serverTimestamp": 1500000000000,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "old"},
            "dialogId": "d1",
        },
    }
    note = decode(frame)
    assert isinstance(note, MessagingEventNotification)
    (event,) = note.changes
    assert event.sequence == 5
    assert event.originator_id == "agent-1"
    assert event.dialog_id == "d1"
    assert event.event.text == "old"


def test_participants_list_and_pid_map_are_merged_without_duplicates():
    frame = conversation_frame("cqm.ExConversationChangeNotification")
    details = frame["body"]["changes"][0]["result"]["conversationDetails"]
    details["participants"] = [
        {"id": "72fca421-d1a2-459c-a420-6c5b1f3e75b0", "role": "CONSUMER"},
        {"id": "m-1", "role": "MANAGER"},
    ]
    parsed = decode(frame).changes[0].details
    assert parsed.participants == (
        Participant(id="72fca421-d1a2-459c-a420-6c5b1f3e75b0", role=Role.CONSUMER),
        Participant(id="m-1", role=Role.MANAGER),
        Participant(id="734d9867-40e3-52b9-a401-07e877676d64", role=Role.ASSIGNED_AGENT),
    )


def test_participants_pid_map_single_id_instead_of_array():
    frame = conversation_frame("cqm.ExConversationChangeNotification")
    details = frame["body"]["changes"][0]["result"]["conversationDetails"]
    details["participantsPId"] = {"CONSUMER": "c-1", "SUPERVISOR": ["s-1"]}
    parsed = decode(frame).changes[0].details
    assert parsed.participants == (
        Participant(id="c-1", role=Role.CONSUMER),
        Participant(id="s-1", role="SUPERVISOR"),
    )


def test_rich_content_under_message_and_legacy_type():
    content = load("18-event-RichContentEvent.json")["content"]
    under_message = parse_event({"type": "RichContentEvent", "message": content})
    legacy = parse_event({"type": "RichContent", "content": content})
    assert under_message == legacy == RichContentEvent(content=content)
    assert under_message.to_wire() == {"type": "RichContentEvent", "content": content}


def test_rich_content_prefers_content_when_both_are_present():
    event = parse_event({"type": "RichContentEvent", "content": {"a": 1}, "message": {"b": 2}})
    assert event.content == {"a": 1}


@pytest.mark.parametrize("content_type", ["hosted/file", "HostedFile"])
def test_hosted_file_content_type_spellings(content_type):
    event = parse_event(
        {
            "type": "ContentEvent",
            "contentType": content_type,
            "message": {"relativePath": "/p", "fileType": "JPG", "caption": "c"},
        }
    )
    assert event.is_hosted_file
    assert event.file.relative_path == "/p"


def test_chat_state_without_sequence_or_timestamp_and_background_state():
    frame = load("33-notification-ms_MessagingEventNotification.json")
    frame["body"]["changes"][0]["event"]["chatState"] = "BACKGROUND"
    event = decode(frame).changes[0]
    assert event.sequence is None
    assert event.server_timestamp is None
    assert event.event.chat_state is ChatState.BACKGROUND


def test_undocumented_enum_values_are_kept_as_strings():
    assert parse_event({"type": "ChatStateEvent", "chatState": "PAUSED"}) == ChatStateEvent(
        chat_state="PAUSED"
    )
    assert parse_event(
        {"type": "AcceptStatusEvent", "status": "DELIVERED", "sequenceList": [1]}
    ) == AcceptStatusEvent(status="DELIVERED", sequence_list=(1,))
    frame = load("32-notification-ms_MessagingEventNotification.json")
    frame["body"]["changes"][0]["originatorMetadata"]["role"] = "ROBOT"
    assert decode(frame).changes[0].role == "ROBOT"
    conv = conversation_frame("cqm.ExConversationChangeNotification")
    details = conv["body"]["changes"][0]["result"]["conversationDetails"]
    details["state"] = "LOCKED"
    details["stage"] = "ARCHIVED"
    details["ttr"]["ttrType"] = "VIP"
    parsed = decode(conv).changes[0].details
    assert (parsed.state, parsed.stage, parsed.ttr.ttr_type) == ("LOCKED", "ARCHIVED", "VIP")


def test_undocumented_fields_are_ignored_and_kept_in_raw():
    frame = load("32-notification-ms_MessagingEventNotification.json")
    change = frame["body"]["changes"][0]
    change["originatorClientProperties"] = {"type": ".ClientProperties"}
    change["event"]["future"] = True
    frame["body"]["future"] = [1, 2]
    frame["future"] = "x"
    note = decode(frame)
    assert note.raw["future"] == "x"
    assert note.changes[0].raw["originatorClientProperties"] == {"type": ".ClientProperties"}
    assert note.changes[0].event.raw["future"] is True


def test_unknown_event_type_is_kept_typed():
    frame = load("32-notification-ms_MessagingEventNotification.json")
    frame["body"]["changes"][0]["event"] = {"type": "CoBrowseEvent", "x": 1}
    event = decode(frame).changes[0]
    assert event.sequence == 2
    assert event.event == UnknownEvent(event_type="CoBrowseEvent")
    assert event.event.raw == {"type": "CoBrowseEvent", "x": 1}
    assert event.event.to_wire() == {"type": "CoBrowseEvent", "x": 1}


@pytest.mark.parametrize(
    "event",
    [
        {"type": "ContentEvent", "message": "no content type"},
        {"type": "RichContentEvent", "content": "not an object"},
        {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": ["1"]},
        {"type": "AcceptStatusEvent", "sequenceList": [1]},
        {"type": "ChatStateEvent"},
        {"no": "type"},
        {"type": 5},
    ],
)
def test_malformed_known_events_become_unknown_events(event):
    parsed = parse_event(event)
    assert isinstance(parsed, UnknownEvent)
    assert parsed.raw == event


def test_accept_status_single_sequence_instead_of_array():
    assert parse_event(
        {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": 4}
    ).sequence_list == (4,)


def test_unknown_notification_type():
    frame = {"kind": "notification", "type": "ms.TypingNotification", "body": {"x": 1}}
    note = decode(frame)
    assert note == UnknownNotification(notification_type="ms.TypingNotification")
    assert note.raw == frame


@pytest.mark.parametrize(
    ("req_id", "expected"), [("1", "1"), (1, "1"), (12345678901, "12345678901"), ("A3HC", "A3HC")]
)
def test_req_id_number_or_string_is_always_a_string(req_id, expected):
    resp = decode({"kind": "resp", "reqId": req_id, "code": 200, "type": "x"})
    assert resp.req_id == expected


@pytest.mark.parametrize(
    "body", ["OK Conversation resolved successfully", {}, {"a": 1}, [1, 2], None]
)
def test_response_bodies_string_object_array_or_absent(body):
    frame = {"kind": "resp", "reqId": "2", "code": 200, "type": "StringResponse"}
    if body is not None:
        frame["body"] = body
    resp = decode(frame)
    assert resp == Response(req_id="2", code=200, response_type="StringResponse", body=body)
    assert UpdateConversationField.close_conversation("c").parse_response(resp) == (
        body if isinstance(body, str) else ""
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"kind": "resp", "reqId": "22", "code": 200, "type": ".ams.GenericSubscribeResponse"},
        {"kind": "resp", "reqId": "2", "code": 200, "body": {}, "type": "GenericSubscribeResponse"},
    ],
)
def test_subscribe_messaging_events_response_with_or_without_body(frame):
    assert SubscribeMessagingEvents(dialog_id="d").parse_response(decode(frame)) is None


def test_response_without_req_id_or_type():
    resp = decode({"kind": "resp", "code": 401, "body": {"errorCode": 40104}})
    assert resp.req_id == ""
    assert resp.response_type is None
    assert not resp.ok


def test_response_code_as_string():
    assert decode({"kind": "resp", "reqId": "1", "code": "429"}).code == 429


def test_request_variants_a_builder_never_writes():
    single = {
        "kind": "req",
        "id": "11",
        "type": "cm.UpdateConversationField",
        "body": {
            "conversationId": "c",
            "conversationField": {"field": "Stage", "conversationState": "CLOSE"},
        },
    }
    assert parse_request(single).fields == (CloseStage(),)
    upload = {
        "id": 1,
        "type": "ms.GenerateURLForUploadFile",
        "body": {"fileSize": 1024, "fileType": "PNG"},
    }
    assert parse_request(upload) == GenerateUploadUrl(file_size=1024, file_type="PNG")
    conv_state = {"type": "cqm.SubscribeExConversations", "body": {"convState": "OPEN"}}
    assert parse_request(conv_state) == SubscribeExConversations(conv_state=("OPEN",))
    bare = decode_request('{"kind":"req","id":"3","type":"cqm.SubscribeExConversations"}')
    assert bare == SubscribeExConversations(conv_state=())
    init_with_body = {"kind": "req", "id": "0", "type": "InitConnection", "body": {}, "headers": []}
    assert parse_request(init_with_body).jwt is None


def test_metadata_relayed_into_the_notification():
    frame = load("32-notification-ms_MessagingEventNotification.json")
    question = {"type": "Question", "id": "q", "provider": "AC", "replies": ["a"]}
    frame["body"]["changes"][0]["metadata"] = [question]
    assert decode(frame).changes[0].metadata == (question,)
    frame["body"]["changes"][0]["metadata"] = None
    assert decode(frame).changes[0].metadata == ()


def test_quick_replies_on_a_content_event():
    quick = {"type": "quickReplies", "itemsPerRow": 8, "replies": [{"type": "button"}]}
    event = parse_event(
        {
            "type": "ContentEvent",
            "contentType": "text/plain",
            "message": "Rate us",
            "quickReplies": quick,
        }
    )
    assert event.quick_replies == quick
    assert event.text == "Rate us"
    assert event.to_wire()["quickReplies"] == quick


def test_csat_object_and_flat_rate():
    conv = conversation_frame("cqm.ExConversationChangeNotification")
    details = conv["body"]["changes"][0]["result"]["conversationDetails"]
    details["csat"] = {
        "field": "CSATRate",
        "csatRate": 1,
        "csatResolutionConfirmation": False,
        "status": "FILLED",
    }
    csat = decode(conv).changes[0].details.csat
    assert (csat.rate, csat.resolution_confirmation, csat.status) == (1, False, "FILLED")
    del details["csat"]
    details["csatRate"] = 4
    csat = decode(conv).changes[0].details.csat
    assert (csat.rate, csat.resolution_confirmation, csat.status) == (4, None, None)


def test_delete_change_without_details():
    frame = {
        "kind": "notification",
        "type": "cqm.ExConversationChangeNotification",
        "body": {"subscriptionId": "s", "changes": [{"type": "DELETE", "result": {"convId": "c"}}]},
    }
    (change,) = decode(frame).changes
    assert (change.change_type, change.conversation_id, change.details) == ("DELETE", "c", None)


def test_empty_initial_batches():
    conv = {
        "kind": "notification",
        "type": "cqm.ExConversationChangeNotification",
        "body": {"subscriptionId": "s", "changes": []},
    }
    msgs = {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": []},
    }
    assert decode(conv).changes == ()
    assert decode(msgs).changes == ()


def test_batch_of_events_keeps_order():
    changes = [
        {
            "sequence": i,
            "originatorId": "a",
            "dialogId": "d",
            "serverTimestamp": i,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": f"m{i}"},
        }
        for i in range(5)
    ]
    frame = {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": changes},
    }
    assert [e.sequence for e in decode(frame).changes] == [0, 1, 2, 3, 4]


def test_publish_response_sequence_and_chat_state_zero():
    text = PublishEvent(dialog_id="d", event=ContentEvent.text_plain("x"))
    chat = PublishEvent(dialog_id="d", event=ChatStateEvent(chat_state=ChatState.ACTIVE))
    ok = Response(req_id="1", code=200, body={"sequence": 4})
    assert text.parse_response(ok) == 4
    assert chat.parse_response(Response(req_id="1", code=200, body={"sequence": 0})) == 0
    assert chat.parse_response(Response(req_id="1", code=200)) == 0


def test_timestamps_as_floats_are_integers():
    frame = load("32-notification-ms_MessagingEventNotification.json")
    frame["body"]["changes"][0]["serverTimestamp"] = 1538492183879.0
    assert decode(frame).changes[0].server_timestamp == 1538492183879


def test_content_event_text_only_for_plain_text():
    assert ContentEvent(content_type="text/html", message="<b>").text is None
    assert ContentEvent(content_type="text/plain", message={"x": 1}).text is None
    assert ContentEvent(content_type="hosted/file", message="not a mapping").file is None


@pytest.mark.parametrize(
    "frame",
    [
        {"reqId": "A3HC", "code": 200},  # §5.4, the API reference's UpdateConversationField
        load("23-other-ms_GenerateURLResponse.json"),  # §5.9, no kind either
    ],
)
def test_responses_without_kind_are_responses(frame):
    """protocol notes §4.1: ``kind`` is optional; two documented responses leave it out."""
    response = decode(frame)
    assert isinstance(response, Response)
    assert (response.req_id, response.code) == ("A3HC", 200)
    assert response.body == frame.get("body")
