"""Consumer identity: IDP signup or brand-token exchange, JWT expiry, persisted identities.

Two flows (protocol.md §2): *unauthenticated* (``POST {idp}/api/account/{acct}/signup``, §2.1)
and *authenticated* (a brand JWT from a :class:`TokenProvider`, exchanged at
``/authenticate`` for an LP JWT, §2.2). The identity is saved in the state directory, so a
restarted bot is the same consumer (JWT ``sub``) and finds its open conversation again.

Renewal after close code 4407 (§2.5): LivePerson's IDP "extend" endpoint is undocumented (§10),
so renewing an unauthenticated identity means signing up again, which yields a **new consumer
id**; the previous consumer's open conversation cannot be continued by the new one. Bots that
must keep their conversations across expiry use the authenticated flow, whose consumer id is
stable (refreshing asks the provider for a new brand token).

Tokens are secrets: nothing here logs one, and ``repr`` of every class hides them.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import requests

from lpbot.client.backoff import Backoff, Waiter, wait_on_event
from lpbot.client.discovery import Discovery, http_retry_delay, untrusted_certificate
from lpbot.client.state import StateStore, StoredIdentity
from lpbot.errors import AuthError, ConfigError, ConnectionClosed
from lpbot.protocol.names import Services

__all__ = [
    "CommandTokenProvider",
    "FunctionTokenProvider",
    "Identity",
    "IdentityManager",
    "StaticTokenProvider",
    "TokenProvider",
    "jwt_claims",
    "token_expiry",
    "token_provider",
]

log = logging.getLogger(__name__)


def jwt_claims(token: str) -> dict[str, Any]:
    """Decode a JWT's claims without verifying it (the server verifies; we read ``sub``/``exp``).

    Raises:
        AuthError: the token is not a JWT with a JSON object payload.
    """
    parts = token.split(".")
    if len(parts) < 2:
        raise AuthError("token is not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise AuthError("token payload is not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise AuthError("token payload is not a JSON object")
    return claims


def token_expiry(token: str) -> float | None:
    """The token's ``exp`` claim (epoch seconds), or ``None`` when it has none."""
    return _numeric_claim(jwt_claims(token), "exp")


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """One consumer: its id (the JWT ``sub``), LP JWT and its validity; ``repr`` hides the token.

    ``issued_at`` is the token's ``iat`` claim, or when the token was obtained (or loaded) if it
    has none; with ``expires_at`` it gives the token's lifetime, which bounds how early it is
    refreshed (:meth:`refresh_due`).
    """

    consumer_id: str
    token: str = field(repr=False)
    authenticated: bool
    expires_at: float | None = None
    issued_at: float | None = None

    @classmethod
    def from_token(cls, token: str, *, authenticated: bool,
                   obtained_at: float | None = None) -> Identity:
        """Read ``sub``, ``iat`` and ``exp`` from an LP JWT (§2.1: ``sub`` is the consumer id).

        ``obtained_at`` (default: now) stands in for a missing ``iat``.
        """
        claims = jwt_claims(token)
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("LP token has no 'sub' claim")
        issued = _numeric_claim(claims, "iat")
        if issued is None:
            issued = time.time() if obtained_at is None else obtained_at
        return cls(consumer_id=sub, token=token, authenticated=authenticated,
                   expires_at=_numeric_claim(claims, "exp"), issued_at=issued)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """True when the token expires in less than ``seconds`` (or has expired)."""
        if self.expires_at is None:
            return False
        return self.expires_at - (time.time() if now is None else now) < seconds

    def refresh_margin(self, refresh_ahead: float) -> float:
        """Seconds before expiry to refresh: ``refresh_ahead``, at most half the lifetime.

        A token that lives less than ``refresh_ahead`` would otherwise be due the moment it
        arrives, and every keepalive tick would refresh it and re-open the socket.
        """
        if self.expires_at is None or self.issued_at is None:
            return refresh_ahead
        return min(refresh_ahead, max(0.0, (self.expires_at - self.issued_at) / 2))

    def refresh_due(self, refresh_ahead: float, now: float | None = None) -> bool:
        """True when the token should be refreshed now (see :meth:`refresh_margin`)."""
        return self.expires_within(self.refresh_margin(refresh_ahead), now)


# --- token providers ---------------------------------------------------------------------


