"""Every semantic rule of the strict sandbox, seen by a neutral client (websockets + requests).

Each case breaks one rule of :data:`lpbot.sandbox.rules.RULES` and expects the documented
error shape (``.ReqBody$StringResp``, the rule's code, a string body naming the rule); the same
request against ``Sandbox(lenient=True)`` is answered 200, as before the rules existed. The rules
about the upgrade itself are in test_auth.py. Where the docs leave the answer open (CSAT after a
survey, receipts of unknown sequences, content in a CoBrowse dialog, BACKGROUND from a consumer)
the rule is one of the decisions in docs/sandbox-rules.md, the sandbox's addition to protocol notes
§8.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.sandbox.rules import RULES, markdown_table

from .conftest import CANONICAL, Consumer, Frame, load_fixture, open_consumer, signup

AGENTS = AgentOptions(accept_delay=None, reply_delay=0.01, greeting=None, receipts=False,
                      typing=False)
FEATURES = ["MULTI_DIALOG", "CO_BROWSE", "QUICK_REPLIES"]
PROPERTIES = json.dumps({"type": ".ClientProperties", "features": FEATURES})
DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox-rules.md"


@pytest.fixture(params=["strict", "lenient"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ruled(mode: str) -> Iterator[Sandbox]:
    with Sandbox(agents=AGENTS, lenient=mode == "lenient", wire_variants=CANONICAL) as running:
        yield running


@pytest.fixture
def talk(ruled: Sandbox) -> Iterator[tuple[Sandbox, Consumer, str]]:
    """A consumer with a conversation an agent accepted and wrote one message in (sequence 0)."""
    client = open_consumer(ruled, signup(ruled), headers={"Client-Properties": PROPERTIES})
    try:
        client.subscribe_conversations()
        cid = client.request_conversation()
        ruled.agents.say(cid, "hello")
        yield ruled, client, cid
    finally:
        client.close()


def _text(cid: str, text: str = "hi") -> Frame:
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
    return {"dialogId": cid, "event": event}


def _publish(event: Frame) -> Callable[[Sandbox, Consumer, str], Frame]:
    return lambda sandbox, client, cid: client.request(
        "ms.PublishEvent", {"dialogId": cid, "event": event}
    )


def _closed_csat(field: Frame) -> Callable[[Sandbox, Consumer, str], Frame]:
    def run(sandbox: Sandbox, client: Consumer, cid: str) -> Frame:
        close = {"field": "ConversationStateField", "conversationState": "CLOSE"}
        client.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": close})
        return client.request(
            "cm.UpdateConversationField", {"conversationId": cid, "conversationField": field}
        )

    return run


def _csat_after_survey(sandbox: Sandbox, client: Consumer, cid: str) -> Frame:
    sandbox.agents.close(cid, survey=True)
    client.conversation_change(lambda c: len(c["result"]["conversationDetails"]["dialogs"]) == 2)
    rating = load_fixture("10-req-cm_UpdateConversationField.json")["body"]["conversationField"]
    return client.request(
        "cm.UpdateConversationField", {"conversationId": cid, "conversationField": rating}
    )


def _text_in_cobrowse(sandbox: Sandbox, client: Consumer, cid: str) -> Frame:
    dialog_id = sandbox.agents.invite(cid, "cobrowse")
    return client.request("ms.PublishEvent", _text(dialog_id))


def _long_id(sandbox: Sandbox, client: Consumer, cid: str) -> Frame:
    req_id = "x" * 65
    client.send_raw(json.dumps({"kind": "req", "id": req_id, "type": "GetClock"}))
    return client.response(req_id)


def _init_with_bad_properties(sandbox: Sandbox, client: Consumer, cid: str) -> Frame:
    fresh = open_consumer(sandbox)
    try:
        headers = [
            {"type": ".ams.headers.ClientProperties", "deviceFamily": "PHONE"},
            {"type": ".ams.headers.ConsumerAuthentication", "jwt": signup(sandbox)},
        ]
        return fresh.request("InitConnection", headers=headers)
    finally:
        fresh.close()


def _second_conversation(sandbox: Sandbox, body: Frame) -> Frame:
    fresh = open_consumer(sandbox, signup(sandbox))
    try:
        return fresh.request("cm.ConsumerRequestConversation", body)
    finally:
        fresh.close()


_HOSTED = {"relativePath": "/v1/x.PNG", "fileType": "PNG"}
CASES: dict[str, tuple[str, Callable[[Sandbox, Consumer, str], Frame]]] = {
    "long request id": ("request-id", _long_id),
    "metadata without a type": (
        "metadata",
        lambda s, c, cid: c.request("ms.PublishEvent", _text(cid), metadata=[{"id": "x"}]),
    ),
    "ExternalId metadata without an id": (
        "metadata",
        lambda s, c, cid: c.request("GetClock", metadata=[{"type": "ExternalId"}]),
    ),
    "skillId as a number": (
        "skill-id",
        lambda s, c, cid: _second_conversation(s, {"skillId": 12}),
    ),
    "fromSeq as a string": (
        "integer-fields",
        lambda s, c, cid: c.request("ms.SubscribeMessagingEvents",
                                    {"dialogId": cid, "fromSeq": "0"}),
    ),
    "minLastUpdatedTime as a string": (
        "integer-fields",
        lambda s, c, cid: c.request("cqm.SubscribeExConversations", {"minLastUpdatedTime": "0"}),
    ),
    "LOCKED in convState": (
        "subscription-filter",
        lambda s, c, cid: c.request("cqm.SubscribeExConversations", {"convState": ["LOCKED"]}),
    ),
    "CSAT without status and confirmation": (
        "csat-required", _closed_csat({"field": "CSATRate", "csatRate": 4}),
    ),
    "CSAT after a survey": ("csat-not-after-survey", _csat_after_survey),
    "text/html content": (
        "content-type",
        _publish({"type": "ContentEvent", "contentType": "text/html", "message": "<b>hi</b>"}),
    ),
    "hosted file without caption": (
        "hosted-file", _publish({"type": "ContentEvent", "contentType": "hosted/file",
                                 "message": _HOSTED}),
    ),
    "hosted file of type EXE": (
        "hosted-file", _publish({"type": "ContentEvent", "contentType": "hosted/file",
                                 "message": {**_HOSTED, "caption": "x", "fileType": "EXE"}}),
    ),
    "rich content without a card type": (
        "rich-content", _publish({"type": "RichContentEvent", "content": {"elements": []}}),
    ),
    "accept status DELIVERED": (
        "accept-status",
        _publish({"type": "AcceptStatusEvent", "status": "DELIVERED", "sequenceList": [0]}),
    ),
    "receipt of a sequence the dialog lacks": (
        "receipt-sequences",
        _publish({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [99]}),
    ),
    "chat state PAUSED": (
        "chat-state", _publish({"type": "ChatStateEvent", "chatState": "PAUSED"}),
    ),
    "chat state BACKGROUND from a consumer": (
        "chat-state", _publish({"type": "ChatStateEvent", "chatState": "BACKGROUND"}),
    ),
    "text in a CoBrowse dialog": ("messaging-dialog", _text_in_cobrowse),
    "upload of a PDF": (
        "upload-file-type",
        lambda s, c, cid: c.request("ms.GenerateURLForUploadFile",
                                    {"fileSize": "1024", "fileType": "PDF"}),
    ),
    "InitConnection with an undocumented deviceFamily": (
        "client-properties", _init_with_bad_properties,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rule(talk: tuple[Sandbox, Consumer, str], mode: str, case: str) -> None:
    sandbox, client, cid = talk
    rule, action = CASES[case]
    response = action(sandbox, client, cid)
    if mode == "lenient":
        assert response["code"] == 200, response
        return
    code = next(r.code for r in RULES if r.name == rule)
    assert response["kind"] == "resp"
    assert response["code"] == code, response
    assert response["type"] == ".ReqBody$StringResp"
    assert isinstance(response["body"], str)
    assert f"rule {rule}" in response["body"]
    client.ok("GetClock")  # a refused request leaves the connection usable


def test_documented_requests_pass_every_rule(talk: tuple[Sandbox, Consumer, str]) -> None:
    """The docs' own payloads (shared/fixtures/documented) are accepted by the strict sandbox."""
    sandbox, client, cid = talk
    typing = load_fixture("19-req-ms_PublishEvent.json")["body"]
    typing["dialogId"] = cid
    client.ok("ms.PublishEvent", typing)
    client.ok("ms.PublishEvent", _text(cid), metadata=[{"type": "ExternalId", "id": "ext-1"}])
    read = {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]}
    client.ok("ms.PublishEvent", {"dialogId": cid, "event": read})
    card = load_fixture("18-event-RichContentEvent.json")
    client.ok("ms.PublishEvent", {"dialogId": cid, "event": card})
    upload = load_fixture("22-req-ms_GenerateURLForUploadFile.json")["body"]
    path = client.ok("ms.GenerateURLForUploadFile", upload)["body"]["relativePath"]
    hosted = load_fixture("17-req-ms_PublishEvent.json")["body"]
    hosted["dialogId"] = cid
    hosted["event"]["message"]["relativePath"] = path
    client.ok("ms.PublishEvent", hosted)
    subscribe = load_fixture("12-req-cqm_SubscribeExConversations.json")["body"]
    client.ok("cqm.SubscribeExConversations", subscribe)
    ttr = load_fixture("11-other-cm_UpdateConversationField.json")["body"]
    ttr["conversationId"] = cid
    client.ok("cm.UpdateConversationField", ttr)
    close = load_fixture("07-req-cm_UpdateConversationField.json")["body"]
    close["conversationId"] = cid
    client.ok("cm.UpdateConversationField", close)
    rating = load_fixture("10-req-cm_UpdateConversationField.json")["body"]
    rating["conversationId"] = cid
    client.ok("cm.UpdateConversationField", rating)
    request = load_fixture("06-req-cm_ConsumerRequestConversation.json")["body"]
    assert _second_conversation(sandbox, request)["code"] == 200


def test_every_rule_has_a_conformance_case() -> None:
    tested = {rule for rule, _ in CASES.values()}
    upgrade = Path(__file__).with_name("test_auth.py").read_text()
    for rule in RULES:
        assert rule.name in tested or rule.name in upgrade, f"rule {rule.name} is not tested"


def test_docs_table_is_the_rules_module() -> None:
    """docs/sandbox-rules.md holds the table generated from lpbot.sandbox.rules, verbatim."""
    assert markdown_table() in DOCS.read_text()
