"""The decoder's contract: typed frames, ProtocolError for what is not one, unknowns logged once."""

from __future__ import annotations

import contextlib
import json
import logging

import pytest

from lpbot.errors import ProtocolError
from lpbot.protocol import Decoder, MessagingEventNotification, Response, UnknownNotification
from lpbot.protocol.codec import decode_request

from .samples import load, text

UNKNOWN = '{"kind":"notification","type":"xyz.SomethingNew","body":{}}'


@pytest.mark.parametrize(
    "frame",
    [
        "{not json",
        "",
        "[1, 2]",
        '"a string"',
        "42",
        "null",
        '{"type": "ms.MessagingEventNotification", "body": {}}',
        '{"kind": "event", "type": "x"}',
        '{"kind": "req", "id": "1", "type": "GetClock"}',
        '{"kind": "notification", "body": {}}',
        '{"kind": "notification", "type": 5}',
        '{"kind": "notification", "type": "ms.MessagingEventNotification"}',
        '{"kind": "notification", "type": "ms.MessagingEventNotification", "body": []}',
        '{"kind": "resp", "reqId": "1"}',
        '{"kind": "resp", "reqId": "1", "code": true}',
        '{"kind": "resp", "reqId": "1", "code": "abc"}',
        b"\xff\xfe\x00garbage",
        "[" * 100_000,
    ],
)
def test_frames_that_are_not_frames_raise_protocol_error(frame):
    decoder = Decoder()
    with pytest.raises(ProtocolError) as info:
        decoder.decode(frame)
    assert info.value.raw is not None
    assert len(info.value.raw) <= 200
    assert decoder.error_count == 1


@pytest.mark.parametrize(
    "change",
    [
        {"originatorId": "a", "event": {"type": "ContentEvent"}},  # no dialogId
        {"dialogId": "d", "originatorId": "a"},  # no event
        {"dialogId": "d", "sequence": "seven", "event": {"type": "ChatStateEvent"}},
    ],
)
def test_messaging_change_without_required_fields_is_a_protocol_error(change):
    frame = {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [change]},
    }
    with pytest.raises(ProtocolError):
        Decoder().decode(json.dumps(frame))


def test_conversation_change_without_conv_id_is_a_protocol_error():
    frame = {
        "kind": "notification",
        "type": "cqm.ExConversationChangeNotification",
        "body": {"changes": [{"type": "UPSERT", "result": {"conversationDetails": {}}}]},
    }
    with pytest.raises(ProtocolError):
        Decoder().decode(json.dumps(frame))


@pytest.mark.parametrize(
    "notification_type", ["ms.MessagingEventNotification", "cqm.ExConversationChangeNotification"]
)
@pytest.mark.parametrize("body", [{}, {"changes": "x"}, {"changes": 7}, {"changes": [1, 2]}])
def test_unreadable_changes_are_a_protocol_error_not_an_empty_notification(
    notification_type, body
):
    frame = {"kind": "notification", "type": notification_type, "body": body}
    with pytest.raises(ProtocolError, match="changes"):
        Decoder().decode(json.dumps(frame))


def test_raw_is_truncated():
    with pytest.raises(ProtocolError) as info:
        Decoder().decode("{" + "x" * 5000)
    assert len(info.value.raw) == 200


def test_bytes_and_str_decode_alike():
    as_text = text("32-notification-ms_MessagingEventNotification.json")
    decoder = Decoder()
    assert decoder.decode(as_text.encode()) == decoder.decode(as_text)


@pytest.mark.parametrize("around", [(" ", ""), ("", "\n"), ("\r\n\t", "  ")])
def test_whitespace_around_a_frame_is_json_and_decodes(around):
    as_text = text("32-notification-ms_MessagingEventNotification.json")
    decoder = Decoder()
    assert decoder.decode(around[0] + as_text + around[1]) == decoder.decode(as_text)


@pytest.mark.parametrize("tail", ["x", "{}", ' {"kind": "resp"}', "\x00"])
def test_data_after_the_frame_is_not_json(tail):
    as_text = text("32-notification-ms_MessagingEventNotification.json")
    with pytest.raises(ProtocolError, match="frame is not JSON: unexpected content after"):
        Decoder().decode(as_text + tail)


