"""Every documented payload parses into the typed object it describes, with its fields."""

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
    Decoder,
    Dialog,
    ExConversationChangeNotification,
    GenerateUploadUrl,
    GetClock,
    InitConnection,
    MessagingEventNotification,
    PublishEvent,
    Response,
    RichContentEvent,
    SubscribeExConversations,
    SubscribeMessagingEvents,
    TtrChange,
    UnsubscribeExConversations,
    UpdateConversationField,
    parse_event,
    parse_request,
)
from lpbot.protocol.names import (
    AcceptStatus,
    ChatState,
    ConversationState,
    Notifications,
    Role,
    TTRType,
)
from lpbot.protocol.requests import ConsumerRequestConversation as CRC
from lpbot.protocol.requests import FileUrl

from .samples import fixture_names, load, text

# Files that are not frames of the consumer WebSocket (domain lookup, JWT parts, REST profile).
NOT_FRAMES = {
    "01-csds-all-services.json",
    "02-jwt-header-signup.json",
    "03-jwt-claims-signup.json",
    "24-agent-public-profile.json",
}


def decode(name: str):
    return Decoder().decode(text(name))


@pytest.mark.parametrize("name", fixture_names())
def test_every_documented_frame_parses_to_a_known_type(name):
    if name in NOT_FRAMES:
        return
    frame = load(name)
    if "-req-" in name or name.startswith(("11-", "14-")):
        request = parse_request(frame)
        assert type(request).type_name == frame["type"]
    elif name.startswith("18-"):
        assert isinstance(parse_event(frame), RichContentEvent)
    elif name.startswith("30-"):
        assert isinstance(Dialog.from_wire(frame), Dialog)
    elif "reqId" in frame:
        frame.setdefault("kind", "resp")  # 23 is shown without kind in the docs
        assert isinstance(Decoder().decode(json.dumps(frame)), Response)
    else:
        result = Decoder().decode(json.dumps(frame))
        assert isinstance(result, ExConversationChangeNotification | MessagingEventNotification)


def test_fixture_list_is_the_one_these_tests_know():
    assert len(fixture_names()) == 31


def test_04_init_connection():
    request = parse_request(load("04-req-InitConnection.json"))
    assert request == InitConnection(
        jwt="__YOUR_JWT__", client_properties={"deviceFamily": "MOBILE", "os": "ANDROID"}
    )


def test_05_request_conversation_response():
    resp = decode("05-resp-cm_RequestConversationResponse.json")
    assert resp == Response(
        req_id="1",
        code=200,
        response_type="cm.RequestConversationResponse",
        body={"conversationId": "7507be78-60ef-4468-b3b1-baa47fbeea21"},
    )
    assert resp.ok
    assert CRC().parse_response(resp) == "7507be78-60ef-4468-b3b1-baa47fbeea21"


def test_06_request_conversation_with_body():
    request = parse_request(load("06-req-cm_ConsumerRequestConversation.json"))
    assert request == ConsumerRequestConversation(
        campaign_id=418732213,
        engagement_id=425842913,
        context={
            "visitorId": "NmNDQ5OWU1MjM1NjBlZTAz",
            "sessionId": "DHE_fICSTZ2gx5IsljFcwQ",
            "interactionContextId": "1",
            "type": "SharkContext",
            "lang": "en-US",
        },
    )


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("07-req-cm_UpdateConversationField.json", CloseConversation()),
        ("08-req-cm_UpdateConversationField.json", CloseStage()),
        ("09-req-cm_UpdateConversationField.json", CloseDialog(dialog_id="Dialog ID")),
        (
            "10-req-cm_UpdateConversationField.json",
            CsatRate(rate=5, resolution_confirmation=True, status="FILLED"),
        ),
        (
            "11-other-cm_UpdateConversationField.json",
            TtrChange(ttr_type=TTRType.URGENT, value=300),
        ),
    ],
)
def test_07_to_11_update_conversation_field(name, field):
    frame = load(name)
    request = parse_request(frame)
    assert request == UpdateConversationField(
        conversation_id=frame["body"]["conversationId"], fields=(field,)
    )


def test_12_subscribe_conversations():
    request = parse_request(load("12-req-cqm_SubscribeExConversations.json"))
    assert request == SubscribeExConversations(min_last_updated_time=0)


def test_13_subscribe_conversations_response():
    resp = decode("13-resp-cqm_SubscribeExConversationsResponse.json")
    assert resp.req_id == "3"
    assert SubscribeExConversations().parse_response(resp) == (
        "1e25cbe8-de08-4bb2-a100-f72a172a6e04"
    )


