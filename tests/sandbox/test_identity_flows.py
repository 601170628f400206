"""The production identity flows (protocol notes §2.2-§2.4) and CSDS's 401 (§1.1), over TLS.

A neutral client (requests, websockets, PyJWT and joserfc on the brand's side) checks each rule
of docs/sandbox-production.md "Identity". Where the docs are silent the sandbox decides, and the
test says so: "decision D<n>" refers to the decision list in docs/sandbox-production.md, which
extends protocol notes §8 (the emulator profile).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe
from joserfc.jwk import RSAKey
from websockets.exceptions import InvalidStatus

from lpbot.sandbox import IdentityOptions, Sandbox
from lpbot.sandbox.identity import ANONYMOUS_LIFETIME, REFRESH_WINDOW
from lpbot.sandbox.tokens import SIGNUP_LIFETIME

from .conftest import QUICK, open_consumer, signup

HS256_KEY = "a shared secret of at least 32 bytes!"


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def _post(sandbox: Sandbox, path: str, **kwargs: Any) -> requests.Response:
    url = f"{sandbox.http_url}/api/account/{sandbox.account}{path}"
    return requests.post(url, timeout=5, verify=sandbox.ca_file or True, **kwargs)


def _authenticate(sandbox: Sandbox, brand_token: str) -> requests.Response:
    return _post(sandbox, "/authenticate", json={"authCode": brand_token})


def _brand_claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "https://brand.example", "iat": now, "exp": now + 3600, **extra}


def _key_pair(tmp_path: Path, name: str) -> tuple[rsa.RSAPrivateKey, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / f"{name}.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pem


def _ws_status(sandbox: Sandbox, token: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        open_consumer(sandbox, token).close()
    return refused.value.response.status_code


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Every test here talks to the sandbox over TLS, as to LivePerson."""
    with Sandbox(agents=QUICK, tls=True) as running:
        yield running


# -- signup (§2.1) -------------------------------------------------------------------------


