"""The consumer tokens the sandbox's identity service issues and checks (protocol notes §2).

Tokens are RS256 JWTs with a ``kid`` header, as the documented example shows (§2.1), made and
checked with PyJWT. The RSA key is made once per process (making one costs tens of
milliseconds); each :class:`TokenIssuer` has its own ``kid``, so a token of another sandbox is
refused. Every token carries a serial number (``jti``) so that :meth:`TokenIssuer.expire_all` can
invalidate everything issued so far in one step.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "ISSUER",
    "SIGNUP_LIFETIME",
    "LazyRsaKey",
    "TokenError",
    "TokenIssuer",
    "decode_unverified",
    "rsa_key",
]

#: ``iss`` of every consumer token, as LivePerson's IDP writes it (protocol notes §2.1).
ISSUER: Final = "https://idp.liveperson.net"
#: ``exp - iat`` of both documented signup tokens: 410,240,040 s, about 13 years (§2.1).
SIGNUP_LIFETIME: Final = 410_240_040.0


class TokenError(ValueError):
    """A token is malformed, wrongly signed, expired or meant for another account."""


class LazyRsaKey:
    """A 2048-bit RSA key made on first use (making one costs tens of milliseconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None

    def get(self) -> rsa.RSAPrivateKey:
        """The key, made now if this is the first call (thread-safe)."""
        with self._lock:
            if self._key is None:
                self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._key


_PROCESS_KEY = LazyRsaKey()


def rsa_key() -> rsa.RSAPrivateKey:
    """The process's signing key for consumer tokens."""
    return _PROCESS_KEY.get()


def decode_unverified(token: str) -> dict[str, Any]:
    """Return the claims of ``token`` without checking anything; raises TokenError if unreadable."""
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError(f"unreadable JWT: {exc}") from exc
    return claims


class TokenIssuer:
    """Issues and checks the consumer tokens of one sandbox (thread-safe).

    Args:
        lifetime: seconds an unauthenticated (signup) token lives; documented ~13 years.
        clock: the wall clock ``iat`` and ``exp`` are stamped by (checks use the real time).
    """

    def __init__(self, *, lifetime: float = SIGNUP_LIFETIME,
                 clock: Callable[[], float] = time.time) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self.kid = uuid.uuid4().hex[:12]
        self._key = rsa_key()
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
        now = self.clock()
        life = self.lifetime if lifetime is None else lifetime
        with self._lock:
            serial = next(self._serials)
        claims: dict[str, Any] = {
            "sub": subject or str(uuid.uuid4()),
            "aud": f"acc:{account}",
            "iss": ISSUER,
            "iat": int(now),
            "exp": exp if exp is not None else math.ceil(now + life),
            "jti": str(serial),
        }
        if extra:
            claims.update(extra)
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def check(self, token: str, account: str, *, verify_exp: bool = True) -> dict[str, Any]:
        """Return the claims of a valid, unexpired token for ``account``, else raise TokenError.

        ``verify_exp=False`` accepts an expired token (to refresh it, §2.4).
        """
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"not a JWT: {exc}") from exc
        if header.get("kid") != self.kid:
            raise TokenError("token not issued by this identity service")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=f"acc:{account}",
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud"], "verify_exp": verify_exp},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("JWT expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("token issued for another account") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"bad JWT: {exc}") from exc
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