@pytest.mark.parametrize("frame", [5, None, ["{}"]])
def test_a_frame_that_is_not_text_is_refused(frame):
    with pytest.raises(ProtocolError, match="frame is not text"):
        Decoder().decode(frame)


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "1e999"])
def test_values_outside_rfc_8259_are_not_json(value):
    # the standard library would accept each of these; a frame carrying one is refused
    with pytest.raises(ProtocolError, match="frame is not JSON"):
        Decoder().decode('{"kind": "resp", "reqId": "1", "code": 200, "body": {"x": '
                         + value + "}}")


def test_a_lone_surrogate_escape_costs_no_other_event_of_its_frame():
    frame = json.loads(text("32-notification-ms_MessagingEventNotification.json"))
    change = frame["body"]["changes"][0]
    frame["body"]["changes"] = [
        {**change, "sequence": 1, "event": {**change["event"], "message": "before"}},
        {**change, "sequence": 2, "event": {**change["event"], "message": "bad @ here"}},
        {**change, "sequence": 3, "event": {**change["event"], "message": "after"}},
    ]
    raw = json.dumps(frame).replace("@", "\\ud800")  # as the server wrote it: an escape
    notification = Decoder().decode(raw)
    assert [c.sequence for c in notification.changes] == [1, 2, 3]
    assert [c.event.message for c in notification.changes] == ["before", "bad \ufffd here", "after"]
    assert Decoder().decode(raw.encode()).changes[1].event.message == "bad \ufffd here"


def test_an_integer_beyond_64_bits_becomes_a_float():
    response = Decoder().decode('{"kind": "resp", "reqId": "1", "code": 200, "body": '
                                '{"fits": 18446744073709551615, "beyond": 18446744073709551616}}')
    assert response.body == {"fits": 2**64 - 1, "beyond": float(2**64)}
    assert type(response.body["fits"]) is int
    assert type(response.body["beyond"]) is float


def test_unknown_notification_logged_once_per_type_per_decoder(caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.protocol.codec")
    first, second = Decoder(), Decoder()
    for _ in range(3):
        assert isinstance(first.decode(UNKNOWN), UnknownNotification)
    first.decode(UNKNOWN.replace("SomethingNew", "Other"))
    second.decode(UNKNOWN)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("xyz.SomethingNew" in m for m in messages) == 2  # once per decoder
    assert sum("xyz.Other" in m for m in messages) == 1
    assert first.unknown_count == 4
    assert first.unknown_types == {"notification:xyz.SomethingNew": 3, "notification:xyz.Other": 1}
    assert second.unknown_count == 1
    assert first.error_count == 0


def test_unknown_event_types_are_counted_and_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.protocol.codec")
    frame = load("32-notification-ms_MessagingEventNotification.json")
    frame["body"]["changes"][0]["event"] = {"type": "FormEvent"}
    decoder = Decoder()
    for _ in range(2):
        note = decoder.decode(json.dumps(frame))
        assert isinstance(note, MessagingEventNotification)
    assert decoder.unknown_types == {"event:FormEvent": 2}
    assert sum("FormEvent" in r.getMessage() for r in caplog.records) == 1


def test_decoder_survives_every_kind_of_bad_frame_and_keeps_going():
    decoder = Decoder()
    good = text("31-notification-ms_MessagingEventNotification.json")
    for bad in ("{", "[]", '{"kind":"x"}', UNKNOWN):
        with contextlib.suppress(ProtocolError):
            decoder.decode(bad)
    assert isinstance(decoder.decode(good), MessagingEventNotification)
    assert decoder.error_count == 3
    assert decoder.unknown_count == 1


def test_response_round_trip_through_to_wire():
    resp = Response(req_id="9", code=400, response_type=".ReqBody$StringResp", body="no")
    assert Decoder().decode(json.dumps(resp.to_wire())) == resp


def test_decode_request_rejects_what_is_not_a_request():
    for bad in (
        "{",
        "[]",
        '{"type": "nope.Unknown", "body": {}}',
        '{"id": "1"}',
        '{"type": "ms.PublishEvent", "body": {"dialogId": "d"}}',
        '{"type": "ms.GenerateURLForUploadFile", "body": {"fileSize": "big"}}',
        '{"type": "ms.PublishEvent", "body": "x"}',
    ):
        with pytest.raises(ProtocolError):
            decode_request(bad)
