"""Builders write exactly the documented request frames (modulo ``id``), in canonical form."""

from __future__ import annotations

import json

import pytest

from lpbot.protocol import (
    AcceptStatusEvent,
    ChatStateEvent,
    CloseConversation,
    CloseDialog,
    CloseStage,
    ConsumerRequestConversation,
    ContentEvent,
    CsatRate,
    GenerateDownloadUrl,
    GenerateUploadUrl,
    GetClock,
    InitConnection,
    PublishEvent,
    RawField,
    RichContentEvent,
    SubscribeExConversations,
    SubscribeMessagingEvents,
    TtrChange,
    UnsubscribeExConversations,
    UpdateConversationField,
    encode,
    request_frame,
)
from lpbot.protocol.codec import encode_client_properties
from lpbot.protocol.names import AcceptStatus, ChatState, TTRType

from .samples import load, normalise_request

ANSWER = {
    "type": "Answer",
    "questionId": "3e70da9b-76de-4c2a-911e-a41aee698b82",
    "id": "4f7c6a7b-033b-4171-a361-abf99e0ea493",
    "provider": "AC",
}

DOCUMENTED = [
    (
        "04-req-InitConnection.json",
        InitConnection(
            jwt="__YOUR_JWT__", client_properties={"deviceFamily": "MOBILE", "os": "ANDROID"}
        ),
    ),
    (
        "06-req-cm_ConsumerRequestConversation.json",
        ConsumerRequestConversation(
            campaign_id=418732213,
            engagement_id=425842913,
            context={
                "visitorId": "NmNDQ5OWU1MjM1NjBlZTAz",
                "sessionId": "DHE_fICSTZ2gx5IsljFcwQ",
                "interactionContextId": "1",
                "type": "SharkContext",
                "lang": "en-US",
            },
        ),
    ),
    ("07-req-cm_UpdateConversationField.json", UpdateConversationField.close_conversation("id")),
    (
        "08-req-cm_UpdateConversationField.json",
        UpdateConversationField(conversation_id="__YOUR_CONVERSATION_ID__", fields=(CloseStage(),)),
    ),
    (
        "09-req-cm_UpdateConversationField.json",
        UpdateConversationField(
            conversation_id="Conversation ID", fields=(CloseDialog(dialog_id="Dialog ID"),)
        ),
    ),
    (
        "10-req-cm_UpdateConversationField.json",
        UpdateConversationField.rate("__CONVERSATION_ID__", 5, True),
    ),
    (
        "11-other-cm_UpdateConversationField.json",
        UpdateConversationField.set_ttr("hello", TTRType.URGENT, 300),
    ),
    ("12-req-cqm_SubscribeExConversations.json", SubscribeExConversations(min_last_updated_time=0)),
    (
        "14-other-cqm_UnsubscribeExConversations.json",
        UnsubscribeExConversations(subscription_id="id"),
    ),
    (
        "15-req-ms_SubscribeMessagingEvents.json",
        SubscribeMessagingEvents(dialog_id="__YOUR_CONVERSATION_ID__"),
    ),
    (
        "16-req-ms_PublishEvent.json",
        PublishEvent(
            dialog_id="__YOUR_CONVERSATION_ID__", event=ContentEvent.text_plain("hi there")
        ),
    ),
    (
        "17-req-ms_PublishEvent.json",
        PublishEvent(
            dialog_id="__CONVERSATION_ID__",
            event=ContentEvent.hosted_file(
                "__relative_path__", "PNG", "LivePerson logo", "data:image/png;base64,<Base64Image>"
            ),
        ),
    ),
    (
        "19-req-ms_PublishEvent.json",
        PublishEvent(
            dialog_id="{conversationId}", event=ChatStateEvent(chat_state=ChatState.COMPOSING)
        ),
    ),
    (
        "20-req-ms_PublishEvent.json",
        PublishEvent(
            dialog_id="__YOUR_POST_SURVEY_DIALOG_ID__",
            conversation_id="__YOUR_CONVERSATION_ID__",
            event=AcceptStatusEvent(status=AcceptStatus.ACTION, sequence_list=(1,)),
            metadata=(ANSWER,),
        ),
    ),
    (
        "21-req-ms_PublishEvent.json",
        PublishEvent(
            dialog_id="__YOUR_POST_SURVEY_DIALOG_ID__",
            conversation_id="__YOUR_CONVERSATION_ID__",
            event=ContentEvent.text_plain("1"),
            metadata=(ANSWER,),
        ),
    ),
    ("22-req-ms_GenerateURLForUploadFile.json", GenerateUploadUrl(file_size=1024, file_type="JPG")),
]