def test_signup_tokens_live_about_13_years_and_are_rs256_with_a_kid(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    header, claims = jwt.get_unverified_header(token), _claims(token)
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["exp"] - claims["iat"] in (SIGNUP_LIFETIME, SIGNUP_LIFETIME + 1)
    with Sandbox(token_lifetime=120, tls=True) as short:
        claims = _claims(signup(short))
        assert 120 <= claims["exp"] - claims["iat"] <= 121


# -- implicit flow (§2.2) ------------------------------------------------------------------


def test_implicit_flow_rs256_exp_equals_the_brand_tokens(sandbox: Sandbox) -> None:
    brand = sandbox.mint_brand_token("customer-42", lifetime=1234)
    assert jwt.get_unverified_header(brand)["alg"] == "RS256"
    reply = _authenticate(sandbox, brand)
    assert reply.status_code == 200, reply.text
    claims = _claims(reply.json()["jwt"])
    assert claims["exp"] == _claims(brand)["exp"]  # not capped (§2.2)
    assert claims["lp.ext"]["sub"] == "customer-42"
    consumer = open_consumer(sandbox, reply.json()["jwt"])
    try:
        consumer.ok("GetClock")
    finally:
        consumer.close()


def test_only_iss_iat_exp_are_mandatory(sandbox: Sandbox) -> None:
    """No ``sub``: accepted; each such token is a consumer of its own (decision D4)."""
    first = _authenticate(sandbox, sandbox.mint_brand_token(None, claims={"jti": "1"}))
    second = _authenticate(sandbox, sandbox.mint_brand_token(None, claims={"jti": "2"}))
    assert first.status_code == second.status_code == 200
    assert "sub" not in _claims(first.json()["jwt"])["lp.ext"]
    assert _claims(first.json()["jwt"])["sub"] != _claims(second.json()["jwt"])["sub"]


@pytest.mark.parametrize("missing", ["iss", "iat", "exp"])
def test_a_brand_token_without_iss_iat_or_exp_is_refused(tmp_path: Path, missing: str) -> None:
    key, pem = _key_pair(tmp_path, "brand")
    claims = _brand_claims(sub="x")
    del claims[missing]
    with Sandbox(tls=True, identity=IdentityOptions(brand_public_key=pem)) as sandbox:
        reply = _authenticate(sandbox, jwt.encode(claims, key, algorithm="RS256"))
        assert reply.status_code == 401
        assert reply.json()["error"] == "unauthorized_client"
        complete = jwt.encode(_brand_claims(sub="x"), key, algorithm="RS256")
        assert _authenticate(sandbox, complete).status_code == 200


def test_rs256_against_a_configured_pem_public_key(tmp_path: Path) -> None:
    key, pem = _key_pair(tmp_path, "brand")
    other, _ = _key_pair(tmp_path, "other")
    with Sandbox(tls=True, identity=IdentityOptions(brand_public_key=pem)) as sandbox:
        good = jwt.encode(_brand_claims(sub="c1"), key, algorithm="RS256")
        assert _authenticate(sandbox, good).status_code == 200
        forged = jwt.encode(_brand_claims(sub="c1"), other, algorithm="RS256")
        assert _authenticate(sandbox, forged).status_code == 401
        expired = jwt.encode(_brand_claims(exp=int(time.time()) - 10), key, algorithm="RS256")
        assert _authenticate(sandbox, expired).status_code == 401
        with pytest.raises(ValueError, match="brand's private key"):
            sandbox.mint_brand_token("c1")  # it cannot sign for a brand whose key it lacks
        login = requests.get(f"{sandbox.http_url}/brand/oauth/authorize", timeout=5,
                             verify=sandbox.ca_file, allow_redirects=False,
                             params={"response_type": "code",
                                     "redirect_uri": "https://liveperson.net"})
        assert login.status_code == 404  # nor does it log people in for that brand


def test_rs256_against_a_configured_jwks_picks_the_key_by_kid(tmp_path: Path) -> None:
    first, _ = _key_pair(tmp_path, "first")
    second, _ = _key_pair(tmp_path, "second")
    keys = []
    for kid, key in (("k1", first), ("k2", second)):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": keys}))
    with Sandbox(tls=True, identity=IdentityOptions(brand_jwks=jwks)) as sandbox:
        for kid, key in (("k1", first), ("k2", second)):
            token = jwt.encode(_brand_claims(sub=kid), key, algorithm="RS256",
                               headers={"kid": kid})
            assert _authenticate(sandbox, token).status_code == 200
        wrong = jwt.encode(_brand_claims(), first, algorithm="RS256", headers={"kid": "k2"})
        assert _authenticate(sandbox, wrong).status_code == 401
        unknown = jwt.encode(_brand_claims(), first, algorithm="RS256", headers={"kid": "k9"})
        assert _authenticate(sandbox, unknown).status_code == 401


def test_hs256_only_as_an_explicit_option(sandbox: Sandbox) -> None:
    token = jwt.encode(_brand_claims(sub="c1"), HS256_KEY.encode(), algorithm="HS256")
    refused = _authenticate(sandbox, token)
    assert refused.status_code == 401
    assert "HS256" in refused.json()["details"]
    with Sandbox(tls=True, brand_key=HS256_KEY) as explicit:
        assert _authenticate(explicit, token).status_code == 200
        assert jwt.get_unverified_header(explicit.mint_brand_token("c"))["alg"] == "HS256"
    with pytest.raises(ValueError, match="32 bytes"):
        IdentityOptions(brand_hs256_key="short")


def test_unsigned_and_other_algorithms_are_refused(sandbox: Sandbox) -> None:
    unsigned = jwt.encode(_brand_claims(sub="c"), None, algorithm="none")
    assert _authenticate(sandbox, unsigned).status_code == 401
    hs512 = jwt.encode(_brand_claims(sub="c"), b"k" * 64, algorithm="HS512")
    assert _authenticate(sandbox, hs512).status_code == 401


def test_jwe_rsa_oaep_256_is_accepted(sandbox: Sandbox) -> None:
    inner = sandbox.mint_brand_token("secret-customer")
    public = RSAKey.import_key(sandbox.jwe_public_key)
    for enc in ("A256GCM", "A128CBC-HS256"):
        token = jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": enc, "cty": "JWT"},
                                    inner.encode(), public, algorithms=["RSA-OAEP-256", enc])
        reply = _authenticate(sandbox, token)
        assert reply.status_code == 200, reply.text
        assert _claims(reply.json()["jwt"])["lp.ext"]["sub"] == "secret-customer"
    assert _authenticate(sandbox, sandbox.mint_brand_token("c", encrypt=True)).status_code == 200


