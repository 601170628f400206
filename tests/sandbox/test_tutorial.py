"""The getting-started tutorial, step by step, with a neutral client (protocol notes §7.1)."""

from __future__ import annotations

import base64
import json

import requests
from websockets.sync.client import connect

from lpbot.sandbox import Sandbox

from .conftest import Consumer, load_fixture, open_consumer, signup


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    data: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return data


def _same_keys(actual: dict[str, object], documented: dict[str, object]) -> None:
    """Every documented key is present (extra keys are allowed by §4.2 forward compatibility)."""
    missing = set(documented) - set(actual)
    assert not missing, f"missing documented keys {missing} in {actual}"


def test_tutorial_with_authorization_header(sandbox: Sandbox) -> None:
    # step 1: domain lookup gives the messaging and identity hosts
    services = requests.get(sandbox.csds_url, timeout=5).json()["baseURIs"]
    by_name = {s["service"]: s["baseURI"] for s in services}
    _same_keys(services[0], load_fixture("01-csds-all-services.json")["baseURIs"][0])
    assert by_name["asyncMessagingEnt"] == f"127.0.0.1:{sandbox.ws_port}"
    assert by_name["idp"] == sandbox.csds_domain

    # step 2: signup returns a JWT whose claims are the documented ones
    reply = requests.post(
        f"http://{by_name['idp']}/api/account/{sandbox.account}/signup", timeout=5
    )
    token = reply.json()["jwt"]
    claims = _claims(token)
    _same_keys(claims, load_fixture("03-jwt-claims-signup.json"))
    assert claims["aud"] == f"acc:{sandbox.account}"

    # step 3: connect with the header, subscribe to conversations (snapshot arrives, empty)
    url = f"ws://{by_name['asyncMessagingEnt']}/ws_api/account/{sandbox.account}/messaging/consumer?v=3"
    props = json.dumps({"type": ".ClientProperties", "deviceFamily": "DESKTOP", "os": "LINUX"})
    ws = connect(
        url,
        additional_headers={"Authorization": f"jwt {token}", "Client-Properties": props},
        legacy=True,
    )
    consumer = Consumer(ws)
    try:
        resp = consumer.ok(
            "cqm.SubscribeExConversations",
            load_fixture("12-req-cqm_SubscribeExConversations.json")["body"],
        )
        _same_keys(resp, load_fixture("13-resp-cqm_SubscribeExConversationsResponse.json"))
        sub_id = resp["body"]["subscriptionId"]
        snapshot = consumer.notification("ExConversationChangeNotification")
        assert snapshot["body"] == {"subscriptionId": sub_id, "changes": []}

        # step 4: request a conversation; the UPSERT shows the consumer alone
        resp = consumer.request("cm.ConsumerRequestConversation")
        _same_keys(resp, load_fixture("05-resp-cm_RequestConversationResponse.json"))
        cid = resp["body"]["conversationId"]
        change = consumer.conversation_change(lambda c: c["result"]["convId"] == cid)
        assert change["type"] == "UPSERT"
        details = change["result"]["conversationDetails"]
        assert details["participants"] == [{"id": claims["sub"], "role": "CONSUMER"}]
        assert details["state"] == "OPEN"

        # step 5: subscribe to messaging events and publish "hi there"
        consumer.subscribe_events(cid)  # replay: empty, or the greeting if already accepted
        sent = load_fixture("16-req-ms_PublishEvent.json")
        sent["body"]["dialogId"] = cid
        consumer.send_raw(json.dumps(sent))
        resp = consumer.response("2")  # numeric id 2 is answered with the string "2"
        assert resp["code"] == 200
        assert resp["type"] == "ms.PublishEventResponse"
        my_seq = resp["body"]["sequence"]
        echo = consumer.event(lambda c: c.get("sequence") == my_seq)
        assert echo["originatorId"] == claims["sub"]
        assert echo["originatorMetadata"]["role"] == "CONSUMER"
        assert echo["event"] == sent["body"]["event"]

        # step 6: an agent accepts (participants change) and replies
        assigned = consumer.conversation_change(
            lambda c: any(
                p["role"] == "ASSIGNED_AGENT"
                for p in c["result"]["conversationDetails"]["participants"]
            )
        )
        agent_id = next(
            p["id"]
            for p in assigned["result"]["conversationDetails"]["participants"]
            if p["role"] == "ASSIGNED_AGENT"
        )
        reply_event = consumer.event(
            lambda c: c["originatorId"] == agent_id and c["event"].get("message") == "hi there"
        )
        _same_keys(
            reply_event,
            load_fixture("32-notification-ms_MessagingEventNotification.json")["body"]["changes"][
                0
            ],
        )
        read = consumer.event(lambda c: c["event"].get("status") == "READ")
        assert read["event"]["sequenceList"] == [my_seq]

        # step 7: the consumer acknowledges the reply (ACCEPT then READ)
        for status in ("ACCEPT", "READ"):
            event = {
                "type": "AcceptStatusEvent",
                "status": status,
                "sequenceList": [reply_event["sequence"]],
            }
            consumer.ok("ms.PublishEvent", {"dialogId": cid, "event": event})

        # step 8: close (fixture 07), then CSAT (fixture 10), each visible as an UPSERT
        close = load_fixture("07-req-cm_UpdateConversationField.json")
        close["body"]["conversationId"] = cid
        consumer.send_raw(json.dumps(close))
        assert consumer.response("0")["code"] == 200
        closed = consumer.conversation_change(
            lambda c: c["result"]["conversationDetails"]["state"] == "CLOSE"
        )
        assert closed["result"]["conversationDetails"]["closeReason"] == "CONSUMER"
        assert closed["result"]["conversationDetails"]["endTs"] > 0
        csat = load_fixture("10-req-cm_UpdateConversationField.json")
        csat["body"]["conversationId"] = cid
        consumer.send_raw(json.dumps(csat))
        assert consumer.response("AHDJE")["code"] == 200
        rated = consumer.conversation_change(lambda c: "csat" in c["result"]["conversationDetails"])
        assert rated["result"]["conversationDetails"]["csat"]["csatRate"] == 5
    finally:
        consumer.close()

    record = sandbox.conversation(cid)
    assert record.state == "CLOSE"
    assert record.csat is not None
    assert record.csat["csatRate"] == 5
    assert "hi there" in record.texts("CONSUMER")
    assert "hi there" in record.texts("ASSIGNED_AGENT")