@runtime_checkable
class TokenProvider(Protocol):
    """Returns a fresh brand token (an external JWT or an OAuth code) for ``/authenticate``.

    Called from a client thread whenever a new LP token is needed (first connect, close 4401 or
    1008, HTTP 401 at the handshake, or ahead of expiry). It may block briefly; raise to fail.
    """

    def __call__(self) -> str:
        """Return the brand token."""
        ...


class StaticTokenProvider:
    """Always the same brand token (for tests and short-lived scripts).

    Example:
        >>> StaticTokenProvider("eyJ...")
        StaticTokenProvider(token='***')
    """

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError("static brand token is empty", key="auth.token")
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenProvider(token='***')"

    def __call__(self) -> str:
        """Return the configured token."""
        return self._token


class CommandTokenProvider:
    """Runs a command; its standard output (stripped) is the brand token.

    Example:
        >>> CommandTokenProvider("vault read -field=jwt secret/bot")
        CommandTokenProvider(argv=['vault', 'read', '-field=jwt', 'secret/bot'])
    """

    def __init__(self, command: str | Sequence[str], *, timeout: float = 30.0) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ConfigError("token command is empty", key="auth.command")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"CommandTokenProvider(argv={self.argv!r})"

    def __call__(self) -> str:
        """Run the command and return its stdout; AuthError when it fails or prints nothing."""
        try:
            done = subprocess.run(  # noqa: S603 - the command comes from the bot's own config
                self.argv, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise AuthError(f"token command {self.argv[0]!r} failed: {exc}") from exc
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            # stderr may help; stdout may hold a partial secret, so it is never shown.
            raise AuthError(f"token command {self.argv[0]!r} exited {done.returncode}: "
                            f"{done.stderr.strip()[:200]}")
        return token


class FunctionTokenProvider:
    """Calls a function named by reference ``"package.module:function"``; returns its result.

    Example:
        >>> FunctionTokenProvider("os.path:basename")
        FunctionTokenProvider('os.path:basename')
    """

    def __init__(self, reference: str) -> None:
        module_name, _, attr = reference.partition(":")
        if not module_name or not attr:
            raise ConfigError(f"expected 'package.module:function', got {reference!r}",
                              key="auth.function")
        self.reference = reference
        self._module_name, self._attr = module_name, attr
        self._function: Callable[[], object] | None = None

    def __repr__(self) -> str:
        return f"FunctionTokenProvider({self.reference!r})"

    def __call__(self) -> str:
        """Import (once) and call the function; AuthError when it does not return a string."""
        if self._function is None:
            try:
                target: Any = importlib.import_module(self._module_name)
                for part in self._attr.split("."):
                    target = getattr(target, part)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"cannot import {self.reference!r}: {exc}",
                                  key="auth.function") from exc
            if not callable(target):
                raise ConfigError(f"{self.reference!r} is not callable", key="auth.function")
            self._function = target
        token = self._function()
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self.reference} returned no token")
        return token


def token_provider(
    *, command: str | Sequence[str] | None = None, function: str | None = None,
    token: str | None = None,
) -> TokenProvider:
    """Build the provider named by exactly one of ``command``, ``function`` or ``token``."""
    given = [name for name, value in (("command", command), ("function", function),
                                      ("token", token)) if value]
    if len(given) != 1:
        raise ConfigError("give exactly one of command, function or token", key="auth")
    if command:
        return CommandTokenProvider(command)
    if function:
        return FunctionTokenProvider(function)
    assert token is not None  # noqa: S101 - narrowed by the count above
    return StaticTokenProvider(token)


# --- the manager -------------------------------------------------------------------------