def test_jwe_with_another_algorithm_or_key_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    inner = sandbox.mint_brand_token("c").encode()
    public = RSAKey.import_key(sandbox.jwe_public_key)
    sha1 = jwe.encrypt_compact({"alg": "RSA-OAEP", "enc": "A256GCM"}, inner, public,
                               algorithms=["RSA-OAEP", "A256GCM"])
    assert _authenticate(sandbox, sha1).status_code == 401
    other, _ = _key_pair(tmp_path, "other")
    foreign = jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM"}, inner,
        RSAKey.import_key(other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
        algorithms=["RSA-OAEP-256", "A256GCM"])
    assert _authenticate(sandbox, foreign).status_code == 401


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "token",
    [
        _segment({"alg": "RSA-OAEP-256", "enc": "A256GCM"}) + ".AAAA.AAAA.AAAA.AAAA",
        _segment({"alg": "RSA-OAEP-256", "enc": "A256GCM"}) + "....",
        _segment({"alg": "RSA-OAEP-256", "enc": "XXX"}) + ".a.b.c.d",
        _segment({"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF"}) + ".AAAA.AAAA.AAAA.AAAA",
        "a.b.c.d.e",
    ],
    ids=["short-iv", "empty-parts", "bad-base64", "zip", "garbage"],
)
def test_a_malformed_jwe_is_401_not_a_server_error(sandbox: Sandbox, token: str) -> None:
    reply = _authenticate(sandbox, token)
    assert reply.status_code == 401
    assert reply.json()["details"].startswith("JWE")


def test_a_tampered_jwe_is_refused(sandbox: Sandbox) -> None:
    parts = sandbox.mint_brand_token("c", encrypt=True).split(".")
    parts[3] = parts[3][:-2] + ("AA" if parts[3][-2:] != "AA" else "BB")
    assert _authenticate(sandbox, ".".join(parts)).status_code == 401


def test_a_configured_jwe_key_decrypts(tmp_path: Path) -> None:
    key, _ = _key_pair(tmp_path, "lp")
    private = tmp_path / "lp-private.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with Sandbox(tls=True, identity=IdentityOptions(jwe_private_key=private)) as sandbox:
        assert RSAKey.import_key(sandbox.jwe_public_key).as_dict()["n"] == RSAKey.import_key(
            key.public_key()).as_dict()["n"]
        assert _authenticate(sandbox, sandbox.mint_brand_token("c", encrypt=True)).ok


def test_authenticated_lifetime_caps_the_token_when_configured() -> None:
    options = IdentityOptions(authenticated_lifetime=60)
    with Sandbox(tls=True, identity=options) as sandbox:
        brand = sandbox.mint_brand_token("c", lifetime=3600)
        claims = _claims(_authenticate(sandbox, brand).json()["jwt"])
        assert claims["exp"] <= time.time() + 61
        assert claims["exp"] < _claims(brand)["exp"]


# -- code flow (§2.3) ----------------------------------------------------------------------


def test_code_flow_with_the_oidc_endpoint_the_sandbox_plays(sandbox: Sandbox) -> None:
    code = sandbox.mint_auth_code("customer-9")
    body = {"code": code, "redirect_uri": "https://liveperson.net"}
    reply = _post(sandbox, "/app/default/authenticate", params={"v": "2.0"}, json=body)
    assert reply.status_code == 200, reply.text
    claims = _claims(reply.json()["jwt"])
    assert claims["lp.ext"]["sub"] == "customer-9"
    implicit = _authenticate(sandbox, sandbox.mint_brand_token("customer-9"))
    assert _claims(implicit.json()["jwt"])["sub"] == claims["sub"]  # the same consumer
    again = _post(sandbox, "/app/default/authenticate", params={"v": "2.0"}, json=body)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_code"  # codes are single-use