@pytest.mark.parametrize(("name", "request_"), DOCUMENTED, ids=[n for n, _ in DOCUMENTED])
def test_builder_writes_the_documented_frame(name, request_):
    expected = normalise_request(load(name))
    written = json.loads(encode(request_, "7"))
    assert written.pop("id") == "7"
    expected.pop("id", None)
    assert written == expected


def test_builders_cover_every_documented_request_fixture():
    from .samples import fixture_names

    documented = {n for n in fixture_names() if "-req-" in n or n.startswith(("11-", "14-"))}
    assert documented - {"18-event-RichContentEvent.json"} == {n for n, _ in DOCUMENTED}


def test_rich_content_builder_writes_content_not_message():
    wire = load("18-event-RichContentEvent.json")
    event = RichContentEvent(content=wire["content"])
    frame = request_frame(PublishEvent(dialog_id="d", event=event), "1")
    assert frame["body"]["event"] == wire


def test_get_clock_has_no_dot_and_no_body():
    assert json.loads(encode(GetClock(), "1")) == {"kind": "req", "id": "1", "type": "GetClock"}


def test_minimal_request_conversation_has_no_body():
    frame = json.loads(encode(ConsumerRequestConversation(), "1"))
    assert frame == {"kind": "req", "id": "1", "type": "cm.ConsumerRequestConversation"}


def test_request_conversation_with_skill_ttr_and_brand():
    body = ConsumerRequestConversation(
        skill_id="123", ttr_def_name=TTRType.URGENT, brand_id="acc"
    ).body()
    assert body == {
        "channelType": "MESSAGING",
        "ttrDefName": "URGENT",
        "brandId": "acc",
        "skillId": "123",
    }


def test_init_connection_without_properties_or_jwt():
    assert InitConnection(jwt="j").envelope() == {
        "headers": [{"type": ".ams.headers.ConsumerAuthentication", "jwt": "j"}]
    }
    props = InitConnection(client_properties={"type": ".ClientProperties", "os": "LINUX"})
    assert props.headers() == [{"type": ".ams.headers.ClientProperties", "os": "LINUX"}]


def test_client_properties_header_value():
    value = json.loads(encode_client_properties({"deviceFamily": "DESKTOP", "type": "x"}))
    assert value == {"type": ".ClientProperties", "deviceFamily": "DESKTOP"}


def test_conversation_field_values():
    fields = (
        CloseConversation(),
        CloseStage(),
        CloseDialog(dialog_id="d", closed_cause="done"),
        CsatRate(rate=3, resolution_confirmation=False, status="SKIPPED"),
        TtrChange(ttr_type="CUSTOM", value=60),
        RawField(mapping={"field": "Note", "text": "x"}),
    )
    body = UpdateConversationField(conversation_id="c", fields=fields).body()
    assert body["conversationField"] == [
        {"field": "ConversationStateField", "conversationState": "CLOSE"},
        {"field": "Stage", "conversationState": "CLOSE"},
        {
            "field": "DialogChange",
            "type": "UPDATE",
            "dialog": {"dialogId": "d", "state": "CLOSE", "closedCause": "done"},
        },
        {
            "field": "CSATRate",
            "csatRate": 3,
            "csatResolutionConfirmation": False,
            "status": "SKIPPED",
        },
        {"field": "TTRField", "ttrType": "CUSTOM", "value": 60},
        {"field": "Note", "text": "x"},
    ]


def test_download_url_and_subscription_filters():
    assert GenerateDownloadUrl(relative_path="/p").body() == {"relativePath": "/p"}
    assert SubscribeExConversations(conv_state=(), stage=("OPEN",)).body() == {"stage": ["OPEN"]}
    assert SubscribeMessagingEvents(dialog_id="d", from_seq=5, conversation_id="c").body() == {
        "dialogId": "d",
        "fromSeq": 5,
        "conversationId": "c",
    }


def test_accept_and_read_builders():
    assert AcceptStatusEvent.read([3, 4]).to_wire() == {
        "type": "AcceptStatusEvent",
        "status": "READ",
        "sequenceList": [3, 4],
    }
    assert AcceptStatusEvent.accept(iter([1])).sequence_list == (1,)


def test_encoded_text_is_compact_utf8():
    text = encode(PublishEvent(dialog_id="d", event=ContentEvent.text_plain("héllo ✓")), "1")
    assert "héllo ✓" in text
    assert ", " not in text
