"""Consumer requests that succeed: every variant of protocol notes §5 and the §9 spellings."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import requests

from lpbot.sandbox import Sandbox

from .conftest import Consumer, load_fixture, open_consumer, signup


def _text(message: str) -> dict[str, str]:
    return {"type": "ContentEvent", "contentType": "text/plain", "message": message}


def test_get_clock(consumer: Consumer) -> None:
    before = int(time.time() * 1000)
    resp = consumer.ok("GetClock")
    assert resp["type"] == ".GetClock$Response"
    assert resp["body"]["currentTime"] >= before


def test_ams_prefixed_spellings_are_accepted(consumer: Consumer) -> None:
    resp = consumer.ok(".ams.aam.SubscribeExConversations", {"convState": "OPEN"})  # single value
    sub_id = resp["body"]["subscriptionId"]
    cid = consumer.ok(".ams.cm.ConsumerRequestConversation")["body"]["conversationId"]
    consumer.ok(".ams.ms.SubscribeMessagingEvents", {"dialogId": cid})
    consumer.ok(".ams.ms.PublishEvent", {"dialogId": cid, "event": _text("dotted")})
    consumer.ok(".ams.aam.UnsubscribeExConversations", {"subscriptionId": sub_id})
    consumer.ok("KeepAlive")


def test_chat_states_are_unsequenced(quiet_consumer: Consumer) -> None:
    # No agent accepts on its own: a greeting would take sequence 0 on a busy machine.
    consumer = quiet_consumer
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    resp = consumer.ok(
        "ms.PublishEvent", load_fixture("19-req-ms_PublishEvent.json")["body"] | {"dialogId": cid}
    )
    assert resp["body"] == {"sequence": 0}
    change = consumer.event(lambda c: c["event"]["type"] == "ChatStateEvent")
    assert "sequence" not in change
    assert "serverTimestamp" not in change
    documented = load_fixture("33-notification-ms_MessagingEventNotification.json")["body"][
        "changes"
    ][0]
    assert set(change) == set(documented)
    # the next content event still gets sequence 0
    assert consumer.publish_text(cid, "first") == 0


def test_rich_content_under_content_or_message(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    card = load_fixture("18-event-RichContentEvent.json")
    seq = consumer.ok("ms.PublishEvent", {"dialogId": cid, "event": card})["body"]["sequence"]
    assert consumer.event(lambda c: c.get("sequence") == seq)["event"] == card
    legacy = {"type": "RichContentEvent", "message": card["content"]}
    seq = consumer.ok("ms.PublishEvent", {"dialogId": cid, "event": legacy})["body"]["sequence"]
    assert consumer.event(lambda c: c.get("sequence") == seq)["event"] == card


def test_hosted_file_and_quick_reply_action_with_metadata(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    hosted = load_fixture("17-req-ms_PublishEvent.json")["body"]["event"]
    consumer.ok("ms.PublishEvent", {"dialogId": cid, "event": hosted})
    action = load_fixture("20-req-ms_PublishEvent.json")
    action["body"] |= {"dialogId": cid, "conversationId": cid}
    action["body"]["event"]["sequenceList"] = [0]
    consumer.send_raw(json.dumps(action))
    assert consumer.response("22")["code"] == 200
    change = consumer.event(
        lambda c: (
            c["event"]["type"] == "AcceptStatusEvent"
            and c["originatorMetadata"]["role"] == "CONSUMER"
        )
    )
    assert change["metadata"] == action["metadata"]


def test_events_reach_every_subscriber_including_the_publisher(
    sandbox: Sandbox, consumer_factory: Callable[..., Consumer]
) -> None:
    token = signup(sandbox)
    phone, laptop = consumer_factory(token), consumer_factory(token)
    cid = phone.request_conversation()
    phone.subscribe_events(cid)
    laptop.subscribe_events(cid)
    seq = phone.publish_text(cid, "to both")
    for device in (phone, laptop):
        assert device.event(lambda c: c.get("sequence") == seq)["event"]["message"] == "to both"


def test_sequences_increase_per_dialog_and_replay_from_seq(quiet_consumer: Consumer) -> None:
    client = quiet_consumer
    cid = client.request_conversation()
    sequences = [client.publish_text(cid, f"m{i}") for i in range(5)]
    assert sequences == [0, 1, 2, 3, 4]
    replay = client.subscribe_events(cid, from_seq=2)
    assert [c["sequence"] for c in replay] == [2, 3, 4]
    assert [c["event"]["message"] for c in replay] == ["m2", "m3", "m4"]
    resp = client.ok(".ams.ms.QueryMessages", {"dialogId": cid, "newerThanSequence": 3})
    assert [c["sequence"] for c in resp["body"]] == [4]
    assert resp["body"][0]["originatorPId"] == resp["body"][0]["originatorId"]


def test_replay_includes_agent_events_after_reconnect(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    first = open_consumer(sandbox, token)
    try:
        cid = first.request_conversation()
        first.publish_text(cid, "before reconnect")
    finally:
        first.close()
    sandbox.wait_for_event(
        cid, lambda e: e.role == "ASSIGNED_AGENT" and e.text == "before reconnect"
    )
    second = open_consumer(sandbox, token)
    try:
        replay = second.subscribe_events(cid, from_seq=0)
        texts = [c["event"].get("message") for c in replay]
        assert texts.count("before reconnect") == 2  # the consumer's and the agent's echo
        assert [c["sequence"] for c in replay] == sorted(c["sequence"] for c in replay)
    finally:
        second.close()


def test_subscription_filters_and_delete(consumer: Consumer) -> None:
    open_only = consumer.ok("cqm.SubscribeExConversations", {"convState": ["OPEN"]})["body"][
        "subscriptionId"
    ]
    consumer.notification(
        "ExConversationChangeNotification", lambda f: f["body"]["subscriptionId"] == open_only
    )
    everything = consumer.subscribe_conversations({"convState": ["OPEN", "CLOSE"]})
    cid = consumer.request_conversation()
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": field})

    def change_of(sub_id: str, kind: str) -> dict[str, object]:
        frame = consumer.notification(
            "ExConversationChangeNotification",
            lambda f: (
                f["body"]["subscriptionId"] == sub_id
                and f["body"]["changes"][0]["type"] == kind
                and f["body"]["changes"][0]["result"]["conversationDetails"]["state"] == "CLOSE"
            ),
        )
        return dict(frame["body"]["changes"][0])

    assert change_of(open_only, "DELETE")["result"]["convId"] == cid  # type: ignore[index]
    assert change_of(everything, "UPSERT")["result"]["convId"] == cid  # type: ignore[index]
    # a new subscription's snapshot lists the closed conversation; a CLOSE-free filter does not
    consumer.ok("cqm.SubscribeExConversations", {"convState": ["CLOSE"], "minLastUpdatedTime": 0})
    snap = consumer.notification(
        "ExConversationChangeNotification", lambda f: len(f["body"]["changes"]) == 1
    )
    assert snap["body"]["changes"][0]["result"]["convId"] == cid
    future = int(time.time() * 1000) + 60_000
    consumer.ok("cqm.SubscribeExConversations", {"minLastUpdatedTime": future})
    assert consumer.notification(
        "ExConversationChangeNotification", lambda f: f["body"]["changes"] == []
    )


def test_unsubscribe_stops_notifications(consumer: Consumer) -> None:
    sub_id = consumer.subscribe_conversations()
    consumer.ok("cqm.UnsubscribeExConversations", {"subscriptionId": sub_id})
    consumer.request_conversation()
    consumer.ok("GetClock")
    assert not [f for f in consumer.frames if f.get("kind") == "notification"]


def test_unsubscribe_ends_only_that_subscription_of_the_socket(
    sandbox: Sandbox, consumer: Consumer
) -> None:
    kept = consumer.subscribe_conversations()
    dropped = consumer.subscribe_conversations()
    consumer.ok("cqm.UnsubscribeExConversations", {"subscriptionId": dropped})
    assert sandbox.unsubscribes == 1
    cid = consumer.request_conversation()
    [socket] = sandbox.subscriptions(sandbox.conversation(cid).consumer_id)
    assert socket.conversation_streams == (kept,)
    consumer.notification(
        "ExConversationChangeNotification",
        lambda f: f["body"]["subscriptionId"] == kept
        and any(c["result"]["convId"] == cid for c in f["body"]["changes"]),
    )
    consumer.ok("GetClock")  # after every notification the request caused
    notified = {
        f["body"]["subscriptionId"]
        for f in consumer.frames
        if str(f.get("type", "")).endswith("ExConversationChangeNotification")
    }
    assert dropped not in notified


def test_ttr_change_and_stage_close_are_visible(consumer: Consumer) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    ttr = load_fixture("11-other-cm_UpdateConversationField.json")["body"]["conversationField"]
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": ttr})
    change = consumer.conversation_change(
        lambda c: c["result"]["conversationDetails"]["ttr"]["ttrType"] == "URGENT"
    )
    assert change["result"]["conversationDetails"]["ttr"] == {"ttrType": "URGENT", "value": 300}
    stage = load_fixture("08-req-cm_UpdateConversationField.json")["body"]["conversationField"]
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": stage})
    closed = consumer.conversation_change(
        lambda c: c["result"]["conversationDetails"]["stage"] == "CLOSE"
    )
    assert closed["result"]["conversationDetails"]["state"] == "CLOSE"
    # a new conversation may be requested once the previous one is closed
    assert consumer.request_conversation() != cid


def test_dialog_change_without_multi_dialog_closes_the_conversation(
    consumer: Consumer, sandbox: Sandbox
) -> None:
    cid = consumer.request_conversation()
    field = load_fixture("09-req-cm_UpdateConversationField.json")["body"]["conversationField"]
    field["dialog"]["dialogId"] = cid
    consumer.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": field})
    record = sandbox.conversation(cid)
    assert (record.state, record.stage) == ("CLOSE", "CLOSE")
    assert record.dialogs[0].closed_cause == "Closed by consumer"


def test_effective_ttr_while_waiting_for_the_agent(
    quiet_consumer: Consumer, quiet_sandbox: Sandbox
) -> None:
    client = quiet_consumer
    client.subscribe_conversations()
    cid = client.request_conversation()
    client.conversation_change(lambda c: c["result"]["effectiveTTR"] == -1)
    client.publish_text(cid, "anyone?")
    waiting = client.conversation_change(lambda c: c["result"]["effectiveTTR"] > 0)
    details = waiting["result"]["conversationDetails"]
    assert waiting["result"]["effectiveTTR"] > details["startTs"]
    quiet_sandbox.agents.say(cid, "here")
    client.conversation_change(
        lambda c: (
            c["result"]["effectiveTTR"] == -1
            and len(c["result"]["conversationDetails"]["participants"]) == 2
        )
    )


def test_set_user_profile(consumer: Consumer) -> None:
    resp = consumer.ok("userprofile.SetUserProfile", {"firstName": "Ada", "lastName": "L"})
    assert resp["type"] == ".ReqBody$StringResp"


def test_file_upload_and_download(consumer: Consumer, sandbox: Sandbox) -> None:
    resp = consumer.ok(
        "ms.GenerateURLForUploadFile",
        load_fixture("22-req-ms_GenerateURLForUploadFile.json")["body"],
    )
    assert resp["type"] == "ms.GenerateURLResponse"
    assert set(resp["body"]["queryParams"]) == {"temp_url_sig", "temp_url_expires"}
    path, params = resp["body"]["relativePath"], resp["body"]["queryParams"]
    swift = f"{sandbox.http_url}{path}"
    assert requests.put(swift, params=params, data=b"\xff\xd8 jpeg", timeout=5).status_code == 201
    bad = dict(params, temp_url_sig="0" * 40)
    assert requests.put(swift, params=bad, data=b"x", timeout=5).status_code == 401
    assert requests.get(swift, params=params, timeout=5).status_code == 401  # signed for PUT only
    resp = consumer.ok("ms.GenerateURLForDownloadFile", {"relativePath": path})
    got = requests.get(swift, params=resp["body"]["queryParams"], timeout=5)
    assert got.status_code == 200
    assert got.content == b"\xff\xd8 jpeg"
    assert got.headers["Content-Type"] == "image/jpeg"