@pytest.mark.parametrize(
    ("params", "body", "error"),
    [
        ({"v": "2.0"}, b"not json", "json_parse_error"),
        ({"v": "2.0"}, b'{"code": 7}', "invalid_code"),
        ({"v": "2.0"}, b'{"code": "never-issued"}', "invalid_code"),
        ({"v": "1.0"}, b'{"code": "x"}', "invalid_request"),
        ({}, b'{"code": "x"}', "invalid_request"),
    ],
)
def test_code_flow_refusals_are_400(
    sandbox: Sandbox, params: dict[str, str], body: bytes, error: str
) -> None:
    reply = _post(sandbox, "/app/default/authenticate", params=params, data=body,
                  headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"] == error


def test_the_played_oidc_endpoint_follows_oauth(sandbox: Sandbox) -> None:
    token_url = f"{sandbox.http_url}/brand/oauth/token"
    code = sandbox.mint_auth_code("c")
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "https://liveperson.net"}
    no_auth = requests.post(token_url, data=form, timeout=5, verify=sandbox.ca_file)
    assert no_auth.status_code == 401
    assert no_auth.json()["error"] == "invalid_client"
    good = requests.post(token_url, data=form, timeout=5, verify=sandbox.ca_file,
                         auth=("liveperson", sandbox.identity.client_secret))
    assert good.status_code == 200
    assert set(good.json()) == {"access_token", "token_type", "id_token"}
    assert good.json()["token_type"] == "Bearer"
    login = requests.get(f"{sandbox.http_url}/brand/oauth/authorize", timeout=5,
                         verify=sandbox.ca_file, allow_redirects=False,
                         params={"response_type": "code", "client_id": "liveperson",
                                 "redirect_uri": "https://liveperson.net/cb", "state": "s1",
                                 "login_hint": "customer-5"})
    assert login.status_code == 302
    location = requests.utils.urlparse(login.headers["Location"])
    query = dict(p.split("=", 1) for p in location.query.split("&"))
    assert query["state"] == "s1"
    reply = _post(sandbox, "/app/default/authenticate", params={"v": "2.0"},
                  json={"code": query["code"], "redirect_uri": "https://liveperson.net/cb"})
    assert _claims(reply.json()["jwt"])["lp.ext"]["sub"] == "customer-5"


def test_code_flow_against_a_configured_token_endpoint(tmp_path: Path) -> None:
    """Another sandbox plays the brand: its token endpoint, its client secret, its key."""
    with Sandbox() as brand:
        pem = tmp_path / "brand.pem"
        pem.write_text(brand.identity.brand_public_key())
        options = IdentityOptions(
            brand_public_key=pem, oidc_token_url=f"{brand.http_url}/brand/oauth/token",
            oidc_client_secret=brand.identity.client_secret)
        with Sandbox(tls=True, identity=options) as lp:
            reply = _post(lp, "/app/default/authenticate", params={"v": "2.0"},
                          json={"code": brand.mint_auth_code("customer-3")})
            assert reply.status_code == 200, reply.text
            assert _claims(reply.json()["jwt"])["lp.ext"]["sub"] == "customer-3"
        wrong = IdentityOptions(brand_public_key=pem, oidc_client_secret="not the secret",
                                oidc_token_url=f"{brand.http_url}/brand/oauth/token")
        with Sandbox(tls=True, identity=wrong) as lp:
            reply = _post(lp, "/app/default/authenticate", params={"v": "2.0"},
                          json={"code": brand.mint_auth_code("customer-3")})
            assert reply.status_code == 400
            assert reply.json()["error"] == "unauthorized_client"


# -- anonymous (ACR0) flow (§2.4) ----------------------------------------------------------


