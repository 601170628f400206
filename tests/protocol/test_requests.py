"""Each request turns its response into a typed value, or raises RequestRejected with context."""

from __future__ import annotations

import pytest

from lpbot.errors import ProtocolError, RequestRejected
from lpbot.protocol import (
    ChatStateEvent,
    ConsumerRequestConversation,
    ContentEvent,
    GenerateDownloadUrl,
    GenerateUploadUrl,
    GetClock,
    InitConnection,
    PublishEvent,
    Response,
    SubscribeExConversations,
    SubscribeMessagingEvents,
    UnsubscribeExConversations,
    UpdateConversationField,
)
from lpbot.protocol.names import ChatState
from lpbot.protocol.requests import FileUrl

ALL_REQUESTS = [
    InitConnection(jwt="eyJ.secret.sig", client_properties={"os": "LINUX"}),
    GetClock(),
    ConsumerRequestConversation(skill_id="1"),
    UpdateConversationField.close_conversation("c"),
    SubscribeExConversations(),
    UnsubscribeExConversations(subscription_id="s"),
    SubscribeMessagingEvents(dialog_id="d"),
    PublishEvent(dialog_id="d", event=ContentEvent.text_plain("x")),
    GenerateUploadUrl(file_size=10, file_type="PNG"),
    GenerateDownloadUrl(relative_path="/p"),
]


def resp(code: int = 200, body: object = None) -> Response:
    return Response(req_id="1", code=code, response_type="t", body=body)


@pytest.mark.parametrize("request_", ALL_REQUESTS, ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("code", [400, 401, 403, 404, 429, 500, 503, 302, 100])
def test_error_codes_raise_request_rejected_carrying_the_request(request_, code):
    with pytest.raises(RequestRejected) as info:
        request_.parse_response(resp(code, "short reason"))
    error = info.value
    assert error.request is request_
    assert error.request_type == type(request_).type_name
    assert error.code == code
    assert error.body == "short reason"
    assert str(code) in str(error)


def test_success_values():
    assert InitConnection(jwt="j").parse_response(
        resp(body="Connection initialized successfully")
    ) == ("Connection initialized successfully")
    assert GetClock().parse_response(resp(body={"currentTime": 1513813587308})) == 1513813587308
    assert ConsumerRequestConversation().parse_response(resp(body={"conversationId": "c"})) == "c"
    assert UpdateConversationField.close_conversation("c").parse_response(resp(201)) == ""
    assert SubscribeExConversations().parse_response(resp(body={"subscriptionId": "s"})) == "s"
    assert UnsubscribeExConversations(subscription_id="s").parse_response(resp(body="OK")) == "OK"
    assert SubscribeMessagingEvents(dialog_id="d").parse_response(resp(body={})) is None
    url = GenerateDownloadUrl(relative_path="/p").parse_response(
        resp(
            body={"relativePath": "/p", "queryParams": {"temp_url_sig": "s", "temp_url_expires": 1}}
        )
    )
    assert url == FileUrl(
        relative_path="/p", query_params={"temp_url_sig": "s", "temp_url_expires": "1"}
    )
    assert FileUrl(relative_path="/x").url("h:1") == "https://h:1/x"


@pytest.mark.parametrize(
    ("request_", "body"),
    [
        (GetClock(), None),
        (GetClock(), {"currentTime": "now"}),
        (GetClock(), "text"),
        (ConsumerRequestConversation(), {}),
        (ConsumerRequestConversation(), {"conversationId": 5}),
        (SubscribeExConversations(), [1]),
        (SubscribeExConversations(), {"subscriptionId": None}),
        (SubscribeExConversations(), {"subscriptionId": {}}),
        (PublishEvent(dialog_id="d", event=ContentEvent.text_plain("x")), {}),
        (PublishEvent(dialog_id="d", event=ContentEvent.text_plain("x")), {"sequence": "1"}),
        (GenerateUploadUrl(file_size=1, file_type="PNG"), {"queryParams": {}}),
        (GenerateUploadUrl(file_size=1, file_type="PNG"), {"relativePath": 5}),
    ],
)
def test_unusable_success_bodies_raise_protocol_error(request_, body):
    with pytest.raises(ProtocolError):
        request_.parse_response(resp(body=body))


def test_chat_state_publish_needs_no_sequence():
    publish = PublishEvent(dialog_id="d", event=ChatStateEvent(chat_state=ChatState.COMPOSING))
    assert publish.parse_response(resp(body="odd")) == 0


def test_jwt_never_in_repr():
    request = InitConnection(jwt="eyJhbGciOi.payload.signature", client_properties={"os": "X"})
    assert "eyJ" not in repr(request)
    assert "signature" not in repr(request)
    assert "eyJ" not in str(request)


def test_rejected_error_does_not_print_the_jwt():
    request = InitConnection(jwt="eyJhbGciOi.payload.signature")
    with pytest.raises(RequestRejected) as info:
        request.parse_response(resp(401, "bad token"))
    assert "signature" not in str(info.value)
    assert "signature" not in repr(info.value.request)


@pytest.mark.parametrize("request_", ALL_REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_are_hashable_values(request_):
    assert request_ == request_
    hash(request_)
