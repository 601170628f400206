"""Every documented variant on the wire (protocol notes §4.4, §5.4, §5.7, §5.9, §6, §9), seen by a
neutral client: ``legacy`` sends the other documented form on every dimension, ``random`` draws
them per connection from a seed that replays them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.sandbox.variants import (
    CANONICAL,
    CONVERSATION_SPELLINGS,
    LEGACY,
    SEED_VARIABLE,
    WireVariants,
)

from .conftest import Consumer, Frame, load_fixture, open_consumer, signup

AGENTS = AgentOptions(accept_delay=None, reply_delay=0.01, greeting=None)
MULTI = json.dumps({"type": ".ClientProperties", "features": ["MULTI_DIALOG"]})


@pytest.fixture
def legacy() -> Iterator[Sandbox]:
    with Sandbox(agents=AGENTS, wire_variants="legacy") as running:
        yield running


@pytest.fixture
def old_client(legacy: Sandbox) -> Iterator[Consumer]:
    client = open_consumer(legacy, signup(legacy), headers={"Client-Properties": MULTI})
    yield client
    client.close()


def _response(client: Consumer, req_id: str) -> Frame:
    """A response found by ``reqId`` alone, the way protocol notes §4.4 tells clients to."""
    return client.wait_for(lambda f: f.get("reqId") == req_id and "code" in f)


def test_legacy_conversation_shapes(legacy: Sandbox, old_client: Consumer) -> None:
    old_client.send("cqm.SubscribeExConversations", {"convState": ["OPEN", "CLOSE"]})
    snapshot = old_client.notification("ExConversationChangeNotification")
    assert snapshot["type"] == ".ams.aam.ExConversationChangeNotification"
    cid = _response(old_client, old_client.send("cm.ConsumerRequestConversation"))["body"][
        "conversationId"]
    agent = legacy.agents.accept(cid)
    change = old_client.conversation_change(
        lambda c: "ASSIGNED_AGENT" in c["result"]["conversationDetails"]["participantsPId"]
    )
    details = change["result"]["conversationDetails"]
    # §6.1 Example A: role -> ids, no participants list
    documented = load_fixture("25-notification-cqm_ExConversationChangeNotification.json")
    example = documented["body"]["changes"][0]["result"]["conversationDetails"]
    assert set(example) <= set(details)
    assert "participants" not in details
    assert details["participantsPId"]["ASSIGNED_AGENT"] == [agent]
    # §6.1 Example D's older dialog form: a bare id list
    assert set(details["dialogs"][0]["participants"]) == {legacy.conversation(cid).consumer_id,
                                                          agent}
    # §6.1 Example B: delay and manualETTR
    assert details["delay"] == {"type": "NIGHT", "tillWhen": 0}
    assert details["manualETTR"] == 0


def test_legacy_responses(legacy: Sandbox, old_client: Consumer) -> None:
    old_client.ok("GetClock")
    cid = _response(old_client, old_client.send("cm.ConsumerRequestConversation"))["body"][
        "conversationId"]
    # §5.7: .ams.GenericSubscribeResponse without a body
    subscribed = _response(old_client, old_client.send("ms.SubscribeMessagingEvents",
                                                       {"dialogId": cid}))
    assert subscribed == {"kind": "resp", "reqId": subscribed["reqId"], "code": 200,
                          "type": ".ams.GenericSubscribeResponse"}
    # §4.4: the SDKs' fully qualified names
    published = _response(old_client, old_client.send(
        "ms.PublishEvent", {"dialogId": cid, "event": {"type": "ChatStateEvent",
                                                        "chatState": "ACTIVE"}}))
    assert (published["type"], published["body"]) == (".ams.ms.PublishEvent$Response",
                                                      {"sequence": 0})
    subscribed_conversations = _response(old_client, old_client.send(
        "cqm.SubscribeExConversations"))
    assert subscribed_conversations["type"] == ".ams.aam.SubscribeExConversations$Response"
    # §5.4: the API reference's response shows only reqId and code
    ttr = {"field": "TTRField", "ttrType": "URGENT", "value": 300}
    update = _response(old_client, old_client.send(
        "cm.UpdateConversationField", {"conversationId": cid, "conversationField": ttr}))
    assert update == {"reqId": update["reqId"], "code": 200}
    # §5.9: no kind, and the tutorial captures' type name
    upload = _response(old_client, old_client.send(
        "ms.GenerateURLForUploadFile", {"fileSize": "1024", "fileType": "JPG"}))
    documented = load_fixture("23-other-ms_GenerateURLResponse.json")
    assert set(upload) == set(documented)
    assert upload["type"] == "ms.BaseGenerateURLResponse"
    assert set(upload["body"]["queryParams"]) == set(documented["body"]["queryParams"])
    # the PCS capture's string response type, for answers and errors alike
    sub_id = _response(old_client, old_client.send("cqm.SubscribeExConversations"))["body"][
        "subscriptionId"]
    unsubscribed = _response(old_client, old_client.send(
        "cqm.UnsubscribeExConversations", {"subscriptionId": sub_id}))
    assert (unsubscribed["kind"], unsubscribed["type"]) == ("resp", "StringResponse")
    refused = _response(old_client, old_client.send("cm.ConsumerRequestConversation"))
    assert (refused["code"], refused["type"]) == (400, "StringResponse")


def test_legacy_events_and_background(legacy: Sandbox, old_client: Consumer) -> None:
    cid = _response(old_client, old_client.send("cm.ConsumerRequestConversation"))["body"][
        "conversationId"]
    old_client.send("ms.SubscribeMessagingEvents", {"dialogId": cid})
    backlog = old_client.notification("MessagingEventNotification")
    # decision 7 (docs/sandbox-rules.md, beside protocol notes §8.6): the backlog stays a batch
    assert backlog["type"] == "ms.MessagingEventNotification"
    agent = legacy.agents.accept(cid)
    legacy.agents.say(cid, "hello")
    live = old_client.notification("OnlineEventDistribution")
    assert live["type"] == ".ams.ms.OnlineEventDistribution"  # §6.3: one event per body
    body = live["body"]
    assert "changes" not in body
    assert (body["originatorPId"], body["dialogId"], body["event"]["message"]) == (
        agent, cid, "hello")
    assert body["sequence"] == 0
    # §9: a card under the schema's key ``message``; a hosted file spelled ``HostedFile``
    legacy.agents.say_rich(cid, {"type": "vertical", "elements": []})
    card = old_client.notification(
        "OnlineEventDistribution", lambda f: f["body"]["event"]["type"] == "RichContentEvent")
    assert card["body"]["event"] == {"type": "RichContentEvent",
                                     "message": {"type": "vertical", "elements": []}}
    path = _response(old_client, old_client.send(
        "ms.GenerateURLForUploadFile", {"fileSize": "10", "fileType": "PNG"}))["body"][
        "relativePath"]
    hosted = {"type": "ContentEvent", "contentType": "hosted/file",
              "message": {"caption": "logo", "relativePath": path, "fileType": "PNG"}}
    old_client.send("ms.PublishEvent", {"dialogId": cid, "event": hosted})
    echo = old_client.notification(
        "OnlineEventDistribution", lambda f: f["body"]["event"].get("contentType") == "HostedFile")
    assert echo["body"]["event"]["message"]["caption"] == "logo"
    # the replay carries no originatorMetadata (§6.2's first example)
    old_client.send("ms.SubscribeMessagingEvents", {"dialogId": cid, "fromSeq": 0})
    replay = old_client.notification("MessagingEventNotification")
    change = replay["body"]["changes"][0]
    assert "originatorMetadata" not in change
    assert change["originatorId"] == agent

    # a second socket of the same consumer sees BACKGROUND when the first one closes (§5.8.5;
    # when and where: decision 8 of docs/sandbox-rules.md, beside protocol notes §8)
    token = signup(legacy)
    first = open_consumer(legacy, token)
    second = open_consumer(legacy, token)
    try:
        own = _response(first, first.send("cm.ConsumerRequestConversation"))["body"][
            "conversationId"]
        for client in (first, second):
            client.send("ms.SubscribeMessagingEvents", {"dialogId": own})
            client.notification("MessagingEventNotification")
        first.close()
        background = second.notification(
            "OnlineEventDistribution", lambda f: f["body"]["event"]["type"] == "ChatStateEvent")
        assert background["body"]["event"]["chatState"] == "BACKGROUND"
        assert background["body"]["originatorPId"] == legacy.conversation(own).consumer_id
        assert "sequence" not in background["body"]
    finally:
        second.close()


def test_canonical_sends_no_background_and_always_kind() -> None:
    with Sandbox(agents=AGENTS, wire_variants="canonical") as sandbox:
        token = signup(sandbox)
        first, second = open_consumer(sandbox, token), open_consumer(sandbox, token)
        try:
            first.subscribe_conversations()
            cid = first.request_conversation()
            for client in (first, second):
                client.subscribe_events(cid)
            ttr = {"field": "TTRField", "ttrType": "URGENT", "value": 300}
            update = second.ok("cm.UpdateConversationField",
                               {"conversationId": cid, "conversationField": ttr})
            assert update["kind"] == "resp"
            first.close()
            second.ok("GetClock")
            assert [e.event for e in sandbox.conversation(cid).events] == []
        finally:
            second.close()


def test_random_styles_replay_with_their_seed_and_cover_every_variant() -> None:
    first, again = WireVariants("random", seed=99), WireVariants("random", seed=99)
    styles = [first.next_style() for _ in range(64)]
    assert [again.next_style() for _ in range(64)] == styles
    assert {s.conversation_type for s in styles} == set(CONVERSATION_SPELLINGS)
    assert CANONICAL.describe() == "canonical"
    for flag in ("participants_map", "online_distribution", "kindless", "delay_fields",
                 "string_response", "bare_subscribe_response", "base_generate_url",
                 "no_originator_metadata", "background", "rich_content_message",
                 "hosted_file_schema", "qualified_response_types"):
        assert {getattr(s, flag) for s in styles} == {False, True}, flag
        assert flag in LEGACY.describe()
    other = WireVariants("random", seed=100)
    assert [other.next_style() for _ in range(64)] != styles
    assert [WireVariants("legacy").next_style() for _ in range(2)] == [LEGACY, LEGACY]
    with pytest.raises(ValueError, match="canonical, legacy, random"):
        WireVariants("fancy")


def test_sandbox_seed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_VARIABLE, "31337")
    with Sandbox(agents=AGENTS) as sandbox:
        assert (sandbox.wire_variants, sandbox.seed) == ("random", 31337)
        assert sandbox.variants_description == "random (seed 31337)"
    monkeypatch.delenv(SEED_VARIABLE)
    with Sandbox(agents=AGENTS, seed=5) as sandbox:
        assert sandbox.seed == 5


def test_same_seed_same_shapes_over_sockets() -> None:
    """Connection n of two sandboxes with one seed receives the same spelling."""
    seen = []
    for _ in range(2):
        with Sandbox(agents=AGENTS, seed=2024) as sandbox:
            types = []
            for _ in range(4):
                client = open_consumer(sandbox, signup(sandbox))
                try:
                    client.send("cqm.SubscribeExConversations")
                    types.append(client.notification("ExConversationChangeNotification")["type"])
                finally:
                    client.close()
            seen.append(types)
    assert seen[0] == seen[1]