class IdentityManager:
    """Obtains, persists, refreshes and renews the identity of one consumer.

    Thread-safe: the connection thread refreshes on 4401 while the keepalive thread may refresh
    ahead of expiry; one lock serialises them.
    """

    def __init__(
        self,
        *,
        account: str,
        discovery: Discovery,
        http: requests.Session,
        store: StateStore | None,
        key: str,
        provider: TokenProvider | None = None,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        waiter: Waiter = wait_on_event,
        timeout: float = 10.0,
    ) -> None:
        self.account = account
        self.provider = provider
        self.key = key
        self._discovery = discovery
        self._http = http
        self._store = store
        self._backoff = backoff if backoff is not None else Backoff()
        self._stop = stop if stop is not None else threading.Event()
        self._waiter = waiter
        self._timeout = timeout
        self._lock = threading.Lock()
        self._identity: Identity | None = None

    def __repr__(self) -> str:
        return f"IdentityManager(account={self.account!r}, key={self.key!r})"

    @property
    def authenticated(self) -> bool:
        """True when a token provider is configured (the authenticated flow, §2.2)."""
        return self.provider is not None

    def current(self) -> Identity:
        """The identity to connect with: in memory, else persisted, else a new one."""
        with self._lock:
            if self._identity is None:
                self._identity = self._load() or self._obtain(renew=False)
            return self._identity

    def refresh(self) -> Identity:
        """A new LP token for the same consumer (authenticated), after 4401/1008/HTTP 401.

        For an unauthenticated identity this is :meth:`renew` (§2.5: there is no documented
        way to extend it), which changes the consumer id.
        """
        with self._lock:
            self._identity = self._obtain(renew=not self.authenticated)
            return self._identity

    def renew(self) -> Identity:
        """Sign up again after 4407 (§2.5): a **new consumer id** for unauthenticated flows."""
        return self.refresh()

    def _load(self) -> Identity | None:
        if self._store is None:
            return None
        stored = self._store.load_identity(self.key)
        if stored is None or stored.authenticated != self.authenticated:
            return None
        try:
            identity = Identity.from_token(stored.token, authenticated=stored.authenticated)
        except AuthError:
            return None
        if identity.expires_within(0):
            # An expired authenticated token is refreshed; an expired signup token keeps the
            # consumer id only if the server still accepts it, which it will not: start over.
            return None
        log.info("identity %s loaded from %s", identity.consumer_id, self._store.path)
        return identity

    def _obtain(self, *, renew: bool) -> Identity:
        if self.provider is not None:
            try:
                brand_token = self.provider()
            except AuthError:
                raise
            except Exception as exc:  # isolation boundary: user-supplied code
                raise AuthError(f"token provider failed: {exc!r}") from exc
            path = f"/api/account/{self.account}/authenticate"
            token = self._post_for_jwt(path, {"authCode": brand_token})
        else:
            token = self._post_for_jwt(f"/api/account/{self.account}/signup", None)
        identity = Identity.from_token(token, authenticated=self.provider is not None)
        previous = self._identity
        if renew and previous is not None and previous.consumer_id != identity.consumer_id:
            log.warning("unauthenticated identity renewed: consumer %s replaces %s",
                        identity.consumer_id, previous.consumer_id)
        if self._store is not None:
            self._store.save_identity(self.key, StoredIdentity(
                consumer_id=identity.consumer_id, token=identity.token,
                authenticated=identity.authenticated))
        log.info("identity for consumer %s obtained (%s)", identity.consumer_id,
                 "authenticated" if identity.authenticated else "unauthenticated")
        return identity

    def _post_for_jwt(self, path: str, body: Mapping[str, Any] | None) -> str:
        attempt = 0
        while True:
            status: int | None = None
            # Outside the try: discovery retries on its own, and its ConfigError (an unknown
            # account) is a ValueError that must not be taken for a bad answer and retried.
            url = self._discovery.url(Services.IDP, path)
            try:
                response = self._http.post(url, json=body, timeout=self._timeout)
                status = response.status_code
                if status == 200:
                    payload = response.json()
                    # §2.1/§2.2 answer {"jwt": ...}; the ACR0 flow (§2.4) answers {"token": ...}.
                    token = payload.get("jwt") or payload.get("token") if isinstance(
                        payload, dict) else None
                    if not isinstance(token, str) or not token:
                        raise AuthError("IDP answered without a token", status=status)
                    return token
                error: Exception = AuthError(f"IDP {path} answered HTTP {status}", status=status)
            except ConfigError:  # CSDS refused the account (401, §1.1): retrying cannot help
                raise
            except (requests.RequestException, ValueError) as exc:
                untrusted = untrusted_certificate(exc, url, service="IDP")
                if untrusted is not None:
                    raise untrusted from exc
                error = exc
            delay = http_retry_delay(status, attempt, self._backoff)
            if delay is None:
                raise AuthError(f"IDP refused {path}: HTTP {status}", status=status) from error
            if attempt >= self._backoff.request_retries:
                raise ConnectionClosed(f"IDP {path} unreachable: {error}") from error
            log.warning("IDP %s failed (%s); retry %d in %.3g s", path, error, attempt + 1, delay)
            if self._waiter(self._stop, delay):
                raise ConnectionClosed("client closed while talking to the IDP")
            attempt += 1