def _anonymous(sandbox: Sandbox, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("headers", {"Content-Type": "application/json"})
    return _post(sandbox, "/anonymous/authorize", **kwargs)


def _acr0_login(sandbox: Sandbox, external: str, connector: str = "acr0",
                version: str = "3.0") -> requests.Response:
    return _post(sandbox, f"/app/{connector}/authenticate", params={"v": version},
                 json={"id_token": external})


def test_anonymous_flow_token_then_authenticate_then_websocket(sandbox: Sandbox) -> None:
    reply = _anonymous(sandbox)
    assert reply.status_code == 200
    assert set(reply.json()) == {"token"}  # "token", not "jwt" (§2.4)
    external = reply.json()["token"]
    ext_claims = _claims(external)
    assert ext_claims["exp"] - ext_claims["iat"] in (ANONYMOUS_LIFETIME, ANONYMOUS_LIFETIME + 1)
    assert _ws_status(sandbox, external) == 401  # the external token is no consumer token
    login = _acr0_login(sandbox, external)
    assert login.status_code == 200
    assert set(login.json()) == {"token"}
    token = login.json()["token"]
    assert _claims(token)["exp"] == ext_claims["exp"]
    assert "lp.ext" not in _claims(token)  # an unauthenticated identity: 4407 on expiry
    consumer = open_consumer(sandbox, token)
    try:
        consumer.ok("GetClock")
        sandbox.faults.expire_tokens()
        assert consumer.closed()[0] == 4407
    finally:
        consumer.close()


def test_anonymous_authorize_needs_a_json_content_type(sandbox: Sandbox) -> None:
    """§2.4 says "JSON content type, no body"; anything else is 415 (decision D6)."""
    assert _anonymous(sandbox, headers={}).status_code == 415
    assert _anonymous(sandbox, headers={"Content-Type": "text/plain"}).status_code == 415
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert _anonymous(sandbox, headers=charset).status_code == 200


def test_acr0_connector_and_version_are_checked(sandbox: Sandbox) -> None:
    """An unknown connector is 404 (decision D7), a wrong ``v`` 400."""
    external = _anonymous(sandbox).json()["token"]
    assert _acr0_login(sandbox, external, connector="nope").status_code == 404
    assert _acr0_login(sandbox, external, version="2.0").status_code == 400
    assert _acr0_login(sandbox, signup(sandbox)).status_code == 401  # not an ACR0 token
    assert _acr0_login(sandbox, external).status_code == 200
    with Sandbox(tls=True, identity=IdentityOptions(anonymous_connector="2622463")) as custom:
        own = _anonymous(custom).json()["token"]
        assert _acr0_login(custom, own, connector="2622463").status_code == 200
        assert _acr0_login(custom, own).status_code == 404


def test_refresh_keeps_the_consumer_and_works_after_expiry_within_the_window(
        sandbox: Sandbox) -> None:
    """The refresh window is counted from the token's ``exp`` (decision D8)."""
    sandbox.identity.clock = lambda: time.time() - ANONYMOUS_LIFETIME - 100
    expired = _anonymous(sandbox).json()["token"]
    sandbox.identity.clock = time.time
    assert _claims(expired)["exp"] < time.time()
    assert _acr0_login(sandbox, expired).status_code == 401  # expired: refresh first
    refreshed = _anonymous(sandbox, json={"id_token": expired})
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()["token"]
    assert _claims(new)["sub"] == _claims(expired)["sub"]
    assert _claims(new)["exp"] > time.time()
    first = _claims(_acr0_login(sandbox, new).json()["token"])["sub"]
    again = _anonymous(sandbox, json={"id_token": new}).json()["token"]
    assert _claims(_acr0_login(sandbox, again).json()["token"])["sub"] == first


def test_refresh_after_the_window_is_refused(sandbox: Sandbox) -> None:
    sandbox.identity.clock = lambda: time.time() - ANONYMOUS_LIFETIME - REFRESH_WINDOW - 5
    ancient = _anonymous(sandbox).json()["token"]
    sandbox.identity.clock = time.time
    refused = _anonymous(sandbox, json={"id_token": ancient})
    assert refused.status_code == 401
    assert "window" in refused.json()["details"]
    assert _anonymous(sandbox, json={"id_token": "a.b.c"}).status_code == 401
    assert _anonymous(sandbox, json={"id_token": 5}).status_code == 400


def test_a_revoked_connector_is_403_until_reset(sandbox: Sandbox) -> None:
    """A connector disabled while consumers use it answers 403 (decision D14)."""
    external = _anonymous(sandbox).json()["token"]
    sandbox.faults.revoke_connector()
    refused = _acr0_login(sandbox, external)
    assert refused.status_code == 403
    assert refused.json() == {"error": "unauthorized_client",
                              "details": "connector acr0 is disabled"}
    assert _anonymous(sandbox).status_code == 200  # the account still issues external tokens
    sandbox.faults.reset()
    assert _acr0_login(sandbox, external).status_code == 200


def test_refused_codes_are_400_invalid_code_and_used_up(sandbox: Sandbox) -> None:
    codes = [sandbox.mint_auth_code("customer-3") for _ in range(3)]

    def exchange(code: str) -> requests.Response:
        return _post(sandbox, "/app/default/authenticate", params={"v": "2.0"},
                     json={"code": code, "redirect_uri": "https://liveperson.net"})

    sandbox.faults.refuse_codes(2)
    for code in codes[:2]:
        refused = exchange(code)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_code"
    assert exchange(codes[2]).status_code == 200
    assert exchange(codes[0]).status_code == 400  # a refused code is used up


def test_identity_failures_answer_every_idp_route_then_stop(sandbox: Sandbox) -> None:
    sandbox.faults.fail_identity(3, status=503)
    failed = [_post(sandbox, "/signup"), _anonymous(sandbox),
              _authenticate(sandbox, sandbox.mint_brand_token("customer-4"))]
    assert [reply.status_code for reply in failed] == [503, 503, 503]
    assert failed[0].json() == {"error": "temporarily_unavailable"}
    assert _post(sandbox, "/signup").status_code == 200
    sandbox.faults.fail_identity(1, status=500)
    sandbox.faults.reset()
    assert _anonymous(sandbox).status_code == 200


def test_anonymous_lifetime_and_window_are_configurable() -> None:
    options = IdentityOptions(anonymous_lifetime=30, refresh_window=60)
    with Sandbox(tls=True, identity=options) as sandbox:
        claims = _claims(_anonymous(sandbox).json()["token"])
        assert claims["exp"] - claims["iat"] in (30, 31)
        sandbox.identity.clock = lambda: time.time() - 30 - 61
        old = _anonymous(sandbox).json()["token"]
        sandbox.identity.clock = time.time
        assert _anonymous(sandbox, json={"id_token": old}).status_code == 401


# -- CSDS (§1.1) ---------------------------------------------------------------------------


def test_csds_answers_401_for_an_unknown_account(sandbox: Sandbox) -> None:
    """All three lookup forms; the body's shape is decision D1."""
    base = f"{sandbox.http_url}/api/account/nobody/service"
    for url in (f"{base}/baseURI.json", f"{base}/idp/baseURI.json"):
        reply = requests.get(url, params={"version": "1.0"}, timeout=5, verify=sandbox.ca_file)
        assert reply.status_code == 401
        assert reply.json()["error"] == "unauthorized"
    jsonp = requests.get(f"{sandbox.http_url}/csdr/account/nobody/service/idp/baseURI.lpCsds",
                         params={"version": "1.0", "cb": "f"}, timeout=5, verify=sandbox.ca_file)
    assert jsonp.status_code == 401
    assert jsonp.text.startswith("f(")
    known = requests.get(sandbox.csds_url, timeout=5, verify=sandbox.ca_file)
    assert known.status_code == 200


def test_more_accounts_can_be_served() -> None:
    with Sandbox(tls=True, accounts=["second"]) as sandbox:
        url = sandbox.csds_url.replace(f"/account/{sandbox.account}/", "/account/second/")
        reply = requests.get(url, timeout=5, verify=sandbox.ca_file)
        assert reply.status_code == 200
        assert {e["account"] for e in reply.json()["baseURIs"]} == {"second"}


def test_base64_of_a_token_is_not_a_token(sandbox: Sandbox) -> None:
    """Guard against a sloppy parser: the implicit flow refuses anything but a JWT or JWE."""
    garbage = base64.urlsafe_b64encode(b'{"iss":"x"}').decode()
    assert _authenticate(sandbox, garbage).status_code == 401
    no_kid = _segment({"alg": "RS256", "kid": ["x"]}) + "." + _segment({"iss": "x"}) + ".sig"
    assert _authenticate(sandbox, no_kid).status_code == 401


_PIECE = st.one_of(
    st.text(max_size=40),
    st.dictionaries(st.sampled_from(["alg", "enc", "kid", "iss", "iat", "exp", "zip"]),
                    st.one_of(st.text(max_size=12), st.integers(), st.none()),
                    max_size=5).map(_segment),
)


def test_no_token_shape_makes_the_identity_service_fail() -> None:
    """Whatever a client sends as a token, the answer is a 4xx with a JSON error, never a 500."""
    with Sandbox() as sandbox:

        @settings(max_examples=40, deadline=None)
        @given(pieces=st.lists(_PIECE, min_size=1, max_size=5))
        def check(pieces: list[str]) -> None:
            token = ".".join(pieces)
            for reply in (_authenticate(sandbox, token),
                          _anonymous(sandbox, json={"id_token": token}),
                          _acr0_login(sandbox, token)):
                assert 400 <= reply.status_code < 500, (token, reply.text)
                assert reply.json()["error"]

        check()


@pytest.mark.parametrize("flag", ["--brand-public-key", "--brand-jwks", "--jwe-key"])
def test_a_bad_key_file_is_a_clear_error_at_start(tmp_path: Path, flag: str) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key\n", encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", flag, str(bad)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("lpbot sandbox: ")
    assert str(bad) in done.stderr
    assert "Traceback" not in done.stderr


def test_the_hs256_key_can_come_from_the_environment() -> None:
    """Out of the process list: the variable is read (and checked) like the flag."""
    done = subprocess.run(
        [sys.executable, "-m", "lpbot", "sandbox", "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "LPBOT_SANDBOX_BRAND_KEY": "too short"})
    assert done.returncode == 2
    assert "32 bytes" in done.stderr