def test_14_unsubscribe():
    request = parse_request(load("14-other-cqm_UnsubscribeExConversations.json"))
    assert request == UnsubscribeExConversations(subscription_id="id")


def test_15_subscribe_messaging_events():
    request = parse_request(load("15-req-ms_SubscribeMessagingEvents.json"))
    assert request == SubscribeMessagingEvents(dialog_id="__YOUR_CONVERSATION_ID__", from_seq=0)


def test_16_publish_text():
    request = parse_request(load("16-req-ms_PublishEvent.json"))
    assert request == PublishEvent(
        dialog_id="__YOUR_CONVERSATION_ID__", event=ContentEvent.text_plain("hi there")
    )
    assert request.event.text == "hi there"


def test_17_publish_hosted_file():
    request = parse_request(load("17-req-ms_PublishEvent.json"))
    event = request.event
    assert isinstance(event, ContentEvent)
    assert event.is_hosted_file
    assert event.text is None
    hosted = event.file
    assert hosted is not None
    assert hosted.relative_path == "__relative_path__"
    assert hosted.file_type == "PNG"
    assert hosted.caption == "LivePerson logo"
    assert hosted.preview == "data:image/png;base64,<Base64Image>"
    assert event == ContentEvent.hosted_file(
        "__relative_path__", "PNG", "LivePerson logo", "data:image/png;base64,<Base64Image>"
    )


def test_18_rich_content_event_passed_through_intact():
    wire = load("18-event-RichContentEvent.json")
    event = parse_event(wire)
    assert isinstance(event, RichContentEvent)
    assert event.content == wire["content"]
    assert event.to_wire() == wire


def test_19_publish_chat_state():
    request = parse_request(load("19-req-ms_PublishEvent.json"))
    assert request.event == ChatStateEvent(chat_state=ChatState.COMPOSING)
    assert request.event.chat_state is ChatState.COMPOSING


def test_20_publish_survey_action_with_envelope_metadata():
    frame = load("20-req-ms_PublishEvent.json")
    request = parse_request(frame)
    assert request == PublishEvent(
        dialog_id="__YOUR_POST_SURVEY_DIALOG_ID__",
        conversation_id="__YOUR_CONVERSATION_ID__",
        event=AcceptStatusEvent(status=AcceptStatus.ACTION, sequence_list=(1,)),
        metadata=tuple(frame["metadata"]),
    )


def test_21_publish_survey_answer_text():
    request = parse_request(load("21-req-ms_PublishEvent.json"))
    assert request.event.text == "1"
    assert request.metadata[0]["type"] == "Answer"


def test_22_generate_upload_url():
    request = parse_request(load("22-req-ms_GenerateURLForUploadFile.json"))
    assert request == GenerateUploadUrl(file_size=1024, file_type="JPG")


def test_23_generate_url_response():
    frame = load("23-other-ms_GenerateURLResponse.json")
    frame["kind"] = "resp"
    resp = Decoder().decode(json.dumps(frame))
    url = GenerateUploadUrl(file_size=1, file_type="JPG").parse_response(resp)
    assert url == FileUrl(
        relative_path=frame["body"]["relativePath"],
        query_params={
            "temp_url_sig": "0cff08d2d5618d100bc1353f32872c002180711f",
            "temp_url_expires": "1523947094",
        },
    )
    assert url.url("swift.example:8443").startswith(
        "https://swift.example:8443/v1/AUTH_async-images/12345678/"
    )
    assert url.url("h", tls=False).endswith(
        "?temp_url_sig=0cff08d2d5618d100bc1353f32872c002180711f&temp_url_expires=1523947094"
    )


def test_25_conversation_change_participants_pid_map():
    note = decode("25-notification-cqm_ExConversationChangeNotification.json")
    assert isinstance(note, ExConversationChangeNotification)
    assert note.notification_type == Notifications.CONVERSATION_CHANGE
    assert note.subscription_id == "c879a0e8-73fd-405c-9363-8ad6e0218fa9"
    (change,) = note.changes
    assert change.change_type == "UPSERT"
    assert change.conversation_id == "6b2622de-26b7-4e05-a7f2-5c2d50b3502f"
    assert change.last_update_time == 1477840967209
    assert change.effective_ttr is None
    details = change.details
    assert details is not None
    assert details.consumer_id == "72fca421-d1a2-459c-a420-6c5b1f3e75b0"
    assert details.assigned_agent_id == "734d9867-40e3-52b9-a401-07e877676d64"
    assert details.state is ConversationState.OPEN
    assert details.stage is None
    assert details.start_ts == 1477840809953
    assert details.ttr is not None
    assert details.ttr.ttr_type is TTRType.PRIORITIZED
    assert details.ttr.value == 600
    assert details.is_open
    assert details.open_dialog_ids == ("6b2622de-26b7-4e05-a7f2-5c2d50b3502f",)
    assert details.dialogs == ()


