"""Hostile input to the sandbox: every malformed request gets 400 (never 500 or 1011), nothing it
cannot send is stored, and the operator's routes refuse what a web page could send for others.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests

from lpbot.sandbox import Sandbox

from .conftest import Consumer, open_consumer

GET_CLOCK = '{"kind":"req","id":"7","type":"GetClock"'


def assert_400_then_alive(consumer: Consumer, req_id: str | None = "7") -> None:
    """The frame was answered 400 (with its id when readable) and the socket still serves."""
    reply = consumer.wait_for(lambda f: f.get("kind") == "resp" and f.get("code") != 200)
    assert reply["code"] == 400, reply
    assert reply["type"] == ".ReqBody$StringResp"
    assert isinstance(reply["body"], str)
    if req_id is not None:
        assert reply.get("reqId") == req_id
    assert consumer.request("GetClock")["code"] == 200


@pytest.mark.parametrize("frame", [
    pytest.param(GET_CLOCK + ',"body":' + "[" * 1000 + "]" * 1000 + "}", id="1000-deep"),
    pytest.param(GET_CLOCK + ',"body":{"x":NaN}}', id="NaN"),
    pytest.param(GET_CLOCK + ',"body":{"x":1e400}}', id="overflowing-float"),
    pytest.param(GET_CLOCK + ',"body":{"x":' + "9" * 5000 + "}}", id="5000-digit-number"),
    pytest.param(GET_CLOCK + ',"body":{"x":' + "1" * 50 + ".5}}", id="50-digit-numeral"),
], )
def test_malformed_numbers_and_nesting_get_400(consumer: Consumer, frame: str) -> None:
    consumer.send_raw(frame)
    assert_400_then_alive(consumer, req_id=None)


@pytest.mark.parametrize("body", [
    pytest.param({"ttrDefName": ["NORMAL"]}, id="unhashable-ttr"),
    pytest.param({"ttrDefName": {"a": 1}}, id="object-ttr"),
    pytest.param({"channelType": ["MESSAGING"]}, id="unhashable-channel"),
])
def test_unhashable_values_get_400(consumer: Consumer, body: dict[str, object]) -> None:
    consumer.send_raw(json.dumps({"kind": "req", "id": "7",
                                  "type": "cm.ConsumerRequestConversation", "body": body}))
    assert_400_then_alive(consumer)


def test_a_lone_surrogate_from_the_consumer_is_refused_and_never_stored(
        sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    consumer.send_raw('{"kind":"req","id":"7","type":"ms.PublishEvent","body":{"dialogId":"'
                      + cid + '","event":{"type":"ContentEvent","contentType":"text/plain",'
                      '"message":"bad \\ud800 text"}}}')
    assert_400_then_alive(consumer)
    assert not [e for e in sandbox.conversation(cid).events if "bad" in str(e.event)]
    consumer.subscribe_events(cid)  # the replay is encodable
    assert consumer.request("GetClock")["code"] == 200


def test_a_lone_surrogate_from_the_console_is_refused_and_the_dialog_replays(
        sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    base = f"{sandbox.http_url}/console/api/conversations/{cid}"
    assert requests.post(f"{base}/accept", json={}, timeout=5).status_code == 200
    reply = requests.post(f"{base}/messages", data=b'{"text": "poison \\ud800"}',
                          headers={"Content-Type": "application/json"}, timeout=5)
    assert reply.status_code == 400
    assert "error" in reply.json()
    consumer.subscribe_events(cid)
    consumer.send("GetClock")
    assert consumer.wait_for(lambda f: f.get("kind") == "resp")["code"] == 200


def test_a_non_ascii_token_at_init_closes_as_unauthorized_not_1011(sandbox: Sandbox) -> None:
    consumer = open_consumer(sandbox)  # no token: it comes with InitConnection
    try:
        consumer.send("InitConnection", headers=[
            {"type": ".ams.headers.ConsumerAuthentication", "jwt": "é.ü.ö"}])
        code, _ = consumer.closed()
        assert code != 1011
        assert code is not None
        assert code >= 4000
    finally:
        consumer.close()


def authenticate(sandbox: Sandbox, body: bytes) -> requests.Response:
    return requests.post(f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate",
                         data=body, headers={"Content-Type": "application/json"}, timeout=5)


@pytest.mark.parametrize("body", [
    pytest.param(b"[" * 1000 + b"]" * 1000, id="1000-deep"),
    pytest.param(b'{"authCode": NaN}', id="NaN"),
    pytest.param(b'{"authCode": "\\ud800"}', id="lone-surrogate"),
    pytest.param(b"\xff\xfe", id="not-utf8"),
])
def test_authenticate_refuses_malformed_bodies_with_400(sandbox: Sandbox, body: bytes) -> None:
    reply = authenticate(sandbox, body)
    assert reply.status_code == 400
    assert reply.json()["error"] == "json_parse_error"


@pytest.mark.parametrize("claims", [
    pytest.param({"exp": float("nan")}, id="NaN-exp"),
    pytest.param({"exp": float("inf")}, id="infinite-exp"),
    pytest.param({"exp": "soon"}, id="string-exp"),
])
def test_authenticate_refuses_odd_expiries_with_401(
        sandbox: Sandbox, claims: dict[str, object]) -> None:
    token = sandbox.mint_brand_token("x", claims=claims)
    reply = authenticate(sandbox, json.dumps({"authCode": token}).encode())
    assert reply.status_code == 401, reply.text


def test_authenticate_refuses_a_non_ascii_code_with_401(sandbox: Sandbox) -> None:
    reply = authenticate(sandbox, json.dumps({"authCode": "é.ü.ö"}).encode())
    assert reply.status_code == 401


# --- the operator's routes: console and /_sandbox/ ---------------------------------------------


def test_control_routes_refuse_cross_site_form_posts(sandbox: Sandbox) -> None:
    url = f"{sandbox.http_url}/_sandbox/faults/reject_next?count=1"
    form = requests.post(url, data={"a": "b"}, timeout=5)  # what an HTML form sends
    assert form.status_code == 415
    other_origin = requests.post(url, headers={"Origin": "http://evil.example"}, timeout=5)
    assert other_origin.status_code == 403
    assert requests.post(url, timeout=5).status_code == 200  # curl -X POST, sandbox-ctl


@pytest.mark.parametrize("query", [
    "reject_next?count=10000000", "reject_handshakes?count=-1", "reject_next?code=99999",
    "delay_responses?seconds=nan", "delay_responses?seconds=1e9", "drop_all?code=70000",
])
def test_control_numbers_are_bounded(sandbox: Sandbox, query: str) -> None:
    reply = requests.post(f"{sandbox.http_url}/_sandbox/faults/{query}", timeout=5)
    assert reply.status_code == 400
    assert "error" in reply.json()


@pytest.mark.parametrize("path", ["/console/api/conversations", "/_sandbox/conversations",
                                  "/console/"])
def test_operator_routes_refuse_dns_rebinding(sandbox: Sandbox, path: str) -> None:
    host = f"evil.example:{sandbox.http_port}"
    reply = requests.get(f"{sandbox.http_url}{path}", headers={"Host": host}, timeout=5)
    assert reply.status_code == 403
    assert requests.get(f"{sandbox.http_url}{path}", timeout=5).status_code == 200


def test_console_refuses_a_rebinding_post_whose_origin_matches_its_host(
        sandbox: Sandbox) -> None:
    host = f"evil.example:{sandbox.http_port}"
    reply = requests.post(f"{sandbox.http_url}/console/api/conversations/x/accept", json={},
                          headers={"Host": host, "Origin": f"http://{host}"}, timeout=5)
    assert reply.status_code == 403


def test_bodies_are_capped_without_buffering(sandbox: Sandbox) -> None:
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    reply = requests.post(url, data=b"x" * (4 * 1024 * 1024), timeout=10)
    assert reply.status_code == 413


def test_a_consumer_cannot_download_another_consumers_upload(
        sandbox: Sandbox, consumer_factory: Callable[..., Consumer]) -> None:
    owner, other = consumer_factory(), consumer_factory()
    resp = owner.ok("ms.GenerateURLForUploadFile", {"fileSize": 5, "fileType": "JPG"})
    path, params = resp["body"]["relativePath"], resp["body"]["queryParams"]
    put = requests.put(f"{sandbox.http_url}{path}", params=params, data=b"\xff\xd8 jp", timeout=5)
    assert put.status_code == 201
    refused = other.request("ms.GenerateURLForDownloadFile", {"relativePath": path})
    assert refused["code"] == 400
    assert "queryParams" not in str(refused.get("body"))
    assert owner.ok("ms.GenerateURLForDownloadFile", {"relativePath": path})["code"] == 200
