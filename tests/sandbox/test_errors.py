"""Every documented error path of the consumer requests (protocol notes §5, §8)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from lpbot.sandbox import Sandbox

from .conftest import Consumer

STRING = ".ReqBody$StringResp"


def _error(resp: dict[str, object], code: int) -> None:
    assert resp["code"] == code, resp
    assert resp["type"] == STRING
    assert isinstance(resp["body"], str)
    assert resp["body"]


def test_malformed_json_is_answered_400_without_req_id(consumer: Consumer) -> None:
    consumer.send_raw("{not json")
    resp = consumer.wait_for(lambda f: f.get("kind") == "resp")
    _error(resp, 400)
    assert "reqId" not in resp
    consumer.ok("GetClock")  # the socket survives


@pytest.mark.parametrize("frame", ["[1, 2]", '"text"', '{"kind":"req","type":"GetClock"}'])
def test_not_a_request_object_or_missing_id(consumer: Consumer, frame: str) -> None:
    consumer.send_raw(frame)
    _error(consumer.wait_for(lambda f: f.get("kind") == "resp"), 400)


def test_missing_type_and_unknown_type(consumer: Consumer) -> None:
    consumer.send_raw('{"kind":"req","id":"x1"}')
    _error(consumer.response("x1"), 400)
    _error(consumer.request("cm.NoSuchRequest"), 400)
    _error(consumer.request(".GetClock"), 400)  # the dotted agent spelling fails on v3 (#51)


def test_binary_frame_is_refused(consumer: Consumer) -> None:
    consumer.ws.send(b'{"kind":"req","id":"1","type":"GetClock"}')
    _error(consumer.wait_for(lambda f: f.get("kind") == "resp"), 400)


def test_numeric_id_is_echoed_as_string(consumer: Consumer) -> None:
    consumer.send_raw('{"kind":"req","id":77,"type":"GetClock"}')
    assert consumer.response("77")["code"] == 200


def test_second_open_conversation_is_refused_and_nothing_created(
    consumer: Consumer, sandbox: Sandbox
) -> None:
    cid = consumer.request_conversation()
    resp = consumer.request("cm.ConsumerRequestConversation")
    _error(resp, 400)
    assert cid in str(resp["body"])
    assert [c.conversation_id for c in sandbox.conversations()] == [cid]


@pytest.mark.parametrize(
    "body",
    [
        {"ttrDefName": "SOMETIMES"},
        {"brandId": "another-brand"},
        {"channelType": "SMS"},
        {"skillId": ["a"]},
        {"campaignInfo": "x"},
        "not an object",
    ],
)
def test_request_conversation_invalid_fields(consumer: Consumer, body: object) -> None:
    _error(consumer.request("cm.ConsumerRequestConversation", body), 400)


def test_request_conversation_with_documented_body(consumer: Consumer, sandbox: Sandbox) -> None:
    body = {
        "channelType": "MESSAGING",
        "ttrDefName": "URGENT",
        "skillId": "12345",
        "campaignInfo": {"campaignId": 418732213, "engagementId": 425842913},
        "conversationContext": {"type": "SharkContext", "lang": "en-US", "visitorId": "v"},
    }
    cid = consumer.request_conversation(body)
    record = sandbox.conversation(cid)
    assert record.skill_id == "12345"
    assert record.ttr == ("URGENT", 300)
    assert record.context is not None
    assert record.context["lang"] == "en-US"


def test_publish_to_closed_conversation(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": [field]})
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": "late"}
    _error(consumer.request("ms.PublishEvent", {"dialogId": cid, "event": event}), 400)
    # closing twice is refused too
    again = {"conversationId": cid, "conversationField": field}
    _error(consumer.request("cm.UpdateConversationField", again), 400)


def test_publish_and_subscribe_to_unknown_dialog(consumer: Consumer) -> None:
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": "x"}
    _error(consumer.request("ms.PublishEvent", {"dialogId": "nope", "event": event}), 400)
    _error(consumer.request("ms.SubscribeMessagingEvents", {"dialogId": "nope"}), 400)
    _error(consumer.request("ms.SubscribeMessagingEvents", {}), 400)


def test_consumers_are_isolated(consumer_factory: Callable[..., Consumer]) -> None:
    alice, bob = consumer_factory(), consumer_factory()
    alice.subscribe_conversations()
    bob_sub = bob.subscribe_conversations()
    cid = alice.request_conversation()
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": "intrusion"}
    _error(bob.request("ms.PublishEvent", {"dialogId": cid, "event": event}), 400)
    _error(bob.request("ms.SubscribeMessagingEvents", {"dialogId": cid}), 400)
    close = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    _error(
        bob.request(
            "cm.UpdateConversationField", {"conversationId": cid, "conversationField": close}
        ),
        404,
    )
    _error(bob.request(".ams.ms.QueryMessages", {"dialogId": cid}), 400)
    # Bob never hears about Alice's conversation
    bob.ok("GetClock")
    assert not [
        f
        for f in bob.frames
        if f.get("kind") == "notification" and f["body"].get("subscriptionId") == bob_sub
    ]


@pytest.mark.parametrize(
    "event",
    [
        None,
        "text",
        {"type": "Nonsense"},
        {"type": "ContentEvent", "message": "no content type"},
        {"type": "ContentEvent", "contentType": "text/plain"},
        {"type": "ContentEvent", "contentType": "text/plain", "message": {"not": "a string"}},
        {"type": "ContentEvent", "contentType": "hosted/file", "message": {"caption": "x"}},
        {"type": "RichContentEvent"},
        {"type": "AcceptStatusEvent", "status": "READ"},
        {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": ["x"]},
        {"type": "AcceptStatusEvent", "sequenceList": [0]},
        {"type": "ChatStateEvent"},
    ],
)
def test_publish_invalid_events(consumer: Consumer, event: object) -> None:
    cid = consumer.request_conversation()
    _error(consumer.request("ms.PublishEvent", {"dialogId": cid, "event": event}), 400)


def test_publish_missing_body_and_mismatched_conversation(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    _error(consumer.request("ms.PublishEvent"), 400)
    event = {"type": "ChatStateEvent", "chatState": "ACTIVE"}
    body = {"dialogId": cid, "conversationId": "other", "event": event}
    _error(consumer.request("ms.PublishEvent", body), 400)


def _rate(consumer: Consumer, cid: str, rate: int) -> dict[str, object]:
    csat = {
        "field": "CSATRate",
        "csatRate": rate,
        "csatResolutionConfirmation": True,
        "status": "FILLED",
    }
    return consumer.request(
        "cm.UpdateConversationField", {"conversationId": cid, "conversationField": csat}
    )


def test_csat_before_close_is_refused(consumer: Consumer, sandbox: Sandbox) -> None:
    cid = consumer.request_conversation()
    _error(_rate(consumer, cid, 5), 400)
    record = sandbox.conversation(cid)
    assert record.csat is None
    [early] = record.csat_submissions
    assert (early.rate, early.accepted, early.code) == (5, False, 400)


def test_a_conversation_is_rated_once_and_every_rating_is_recorded(
    consumer: Consumer, sandbox: Sandbox
) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    close = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": close})
    assert _rate(consumer, cid, 4)["code"] == 200
    consumer.conversation_change(lambda c: "csat" in c["result"]["conversationDetails"])
    again = _rate(consumer, cid, 1)
    _error(again, 400)
    assert "already rated" in str(again["body"])
    record = sandbox.conversation(cid)
    assert record.csat is not None
    assert record.csat["csatRate"] == 4
    assert [(s.rate, s.accepted) for s in record.csat_submissions] == [(4, True), (1, False)]
    assert record.csat_submissions[1].reason == "conversation already rated"
    # two ratings in one request are refused as a whole, and recorded
    fresh = consumer.request_conversation()
    consumer.ok("cm.UpdateConversationField", {"conversationId": fresh, "conversationField": close})
    two = [
        {"field": "CSATRate", "csatRate": n, "csatResolutionConfirmation": True, "status": "FILLED"}
        for n in (2, 3)
    ]
    body = {"conversationId": fresh, "conversationField": two}
    _error(consumer.request("cm.UpdateConversationField", body), 400)
    assert sandbox.conversation(fresh).csat is None
    assert [s.code for s in sandbox.conversation(fresh).csat_submissions] == [400, 400]


@pytest.mark.parametrize(
    "field",
    [
        {"field": "CSATRate", "csatRate": 6, "status": "FILLED"},
        {"field": "CSATRate", "csatRate": 3, "status": "MAYBE"},
        {"field": "CSATRate", "csatRate": 3, "csatResolutionConfirmation": "yes"},
        {"field": "TTRField", "ttrType": "SOON", "value": 5},
        {"field": "TTRField", "ttrType": "URGENT", "value": -1},
        {"field": "ConversationStateField", "conversationState": "OPEN"},
        {"field": "Stage", "conversationState": "OPEN"},
        {
            "field": "DialogChange",
            "type": "UPDATE",
            "dialog": {"dialogId": "nope", "state": "CLOSE"},
        },
        {"field": "DialogChange", "type": "ADD"},
        {"field": "NoSuchField"},
        "not an object",
    ],
)
def test_update_field_invalid(consumer: Consumer, field: object) -> None:
    cid = consumer.request_conversation()
    body = {"conversationId": cid, "conversationField": field}
    _error(consumer.request("cm.UpdateConversationField", body), 400)


@pytest.mark.parametrize(
    "field",
    [
        {"field": "ParticipantsChange", "type": "ADD", "role": "MANAGER"},
        {"field": "Skill", "type": "UPDATE", "skill": "1"},
        {"field": "ManualETTR", "time": 1},
        {"field": "DelayField"},
        {"field": "Note"},
        {"field": "TopicField"},
    ],
)
def test_agent_only_fields_are_forbidden(consumer: Consumer, field: object) -> None:
    cid = consumer.request_conversation()
    body = {"conversationId": cid, "conversationField": [field]}
    _error(consumer.request("cm.UpdateConversationField", body), 403)


def test_update_field_unknown_conversation_and_missing_fields(consumer: Consumer) -> None:
    field = {"field": "TTRField", "ttrType": "URGENT", "value": 5}
    _error(
        consumer.request(
            "cm.UpdateConversationField", {"conversationId": "nope", "conversationField": field}
        ),
        404,
    )
    _error(consumer.request("cm.UpdateConversationField", {"conversationField": field}), 400)
    cid = consumer.request_conversation()
    _error(consumer.request("cm.UpdateConversationField", {"conversationId": cid}), 400)


def test_update_fields_are_all_or_nothing(consumer: Consumer, sandbox: Sandbox) -> None:
    cid = consumer.request_conversation()
    fields = [{"field": "TTRField", "ttrType": "URGENT", "value": 10}, {"field": "Note"}]
    _error(
        consumer.request(
            "cm.UpdateConversationField", {"conversationId": cid, "conversationField": fields}
        ),
        403,
    )
    assert sandbox.conversation(cid).ttr == ("NORMAL", 3600)


def test_subscription_errors(consumer: Consumer) -> None:
    _error(consumer.request("cqm.SubscribeExConversations", {"convState": ["SOMEDAY"]}), 400)
    _error(consumer.request("cqm.SubscribeExConversations", {"minLastUpdatedTime": "soon"}), 400)
    _error(consumer.request("cqm.UnsubscribeExConversations", {"subscriptionId": "nope"}), 400)
    cid = consumer.request_conversation()
    _error(consumer.request("ms.SubscribeMessagingEvents", {"dialogId": cid, "fromSeq": -1}), 400)


def test_file_url_errors(consumer: Consumer) -> None:
    _error(
        consumer.request("ms.GenerateURLForUploadFile", {"fileSize": 10, "fileType": "EXE"}), 400
    )
    _error(
        consumer.request("ms.GenerateURLForUploadFile", {"fileSize": 10**9, "fileType": "JPG"}), 400
    )
    _error(consumer.request("ms.GenerateURLForUploadFile", {"fileType": "JPG"}), 400)
    _error(consumer.request("ms.GenerateURLForDownloadFile", {"relativePath": "/v1/nothing"}), 400)
    _error(consumer.request("ms.GenerateURLForDownloadFile", {}), 400)


def test_request_with_metadata_object_and_large_frame(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": "x" * 50_000}
    frame = {
        "kind": "req",
        "id": "big",
        "type": "ms.PublishEvent",
        "body": {"dialogId": cid, "event": event},
        "metadata": {"type": "ExternalId", "id": "e1"},
    }
    consumer.send_raw(json.dumps(frame))
    assert consumer.response("big")["code"] == 200
