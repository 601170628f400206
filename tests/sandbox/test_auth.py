"""Identity and the WebSocket handshake: what is refused, and how (protocol notes §2, §3, §8)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from lpbot.sandbox import Sandbox

from .conftest import QUICK, open_consumer, signup


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return data


def _status(sandbox: Sandbox, headers: dict[str, str], url: str | None = None) -> int:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(url or sandbox.ws_url, additional_headers=headers, open_timeout=5),
    ):
        pass
    return refused.value.response.status_code


def _accepted(sandbox: Sandbox, headers: dict[str, str]) -> None:
    """The upgrade succeeds (and the connection answers a request)."""
    with connect(sandbox.ws_url, additional_headers=headers, open_timeout=5) as ws:
        ws.send('{"kind":"req","id":"1","type":"GetClock"}')
        assert json.loads(ws.recv(timeout=5))["code"] in (200, 401)


@pytest.fixture
def short_lived() -> Iterator[Sandbox]:
    with Sandbox(agents=QUICK, token_lifetime=0.3, init_timeout=0.3) as running:
        yield running


def test_signup_token_claims(sandbox: Sandbox) -> None:
    claims = _claims(signup(sandbox))
    assert claims["aud"] == "acc:sandbox"
    assert claims["iss"] == "https://idp.liveperson.net"
    assert isinstance(claims["sub"], str)
    assert "lp.ext" not in claims
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] >= 3599
    assert signup(sandbox) != signup(sandbox)


def test_signup_jsonp(sandbox: Sandbox) -> None:
    reply = requests.get(
        f"{sandbox.http_url}/api/account/sandbox/signup.jsonp", params={"callback": "cb"}, timeout=5
    )
    assert reply.text.startswith('cb({"jwt":')


def test_authenticated_flow_with_brand_token(sandbox: Sandbox) -> None:
    brand = sandbox.mint_brand_token(
        "customer-42", claims={"lp_sdes": [{"type": "ctmrinfo", "info": {"cstatus": "gold"}}]}
    )
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    reply = requests.post(url, json={"authCode": brand}, timeout=5)
    assert reply.status_code == 200
    token = reply.json()["jwt"]
    claims = _claims(token)
    assert claims["lp.ext"]["sub"] == "customer-42"  # type: ignore[index]
    assert len(str(claims["sub"])) == 64
    # the same brand identity maps to the same consumer
    again = requests.post(
        url, json={"authCode": sandbox.mint_brand_token("customer-42")}, timeout=5
    )
    assert _claims(again.json()["jwt"])["sub"] == claims["sub"]
    client = open_consumer(sandbox, token)
    try:
        client.ok("GetClock")
    finally:
        client.close()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"{}", 400),
        (json.dumps({"authCode": "a.b.c"}).encode(), 401),
    ],
)
def test_authenticate_refusals(sandbox: Sandbox, body: bytes, status: int) -> None:
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    assert requests.post(url, data=body, timeout=5).status_code == status


def test_authenticate_refuses_expired_and_foreign_brand_tokens(sandbox: Sandbox) -> None:
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    expired = sandbox.mint_brand_token("x", lifetime=-10)
    assert requests.post(url, json={"authCode": expired}, timeout=5).status_code == 401
    with Sandbox() as other:  # another brand: its own RS256 key
        foreign = other.mint_brand_token("x")
    assert requests.post(url, json={"authCode": foreign}, timeout=5).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    ["jwt not-a-token", "Bearer {token}", "{token}", "jwt ", "jwt {token}x"],
)
def test_bad_authorization_header_is_http_401(sandbox: Sandbox, authorization: str) -> None:
    token = signup(sandbox)
    assert _status(sandbox, {"Authorization": authorization.format(token=token)}) == 401


def test_token_of_another_account_or_sandbox_is_refused(sandbox: Sandbox) -> None:
    other_account = signup(sandbox, account="other-brand")
    assert _status(sandbox, {"Authorization": f"jwt {other_account}"}) == 401
    with Sandbox() as other:
        foreign = signup(other)
    assert _status(sandbox, {"Authorization": f"jwt {foreign}"}) == 401
    # the other account's own endpoint accepts it: accounts are separate, not forbidden
    url = sandbox.ws_url.replace("/account/sandbox/", "/account/other-brand/")
    with connect(url, additional_headers={"Authorization": f"jwt {other_account}"}) as ws:
        ws.send('{"kind":"req","id":"1","type":"GetClock"}')
        assert json.loads(ws.recv(timeout=5))["code"] == 200


def test_expired_token_is_http_401(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    sandbox.faults.expire_tokens()
    assert _status(sandbox, {"Authorization": f"jwt {token}"}) == 401
    fresh = open_consumer(sandbox, signup(sandbox))  # tokens issued afterwards are fine
    try:
        fresh.ok("GetClock")
    finally:
        fresh.close()


def test_wrong_path_and_version(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    headers = {"Authorization": f"jwt {token}"}
    assert _status(sandbox, headers, sandbox.ws_url.replace("consumer", "brand")) == 404
    assert _status(sandbox, headers, sandbox.ws_url.replace("v=3", "v=2")) == 400


def test_requests_before_init_connection_are_401(sandbox: Sandbox) -> None:
    client = open_consumer(sandbox)
    try:
        resp = client.request("GetClock")
        assert resp["code"] == 401
        assert resp["type"] == ".ReqBody$StringResp"
        resp = client.request("InitConnection", headers=[{"type": ".ams.headers.ClientProperties"}])
        assert resp["code"] == 400  # no ConsumerAuthentication header
        client.ok(
            "InitConnection",
            headers={"type": ".ams.headers.ConsumerAuthentication", "jwt": signup(sandbox)},
            body={},
        )
        client.ok("GetClock")
    finally:
        client.close()


def test_bad_jwt_in_init_connection_closes_4401(sandbox: Sandbox) -> None:
    client = open_consumer(sandbox)
    client.send(
        "InitConnection", headers=[{"type": ".ams.headers.ConsumerAuthentication", "jwt": "bad"}]
    )
    assert client.closed()[0] == 4401


def test_init_connection_on_header_session_is_refused(sandbox: Sandbox) -> None:
    """§5.1: InitConnection is sent once, and only when no Authorization header was used;
    the answer is decision 6 of docs/sandbox-rules.md (beside protocol notes §8)."""
    token = signup(sandbox)
    client = open_consumer(sandbox, token)
    try:
        auth = {"type": ".ams.headers.ConsumerAuthentication", "jwt": token}
        refused = client.request("InitConnection", headers=[auth])
        assert refused["code"] == 400
        assert "init-once" in refused["body"]
        client.ok("GetClock")  # the connection itself is fine
    finally:
        client.close()


def test_init_connection_sent_twice_is_refused(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    client = open_consumer(sandbox)
    try:
        auth = {"type": ".ams.headers.ConsumerAuthentication", "jwt": token}
        client.ok("InitConnection", headers=[auth])
        assert client.request("InitConnection", headers=[auth])["code"] == 400
    finally:
        client.close()


def test_lenient_init_connection_on_header_session() -> None:
    with Sandbox(lenient=True) as lenient:
        token = signup(lenient)
        client = open_consumer(lenient, token)
        try:
            auth = {"type": ".ams.headers.ConsumerAuthentication", "jwt": token}
            client.ok("InitConnection", headers=[auth])
            other = {"type": ".ams.headers.ConsumerAuthentication", "jwt": signup(lenient)}
            assert client.request("InitConnection", headers=[other])["code"] == 400
        finally:
            client.close()


def test_no_init_connection_closes_1008(short_lived: Sandbox) -> None:
    client = open_consumer(short_lived)
    assert client.closed()[0] == 1008


def test_live_unauthenticated_session_closes_4407_on_expiry(short_lived: Sandbox) -> None:
    client = open_consumer(short_lived, signup(short_lived))
    assert client.closed()[0] == 4407


def test_expire_tokens_closes_authenticated_4401_and_unauthenticated_4407(sandbox: Sandbox) -> None:
    brand = sandbox.mint_brand_token("customer-7")
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    authenticated = requests.post(url, json={"authCode": brand}, timeout=5).json()["jwt"]
    first = open_consumer(sandbox, authenticated)
    second = open_consumer(sandbox, signup(sandbox))
    pending = open_consumer(sandbox)  # not initialized: nothing to expire
    try:
        first.ok("GetClock")
        second.ok("GetClock")
        sandbox.faults.expire_tokens()
        assert first.closed()[0] == 4401
        assert second.closed()[0] == 4407
        assert pending.request("GetClock")["code"] == 401
    finally:
        pending.close()


@pytest.mark.parametrize("name", ["clientProperties", "ClientProperties", "features"])
def test_client_properties_in_the_query_string_are_refused(sandbox: Sandbox, name: str) -> None:
    """§3.1, §10: no query encoding is documented; decision 2 of docs/sandbox-rules.md
    (the sandbox's addition to protocol notes §8)."""
    props = json.dumps({"type": ".ClientProperties", "features": ["MULTI_DIALOG"]})
    value = "MULTI_DIALOG" if name == "features" else props
    url = f"{sandbox.ws_url}&{name}={requests.utils.quote(value)}"
    with pytest.raises(InvalidStatus) as refused, connect(url, open_timeout=5):
        pass
    assert refused.value.response.status_code == 400
    assert b"query-client-properties" in refused.value.response.body


def test_lenient_client_properties_from_query_string() -> None:
    with Sandbox(lenient=True) as lenient:
        props = json.dumps({"type": ".ClientProperties", "features": ["MULTI_DIALOG"]})
        url = f"{lenient.ws_url}&clientProperties={requests.utils.quote(props)}"
        client = open_consumer(lenient, signup(lenient), url=url)
        try:
            client.ok("GetClock")
        finally:
            client.close()
        assert _status(lenient, {"Client-Properties": "{not json"}) == 400


def test_bad_client_properties_header_is_refused(sandbox: Sandbox) -> None:
    assert _status(sandbox, {"Client-Properties": "{not json"}) == 400
    for props in ({"deviceFamily": "MOBILE"}, {"type": ".ClientProperties", "os": "BEOS"},
                  {"type": ".ClientProperties", "appId": "x" * 65}):
        assert _status(sandbox, {"Client-Properties": json.dumps(props)}) == 400, props
    good = {"type": ".ClientProperties", "deviceFamily": "MOBILE", "os": "ANDROID"}
    _accepted(sandbox, {"Client-Properties": json.dumps(good)})


@pytest.mark.parametrize("scheme", ["JWT", "Jwt"])
def test_authorization_scheme_in_capitals_is_http_401(sandbox: Sandbox, scheme: str) -> None:
    """§3.2: the scheme word is the lowercase literal ``jwt`` (rule authorization-scheme)."""
    token = signup(sandbox)
    assert _status(sandbox, {"Authorization": f"{scheme} {token}"}) == 401
    _accepted(sandbox, {"Authorization": f"jwt {token}"})
    with Sandbox(lenient=True) as lenient:
        _accepted(lenient, {"Authorization": f"{scheme} {signup(lenient)}"})