def test_tutorial_with_init_connection(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    consumer = open_consumer(sandbox)  # no headers: browsers cannot set them
    try:
        init = load_fixture("04-req-InitConnection.json")
        init["headers"][1]["jwt"] = token
        consumer.send_raw(json.dumps(init))
        resp = consumer.response("0")
        assert resp == {
            "kind": "resp",
            "reqId": "0",
            "code": 200,
            "body": "Connection initialized successfully",
            "type": ".ReqBody$StringResp",
        }
        consumer.subscribe_conversations()
        cid = consumer.request_conversation()
        consumer.subscribe_events(cid)
        seq = consumer.publish_text(cid, "hi there")
        echo = consumer.event(lambda c: c.get("sequence") == seq)
        assert echo["event"]["message"] == "hi there"
        consumer.event(
            lambda c: (
                c["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
                and c["event"].get("message") == "hi there"
            )
        )
    finally:
        consumer.close()


def test_raw_wscat_style_frames(sandbox: Sandbox) -> None:
    """The same steps as literal text frames, the way the tutorial types them into wscat."""
    token = signup(sandbox)
    with connect(sandbox.ws_url, additional_headers={"Authorization": f"jwt {token}"}) as ws:
        ws.send('{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}')
        resp = json.loads(ws.recv(timeout=5))
        assert resp["reqId"] == "1"
        assert resp["type"] == "cm.RequestConversationResponse"
        cid = resp["body"]["conversationId"]
        ws.send(
            f'{{"kind":"req","id":2,"type":"ms.PublishEvent","body":{{"dialogId":"{cid}",'
            '"event":{"type":"ContentEvent","contentType":"text/plain","message":"hi there"}}}'
        )
        resp = json.loads(ws.recv(timeout=5))
        assert resp == {
            "kind": "resp",
            "reqId": "2",
            "code": 200,
            "body": {"sequence": 0},
            "type": "ms.PublishEventResponse",
        }
        ws.send('{"kind":"req","id":3,"type":"GetClock"}')
        resp = json.loads(ws.recv(timeout=5))
        assert resp["type"] == ".GetClock$Response"
        assert isinstance(resp["body"]["currentTime"], int)
