"""Property tests: encode/decode round trips, and no input makes the decoder raise anything else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lpbot.errors import ProtocolError
from lpbot.protocol import (
    AcceptStatusEvent,
    ChatStateEvent,
    CloseConversation,
    CloseDialog,
    CloseStage,
    ConsumerRequestConversation,
    ContentEvent,
    CsatRate,
    Decoder,
    GenerateDownloadUrl,
    GenerateUploadUrl,
    GetClock,
    InitConnection,
    MessagingEventNotification,
    PublishEvent,
    RawField,
    Response,
    RichContentEvent,
    SubscribeExConversations,
    SubscribeMessagingEvents,
    TtrChange,
    UnknownEvent,
    UnsubscribeExConversations,
    UpdateConversationField,
    decode_request,
    encode,
    parse_event,
)
from lpbot.protocol.names import AcceptStatus, ChatState, TTRType

from .samples import fixture_names, load

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=20)
ints = st.integers(min_value=-(2**53), max_value=2**53)
scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(text, json_values, max_size=4)


def enum_or_text(enum):
    return st.sampled_from(list(enum)) | st.text(min_size=1, max_size=12)


events = st.one_of(
    st.builds(
        ContentEvent,
        content_type=st.sampled_from(["text/plain", "hosted/file", "HostedFile"]) | text,
        message=json_values,
        quick_replies=st.none() | json_objects,
    ),
    st.builds(RichContentEvent, content=json_objects),
    st.builds(
        AcceptStatusEvent,
        status=enum_or_text(AcceptStatus),
        sequence_list=st.lists(ints, max_size=5).map(tuple),
    ),
    st.builds(ChatStateEvent, chat_state=enum_or_text(ChatState)),
)

KNOWN_FIELDS = {"ConversationStateField", "Stage", "DialogChange", "CSATRate", "TTRField"}
conversation_fields = st.one_of(
    st.just(CloseConversation()),
    st.just(CloseStage()),
    st.builds(CloseDialog, dialog_id=text, closed_cause=text),
    st.builds(CsatRate, rate=st.integers(1, 5), resolution_confirmation=st.booleans(), status=text),
    st.builds(TtrChange, ttr_type=enum_or_text(TTRType), value=st.integers(0, 10**6)),
    st.builds(
        RawField,
        mapping=st.fixed_dictionaries(
            {"field": text.filter(lambda f: f not in KNOWN_FIELDS)}, optional={"x": json_values}
        ),
    ),
)
optional_text = st.none() | text

requests = st.one_of(
    st.builds(
        InitConnection,
        jwt=optional_text,
        client_properties=st.none()
        | st.dictionaries(text.filter(lambda k: k != "type"), json_values, max_size=3),
    ),
    st.just(GetClock()),
    st.builds(
        ConsumerRequestConversation,
        skill_id=optional_text,
        campaign_id=st.none() | text | ints,
        engagement_id=st.none() | text | ints,
        context=st.none() | json_objects,
        ttr_def_name=st.none() | enum_or_text(TTRType),
        brand_id=optional_text,
    ),
    st.builds(
        UpdateConversationField,
        conversation_id=text,
        fields=st.lists(conversation_fields, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(
        SubscribeExConversations,
        min_last_updated_time=st.none() | st.integers(0, 2**53),
        conv_state=st.lists(st.sampled_from(["OPEN", "CLOSE"]), max_size=2).map(tuple),
        stage=st.none()
        | st.lists(st.sampled_from(["OPEN", "CLOSE"]), min_size=1, max_size=2).map(tuple),
    ),
    st.builds(UnsubscribeExConversations, subscription_id=text),
    st.builds(
        SubscribeMessagingEvents,
        dialog_id=text,
        from_seq=st.integers(0, 2**31),
        conversation_id=optional_text,
    ),
    st.builds(
        PublishEvent,
        dialog_id=text,
        event=events,
        conversation_id=optional_text,
        metadata=st.lists(json_objects, max_size=2).map(tuple),
    ),
    st.builds(GenerateUploadUrl, file_size=st.integers(0, 3 * 2**20), file_type=text),
    st.builds(GenerateDownloadUrl, relative_path=text),
)


@FAST
@given(events)
def test_event_round_trip(event):
    assert parse_event(event.to_wire()) == event
    assert parse_event(json.loads(json.dumps(event.to_wire()))) == event


@FAST
@given(requests, st.text(min_size=1, max_size=64))
def test_request_round_trip(request_, req_id):
    frame = json.loads(encode(request_, req_id))
    assert frame["id"] == req_id
    assert frame["type"] == type(request_).type_name
    assert decode_request(encode(request_, req_id)) == request_


@FAST
@given(
    st.one_of(st.integers(0, 10**9).map(str), st.integers(0, 10**9), text),
    st.integers(100, 599),
    optional_text,
    json_values,
)
def test_response_round_trip(req_id, code, response_type, body):
    resp = Response(req_id=str(req_id), code=code, response_type=response_type, body=body)
    frame = resp.to_wire()
    frame["reqId"] = req_id  # numbers on the wire become strings
    assert Decoder().decode(json.dumps(frame)) == resp


@FAST
@given(st.sampled_from(list(ChatState)) | events, st.integers(0, 10**6), text)
def test_messaging_notification_round_trip(event, sequence, dialog_id):
    if isinstance(event, ChatState):
        event = ChatStateEvent(chat_state=event)
    change = {"dialogId": dialog_id, "originatorId": "o", "event": event.to_wire()}
    if not isinstance(event, ChatStateEvent):
        change["sequence"] = sequence
        change["serverTimestamp"] = sequence
    frame = {
        "kind": "notification",
        "type": "ms.MessagingEventNotification",
        "body": {"changes": [change]},
    }
    note = Decoder().decode(json.dumps(frame))
    assert isinstance(note, MessagingEventNotification)
    (parsed,) = note.changes
    assert parsed.event == event
    assert parsed.dialog_id == dialog_id
    assert parsed.sequence == change.get("sequence")


def check_decode(data):
    """Decoding returns a typed frame or raises ProtocolError for a reason it understood."""
    decoder = Decoder()
    error = None
    try:
        result = decoder.decode(data)
    except ProtocolError as exc:
        error = exc
    if error is not None:
        # A ProtocolError from the safety net means a parser met a shape it did not check.
        stumbled = AttributeError | KeyError | TypeError | IndexError
        assert not isinstance(error.__cause__, stumbled), error
        assert error.raw is None or len(error.raw) <= 200
        return
    seen = [repr(result)]
    for change in getattr(result, "changes", ()):
        details = getattr(change, "details", None)
        if details is not None:
            seen += [details.consumer_id, details.assigned_agent_id, details.open_dialog_ids]
        event = getattr(change, "event", None)
        if isinstance(event, ContentEvent):
            seen += [event.text, event.file, event.is_hosted_file]
        elif event is not None:
            assert isinstance(
                event, AcceptStatusEvent | ChatStateEvent | RichContentEvent | UnknownEvent
            )


@FAST
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_protocol_error(value):
    check_decode(json.dumps(value))


@FAST
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_never_raises_anything_but_protocol_error(data):
    check_decode(data)


# Frames shaped like protocol frames, with protocol keys holding arbitrary values: this is
# what reaches the field parsers.
PROTOCOL_KEYS = [
    "kind",
    "type",
    "body",
    "reqId",
    "code",
    "changes",
    "subscriptionId",
    "result",
    "convId",
    "conversationDetails",
    "participants",
    "participantsPId",
    "dialogs",
    "participantsDetails",
    "dialogId",
    "state",
    "stage",
    "ttr",
    "ttrType",
    "value",
    "csat",
    "csatRate",
    "startTs",
    "endTs",
    "sequence",
    "originatorId",
    "originatorPId",
    "originatorMetadata",
    "role",
    "id",
    "serverTimestamp",
    "event",
    "contentType",
    "message",
    "content",
    "quickReplies",
    "status",
    "sequenceList",
    "chatState",
    "metadata",
    "conversationId",
    "lastUpdateTime",
    "effectiveTTR",
    "metaData",
    "relativePath",
    "closedBy",
    "skillId",
]
keys = st.sampled_from(PROTOCOL_KEYS) | text
type_names = st.sampled_from(
    [
        "ms.MessagingEventNotification",
        "cqm.ExConversationChangeNotification",
        "aam.ExConversationChangeNotification",
        ".ams.ms.OnlineEventDistribution",
        "ContentEvent",
        "RichContentEvent",
        "RichContent",
        "AcceptStatusEvent",
        "ChatStateEvent",
        "text/plain",
        "hosted/file",
        "UPSERT",
        "DELETE",
        "OPEN",
        "CLOSE",
        "CONSUMER",
    ]
)
protocol_values = st.recursive(
    scalars | type_names,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
protocol_frames = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["notification", "resp"]),
        "type": type_names | text,
        "body": protocol_values,
    },
    optional={"reqId": protocol_values, "code": st.integers(0, 999) | protocol_values},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocol_frames)
def test_protocol_shaped_frames_never_raise_anything_but_protocol_error(frame):
    check_decode(json.dumps(frame))


def replace_somewhere(value, replacement, path):
    """Replace the node at ``path`` (a list of choices) in a copy of a JSON value."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    keys_ = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys_[path[0] % len(keys_)]
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[key] = replace_somewhere(value[key], replacement, path[1:])
    return copy


FRAME_FIXTURES = [n for n in fixture_names() if "notification" in n or "-resp-" in n]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FRAME_FIXTURES), st.lists(st.integers(0, 50), max_size=10), protocol_values)
def test_mutated_documented_frames_never_raise_anything_but_protocol_error(name, path, replacement):
    frame = load(name)
    frame["body"] = replace_somewhere(frame["body"], replacement, path)  # kind and type stay
    check_decode(json.dumps(frame))


WEIRD = [None, True, 0, -1, 1.5, 1e300, "", "x", [], [None], [1], ["x"], {}, {"x": 1}, [{}]]


def node_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from node_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from node_paths(item, (*prefix, index))


def replaced(value, path, replacement):
    if not path:
        return replacement
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], replacement)
    return copy


def test_every_node_of_every_documented_frame_replaced_by_odd_values():
    # Exhaustive where the property tests sample: each node of each body, each odd value.
    checked = 0
    for name in FRAME_FIXTURES:
        frame = load(name)
        for path in node_paths(frame["body"]):
            for odd in WEIRD:
                check_decode(json.dumps({**frame, "body": replaced(frame["body"], path, odd)}))
                checked += 1
    assert checked > 1000
