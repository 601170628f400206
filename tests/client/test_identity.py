"""Token providers, JWT reading, and secrets kept out of reprs (no server needed)."""

from __future__ import annotations

import base64
import json
import sys

import pytest

from lpbot.client import ClientOptions, StaticTokenProvider, token_provider
from lpbot.client.identity import (
    CommandTokenProvider,
    FunctionTokenProvider,
    Identity,
    jwt_claims,
    token_expiry,
)
from lpbot.errors import AuthError, ConfigError

BRAND_TOKEN = "brand-token-for-tests"


def brand_token() -> str:
    """Used by FunctionTokenProvider through its textual reference."""
    return BRAND_TOKEN


def make_jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_claims_and_expiry_are_read_without_verification():
    token = make_jwt({"sub": "consumer-1", "exp": 1882358943, "aud": "acc:1"})
    assert jwt_claims(token)["sub"] == "consumer-1"
    assert token_expiry(token) == 1882358943.0
    assert token_expiry(make_jwt({"sub": "x"})) is None


@pytest.mark.parametrize("token", ["not-a-jwt", "a.!!!.c", "a." + base64.urlsafe_b64encode(
    b"[1]").decode() + ".c"])
def test_bad_tokens_raise_auth_error(token):
    with pytest.raises(AuthError):
        jwt_claims(token)


def test_identity_from_token_and_expiry_margin():
    identity = Identity.from_token(make_jwt({"sub": "c9", "exp": 1000}), authenticated=True)
    assert identity.consumer_id == "c9"
    assert identity.expires_within(60, now=950)
    assert not identity.expires_within(60, now=900)
    assert "eyJ" not in repr(identity)
    assert "token" not in repr(identity)
    with pytest.raises(AuthError, match="sub"):
        Identity.from_token(make_jwt({"exp": 1}), authenticated=False)


def test_refresh_margin_is_at_most_half_the_token_lifetime():
    long_lived = Identity.from_token(make_jwt({"sub": "c", "iat": 1000, "exp": 4600}),
                                     authenticated=True)
    assert long_lived.refresh_margin(300) == 300
    assert not long_lived.refresh_due(300, now=4299)
    assert long_lived.refresh_due(300, now=4301)
    short_lived = Identity.from_token(make_jwt({"sub": "c", "iat": 1000, "exp": 1060}),
                                      authenticated=True)
    assert short_lived.refresh_margin(300) == 30
    assert not short_lived.refresh_due(300, now=1029)
    assert short_lived.refresh_due(300, now=1031)
    # without iat, the lifetime counts from when the token was obtained
    no_iat = Identity.from_token(make_jwt({"sub": "c", "exp": 1100}), authenticated=True,
                                 obtained_at=1080)
    assert no_iat.issued_at == 1080
    assert no_iat.refresh_margin(300) == 10
    assert Identity.from_token(make_jwt({"sub": "c"}), authenticated=True).refresh_margin(
        300) == 300


def test_static_provider_hides_token():
    provider = StaticTokenProvider("s3cr3t")
    assert provider() == "s3cr3t"
    assert "s3cr3t" not in repr(provider)
    options = ClientOptions(account="1", token_provider=provider)
    assert "s3cr3t" not in repr(options)


def test_command_provider_returns_stdout():
    provider = CommandTokenProvider([sys.executable, "-c", "print(' tok-from-command ')"])
    assert provider() == "tok-from-command"


def test_command_provider_failure_is_auth_error_without_stdout():
    provider = CommandTokenProvider([sys.executable, "-c",
                                     "import sys; print('partial-secret'); sys.exit(3)"])
    with pytest.raises(AuthError, match="exited 3") as info:
        provider()
    assert "partial-secret" not in str(info.value)


def test_function_provider_by_reference():
    provider = FunctionTokenProvider(f"{__name__}:brand_token")
    assert provider() == BRAND_TOKEN
    with pytest.raises(ConfigError):
        FunctionTokenProvider("no-colon")
    with pytest.raises(ConfigError):
        FunctionTokenProvider("tests.client.does_not_exist:f")()


def test_token_provider_factory_needs_exactly_one_source():
    assert isinstance(token_provider(token="x"), StaticTokenProvider)
    assert isinstance(token_provider(command="echo x"), CommandTokenProvider)
    assert isinstance(token_provider(function="os:getcwd"), FunctionTokenProvider)
    with pytest.raises(ConfigError):
        token_provider()
    with pytest.raises(ConfigError):
        token_provider(token="x", command="echo y")
