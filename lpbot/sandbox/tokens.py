"""HS256 JSON Web Tokens made with the standard library, for the sandbox's identity service.

The sandbox signs consumer tokens with a per-instance secret and checks brand (external) tokens
with the configured brand key (protocol.md §2). Every token carries a serial number (``jti``) so
that :meth:`TokenIssuer.expire_all` can invalidate everything issued so far in one step.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["ISSUER", "TokenError", "TokenIssuer", "decode_unverified", "sign", "verify"]

#: ``iss`` of every consumer token, as LivePerson's IDP writes it (protocol.md §2.1).
ISSUER = "https://idp.liveperson.net"


class TokenError(ValueError):
    """A token is malformed, wrongly signed, expired or meant for another account."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claims: Mapping[str, Any], key: bytes) -> str:
    """Encode ``claims`` as an HS256 JWT signed with ``key``."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def decode_unverified(token: str) -> dict[str, Any]:
    """Return the claims of ``token`` without checking anything; raises TokenError if unreadable."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT")
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("unreadable JWT payload") from exc
    if not isinstance(claims, dict):
        raise TokenError("JWT payload is not an object")
    return claims


def verify(token: str, key: bytes, *, now: float | None = None) -> dict[str, Any]:
    """Check the HS256 signature and ``exp`` of ``token``; return its claims."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT")
    try:
        header = json.loads(_unb64(parts[0]))
        signature = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("unreadable JWT") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("unsupported JWT algorithm")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise TokenError("bad JWT signature")
    claims = decode_unverified(token)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError("JWT without exp")
    if exp <= (time.time() if now is None else now):
        raise TokenError("JWT expired")
    return claims


class TokenIssuer:
    """Issues and checks the consumer tokens of one sandbox (thread-safe)."""

    def __init__(self, *, lifetime: float, secret: bytes | None = None) -> None:
        self.lifetime = lifetime
        self._secret = secret if secret is not None else uuid.uuid4().bytes + uuid.uuid4().bytes
        self._serials = itertools.count(1)
        self._lock = threading.Lock()
        self._min_serial = 0

    def issue(
        self,
        account: str,
        *,
        subject: str | None = None,
        lifetime: float | None = None,
        extra: Mapping[str, Any] | None = None,
        exp: int | None = None,
    ) -> str:
        """Mint a consumer token for ``account`` (a new consumer id unless ``subject``)."""
        now = int(time.time())
        life = self.lifetime if lifetime is None else lifetime
        with self._lock:
            serial = next(self._serials)
        claims: dict[str, Any] = {
            "sub": subject or str(uuid.uuid4()),
            "aud": f"acc:{account}",
            "iss": ISSUER,
            "iat": now,
            "exp": exp if exp is not None else math.ceil(time.time() + life),
            "jti": str(serial),
        }
        if extra:
            claims.update(extra)
        return sign(claims, self._secret)

    def check(self, token: str, account: str) -> dict[str, Any]:
        """Return the claims of a valid, unexpired token for ``account``, else raise TokenError."""
        claims = verify(token, self._secret)
        if claims.get("aud") != f"acc:{account}":
            raise TokenError("token issued for another account")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise TokenError("token without subject")
        self.check_serial(claims)
        return claims

    def check_serial(self, claims: Mapping[str, Any]) -> None:
        """Raise TokenError if the token was issued before the last :meth:`expire_all`."""
        if self.serial(claims) < self._min_serial:
            raise TokenError("token expired")

    @staticmethod
    def serial(claims: Mapping[str, Any]) -> int:
        """The issue serial number of a token's claims (0 when absent)."""
        try:
            return int(claims.get("jti", 0))
        except (TypeError, ValueError):
            return 0

    def expire_all(self) -> None:
        """Make every token issued so far invalid."""
        with self._lock:
            self._min_serial = next(self._serials)