def test_26_conversation_change_multi_dialog():
    note = decode("26-notification-cqm_ExConversationChangeNotification.json")
    (change,) = note.changes
    assert change.effective_ttr == -1
    details = change.details
    assert [(p.id[:8], p.role) for p in details.participants] == [
        ("29c3019d", Role.ASSIGNED_AGENT),
        ("29c3019d", Role.READER),
        ("5e9ee96c", Role.CONSUMER),
        ("2fa9ac85", Role.AGENT),
        ("22815dea", Role.CONTROLLER),
    ]
    assert details.consumer_id == "5e9ee96c-226e-44b6-ac51-b1dfe494ba10"
    assert details.assigned_agent_id == "29c3019d-fe0b-5200-afe8-737abfeae4b4"
    assert details.state is ConversationState.CLOSE
    assert details.stage is ConversationState.OPEN
    assert details.close_reason == "CONSUMER"
    assert details.brand_id == "64467156"
    assert details.meta_data_last_update_ts == 1538499227108
    assert not details.is_open
    main, survey = details.dialogs
    assert main.dialog_id == "__YOUR_CONVERSATION_ID__"
    assert main.dialog_type == "MAIN"
    assert main.channel_type == "MESSAGING"
    assert main.state is ConversationState.CLOSE
    assert main.closed_by == "CONSUMER"
    assert main.creation_ts == 1538486163083
    assert main.end_ts == 1538499226753
    assert [p.role for p in main.participants] == [
        Role.CONSUMER,
        Role.CONTROLLER,
        Role.ASSIGNED_AGENT,
    ]
    assert survey.dialog_type == "POST_SURVEY"
    assert survey.meta_data == {"appInstallId": "756e7363-4472-4ae1-b1ae-b3b0b52107a0"}
    assert survey.is_open
    assert details.open_dialog_ids == ("__YOUR_POST_SURVEY_DIALOG_ID__",)


def test_30_cobrowse_dialog_with_bare_participant_ids():
    dialog = Dialog.from_wire(load("30-dialog-cobrowse.json"))
    assert dialog.dialog_type == "OTHER"
    assert dialog.channel_type == "COBROWSE"
    assert [p.id for p in dialog.participants] == [
        "cc05f2b9-916b-496e-89fe-66a46d975ae2",
        "le83624296.356285412",
    ]
    assert {p.role for p in dialog.participants} == {""}
    assert dialog.meta_data["sessionState"] == "INVITED"
    assert dialog.end_ts is None
    assert dialog.is_open


def test_31_initial_batch_text_without_originator_metadata():
    note = decode("31-notification-ms_MessagingEventNotification.json")
    (event,) = note.changes
    assert event.sequence == 0
    assert event.originator_id == "734d9867-40e3-52b9-a401-07e877676d64"
    assert event.role is None
    assert event.conversation_id is None
    assert event.dialog_id == "__YOUR_CONVERSATION_ID__"
    assert event.server_timestamp == 1477840831162
    assert event.event == ContentEvent.text_plain("message from the agent")
    assert event.metadata == ()


def test_32_agent_text():
    note = decode("32-notification-ms_MessagingEventNotification.json")
    (event,) = note.changes
    assert note.notification_type == Notifications.MESSAGING_EVENT
    assert event.sequence == 2
    assert event.role is Role.ASSIGNED_AGENT
    assert event.conversation_id == "__YOUR_CONVERSATION_ID__"
    assert event.event.text == "Hello again"


def test_33_agent_typing_has_no_sequence_or_timestamp():
    note = decode("33-notification-ms_MessagingEventNotification.json")
    (event,) = note.changes
    assert event.sequence is None
    assert event.server_timestamp is None
    assert event.event == ChatStateEvent(chat_state=ChatState.COMPOSING)


def test_34_agent_read_receipt():
    note = decode("34-notification-ms_MessagingEventNotification.json")
    (event,) = note.changes
    assert event.sequence == 7
    assert event.event == AcceptStatusEvent(status=AcceptStatus.READ, sequence_list=(4,))


def test_get_clock_has_no_fixture_but_parses():
    assert parse_request({"kind": "req", "id": "1", "type": "GetClock"}) == GetClock()
