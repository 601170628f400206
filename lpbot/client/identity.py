"""Consumer identity: the four documented flows, JWT expiry, persisted identities.

Four flows (protocol notes §2), chosen by :class:`ClientOptions <lpbot.client.ClientOptions>`:

* ``signup`` (§2.1): ``POST {idp}/api/account/{acct}/signup``, LivePerson's demo identity;
* ``anonymous`` (§2.4): the production unauthenticated flow through an ACR0 connector:
  ``/anonymous/authorize`` gives an external token, ``/app/{connector}/authenticate?v=3.0``
  turns it into the consumer token; the external token is refreshed at ``/anonymous/authorize``
  within its refresh window, which keeps the consumer id;
* ``implicit`` (§2.2): a brand JWT from a :class:`TokenProvider`, exchanged at ``/authenticate``;
* ``code`` (§2.3): an OAuth code from a provider, exchanged at
  ``/app/default/authenticate?v=2.0`` (LivePerson redeems it at the brand's token endpoint).

The identity is saved in the state directory (with the ACR0 external token), so a restarted
bot is the same consumer (JWT ``sub``) and finds its open conversation again.

What changes the consumer: only an identity that is really gone. A signup identity has no
documented way to be extended (§2.5, §10), so when the server says it expired (4407) or
refuses its token at the upgrade (HTTP 401), or its ``exp`` has passed, the client signs up
again and is a **new consumer**. An ACR0 identity is refreshed (same consumer) and is renewed
only once the IDP refuses the refresh because its window has passed, while running; at
start-up that refusal is an :class:`~lpbot.errors.AuthError` naming the cause, since the
stored consumer and its conversations would otherwise be dropped without anyone seeing it.
Authenticated identities (implicit, code) keep their consumer across every refresh. A late
``InitConnection`` (1008), a network error or a 401 that a fresh token of the same identity
answers never changes the consumer. Each change of consumer id is logged as a WARNING and
counted (``ClientStats.identity_renewals``).

What is final: an IDP answer of HTTP 4xx other than 408 and 429 (a connector id it does not
know or has disabled, a brand token or code it rejects) is an
:class:`~lpbot.errors.IdentityRefused`, raised at once, except that a refused brand token or code
is followed by ONE fresh one from the provider first (a code is single-use). The client stops
that consumer on it (``ConnectionState.FAILED``) rather than retrying forever. Network errors,
408, 429 and 5xx are retried with the backoff and then raised as ``ConnectionClosed``, which the
client keeps retrying.

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
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import requests

from lpbot.client.backoff import Backoff, Waiter, wait_on_event
from lpbot.client.discovery import Discovery, http_retry_delay, untrusted_certificate
from lpbot.client.state import StateStore, StoredIdentity
from lpbot.errors import AuthError, ConfigError, ConnectionClosed, IdentityRefused
from lpbot.protocol.names import Services

if TYPE_CHECKING:
    from lpbot.client.state_pg import PgStateStore

__all__ = [
    "DEFAULT_REDIRECT_URI",
    "CommandTokenProvider",
    "FunctionTokenProvider",
    "Flow",
    "Identity",
    "IdentityManager",
    "StaticTokenProvider",
    "TokenProvider",
    "jwt_claims",
    "token_expiry",
    "token_provider",
]

log = logging.getLogger(__name__)

#: the code flow's default ``redirect_uri`` (protocol notes §2.3, LivePerson's own SDK)
DEFAULT_REDIRECT_URI: Final = "https://liveperson.net"


class Flow(StrEnum):
    """How a consumer gets its token (protocol notes §2)."""

    SIGNUP = "signup"          # §2.1: the demo identity
    ANONYMOUS = "anonymous"    # §2.4: production unauthenticated, an ACR0 connector
    IMPLICIT = "implicit"      # §2.2: a brand JWT
    CODE = "code"              # §2.3: an OAuth code


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
    #: the ACR0 external token (§2.4) that refreshes this consumer; ``None`` for other flows
    external_token: str | None = field(default=None, repr=False)

    @property
    def refreshable(self) -> bool:
        """True when a fresh token of the same consumer can be had (all but signup)."""
        return self.authenticated or self.external_token is not None

    @classmethod
    def from_token(cls, token: str, *, authenticated: bool,
                   obtained_at: float | None = None,
                   external_token: str | None = None) -> Identity:
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
                   expires_at=_numeric_claim(claims, "exp"), issued_at=issued,
                   external_token=external_token)

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
    """Returns a fresh brand token (an external JWT, implicit flow) or an OAuth code (code flow).

    Called from a client thread whenever a new LP token is needed (first connect, close 4401 or
    1008, HTTP 401 at the handshake, or ahead of expiry). It may block briefly; raise to fail.
    A code is used once: the provider must return a new one on every call.
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

    Args:
        provider: brand tokens (implicit flow) or OAuth codes (``flow="code"``).
        flow: the identity flow; by default ``implicit`` with a provider, else ``signup``.
        connector_id: the ACR0 connector of the ``anonymous`` flow.
        redirect_uri: what the code flow sends with each code.
        count: adds to the client's counters (``identity_renewals``).
    """

    def __init__(
        self,
        *,
        account: str,
        discovery: Discovery,
        http: requests.Session,
        store: StateStore | PgStateStore | None,
        key: str,
        provider: TokenProvider | None = None,
        flow: Flow | str | None = None,
        connector_id: str | None = None,
        redirect_uri: str = DEFAULT_REDIRECT_URI,
        backoff: Backoff | None = None,
        stop: threading.Event | None = None,
        waiter: Waiter = wait_on_event,
        timeout: float = 10.0,
        count: Callable[[str], None] | None = None,
    ) -> None:
        self.account = account
        self.provider = provider
        self.flow = Flow(flow) if flow is not None else (
            Flow.IMPLICIT if provider is not None else Flow.SIGNUP)
        if self.flow in (Flow.IMPLICIT, Flow.CODE) and provider is None:
            raise ConfigError(f"the {self.flow} flow needs a token provider", key="auth")
        if self.flow is Flow.ANONYMOUS and not connector_id:
            raise ConfigError("the anonymous flow needs a connector id", key="connector_id")
        self.connector_id = connector_id
        self.redirect_uri = redirect_uri
        self.key = key
        self._discovery = discovery
        self._http = http
        self._store = store
        self._backoff = backoff if backoff is not None else Backoff()
        self._stop = stop if stop is not None else threading.Event()
        self._waiter = waiter
        self._timeout = timeout
        self._count = count
        self._lock = threading.Lock()
        self._identity: Identity | None = None

    def __repr__(self) -> str:
        return f"IdentityManager(account={self.account!r}, key={self.key!r}, flow={self.flow!r})"

    @property
    def authenticated(self) -> bool:
        """True for the authenticated flows (implicit, code: §2.2, §2.3)."""
        return self.flow in (Flow.IMPLICIT, Flow.CODE)

    def current(self) -> Identity:
        """The identity to connect with: in memory, else persisted, else a new one.

        A persisted ACR0 identity whose consumer token expired is refreshed (same consumer).

        Raises:
            AuthError: the IDP or the provider refused; for a stored ACR0 identity whose
                refresh window has passed, the message says so (nothing is replaced).
        """
        with self._lock:
            if self._identity is None:
                stored = self._load()
                if stored is not None and stored.expires_within(0):
                    stored = self._refresh_anonymous(stored, replace_lost=False)
                self._identity = stored or self._obtain(previous=self._stored_consumer())
            return self._identity

    def refresh(self) -> Identity:
        """A fresh token of the same consumer (after 4401, 1008, ahead of expiry).

        A signup identity has none: it is kept while its ``exp`` has not passed (a 1008 for a
        late ``InitConnection`` does not make it invalid), else signed up again.
        """
        with self._lock:
            self._identity = self._fresh(renew=False)
            return self._identity

    def renew(self) -> Identity:
        """After 4407 or a refused upgrade (HTTP 401) of an unauthenticated identity (§2.5).

        ACR0 identities are refreshed (same consumer) and replaced only when the refresh
        window has passed; a signup identity is signed up again: a **new consumer id**.
        """
        with self._lock:
            self._identity = self._fresh(renew=True)
            return self._identity

    def _fresh(self, *, renew: bool) -> Identity:
        current = self._identity
        if current is not None and current.external_token is not None:
            return self._refresh_anonymous(current, replace_lost=True)
        if (self.flow is Flow.SIGNUP and current is not None and not renew
                and not current.expires_within(0)):
            return current
        return self._obtain(previous=current.consumer_id if current is not None else None)

    def _stored_consumer(self) -> str | None:
        stored = self._store.load_identity(self.key) if self._store is not None else None
        return stored.consumer_id if stored is not None else None

    def _load(self) -> Identity | None:
        if self._store is None:
            return None
        stored = self._store.load_identity(self.key)
        if stored is None or stored.authenticated != self.authenticated:
            return None
        if (stored.external_token is not None) != (self.flow is Flow.ANONYMOUS):
            return None  # saved by another flow: its consumer cannot be kept
        try:
            identity = Identity.from_token(stored.token, authenticated=stored.authenticated,
                                           external_token=stored.external_token)
        except AuthError:
            return None
        if identity.expires_within(0) and identity.external_token is None:
            # An expired authenticated token is refreshed; an expired signup token keeps the
            # consumer id only if the server still accepts it, which it will not: start over.
            return None
        log.info("identity %s loaded from %s", identity.consumer_id, self._store.path)
        return identity

    def _refresh_anonymous(self, current: Identity, *, replace_lost: bool) -> Identity:
        """§2.4 step 3: a new external token for the same consumer, then step 2 again."""
        assert current.external_token is not None  # noqa: S101 - only ACR0 identities
        try:
            external = self._post_for_token(f"/api/account/{self.account}/anonymous/authorize",
                                            {"id_token": current.external_token})
        except IdentityRefused as exc:
            if exc.status != 401:
                raise
            cause = (f"the anonymous identity of consumer {current.consumer_id} can no longer "
                     f"be refreshed: {exc}")
            if not replace_lost:
                raise IdentityRefused(f"{cause}; to start as a new consumer, remove the stored "
                                      f"identity {self.key!r} or choose another identity name",
                                      status=401, endpoint=exc.endpoint) from exc
            log.warning("%s", cause)
            return self._obtain(previous=current.consumer_id)
        return self._keep(self._authenticate_anonymous(external), previous=current.consumer_id)

    def _authenticate_anonymous(self, external: str) -> Identity:
        path = f"/api/account/{self.account}/app/{self.connector_id}/authenticate"
        token = self._post_for_token(path, {"id_token": external}, query={"v": "3.0"})
        return Identity.from_token(token, authenticated=False, external_token=external)

    def _obtain(self, *, previous: str | None) -> Identity:
        """A new identity of the configured flow (a new consumer for signup and ACR0)."""
        account = f"/api/account/{self.account}"
        if self.flow is Flow.SIGNUP:
            identity = Identity.from_token(self._post_for_token(f"{account}/signup", None),
                                           authenticated=False)
        elif self.flow is Flow.ANONYMOUS:
            external = self._post_for_token(f"{account}/anonymous/authorize", None,
                                            json_without_body=True)
            identity = self._authenticate_anonymous(external)
        elif self.flow is Flow.IMPLICIT:
            token = self._exchange(f"{account}/authenticate", "brand token",
                                   lambda given: {"authCode": given})
            identity = Identity.from_token(token, authenticated=True)
        else:
            token = self._exchange(
                f"{account}/app/default/authenticate", "code",
                lambda given: {"code": given, "redirect_uri": self.redirect_uri},
                query={"v": "2.0"})
            identity = Identity.from_token(token, authenticated=True)
        return self._keep(identity, previous=previous)

    def _exchange(self, path: str, what: str, body: Callable[[str], Mapping[str, Any]], *,
                  query: Mapping[str, str] | None = None) -> str:
        """Exchange the provider's brand token or code; one refusal gets ONE fresh one.

        A code is single-use and a brand token may have expired on its way, so a refusal may
        be the provider's value rather than the identity; a second refusal of a fresh value is
        not, and is final.

        Raises:
            IdentityRefused: the IDP refused a fresh value too (the message says so).
        """
        try:
            return self._post_for_token(path, body(self._provided()), query=query)
        except IdentityRefused as first:
            log.info("%s; asking the token provider for a fresh %s", first, what)
            try:
                return self._post_for_token(path, body(self._provided()), query=query)
            except IdentityRefused as second:
                raise IdentityRefused(f"{second}; a fresh {what} from the provider was refused "
                                      "too", status=second.status or 400,
                                      endpoint=second.endpoint) from second

    def _provided(self) -> str:
        assert self.provider is not None  # noqa: S101 - checked in __init__
        try:
            return self.provider()
        except AuthError:
            raise
        except Exception as exc:  # isolation boundary: user-supplied code
            raise AuthError(f"token provider failed: {exc!r}") from exc

    def _keep(self, identity: Identity, *, previous: str | None) -> Identity:
        """Persist ``identity``; a changed consumer id is a WARNING and counted."""
        if previous is not None and previous != identity.consumer_id:
            log.warning("consumer %s replaces consumer %s (%s identity renewed); the old "
                        "consumer's conversations are left behind", identity.consumer_id,
                        previous, self.flow)
            if self._count is not None:
                self._count("identity_renewals")
        if self._store is not None:
            self._store.save_identity(self.key, StoredIdentity(
                consumer_id=identity.consumer_id, token=identity.token,
                authenticated=identity.authenticated, external_token=identity.external_token))
        log.info("identity for consumer %s obtained (%s)", identity.consumer_id, self.flow)
        return identity

    def _post_for_token(self, path: str, body: Mapping[str, Any] | None, *,
                        query: Mapping[str, str] | None = None,
                        json_without_body: bool = False) -> str:
        """POST to the IDP; the token of the answer (``jwt`` or ``token``), retried on 5xx.

        Raises:
            IdentityRefused: the IDP answered 4xx other than 408/429 (the message carries its
                ``error``/``details``): retrying the same request cannot help.
            AuthError: the IDP answered 200 without a token.
            ConnectionClosed: the IDP stayed unreachable through the backoff's retries.
        """
        attempt = 0
        while True:
            status: int | None = None
            # Outside the try: discovery retries on its own, and its ConfigError (an unknown
            # account) is a ValueError that must not be taken for a bad answer and retried.
            url = self._discovery.url(Services.IDP, path)
            try:
                if json_without_body:  # §2.4 step 1: "JSON content type, no body"
                    response = self._http.post(url, params=query, timeout=self._timeout,
                                               headers={"Content-Type": "application/json"})
                else:
                    response = self._http.post(url, params=query, json=body,
                                               timeout=self._timeout)
                status = response.status_code
                if status == 200:
                    payload = response.json()
                    # §2.1/§2.2 answer {"jwt": ...}; the ACR0 flow (§2.4) answers {"token": ...}.
                    token = payload.get("jwt") or payload.get("token") if isinstance(
                        payload, dict) else None
                    if not isinstance(token, str) or not token:
                        raise AuthError(f"IDP {path} answered without a token", status=status)
                    return token
                error: Exception = AuthError(
                    f"IDP {path} answered HTTP {status}{_refusal(response)}", status=status)
            except ConfigError:  # CSDS refused the account (401, §1.1): retrying cannot help
                raise
            except (requests.RequestException, ValueError) as exc:
                untrusted = untrusted_certificate(exc, url, service="IDP")
                if untrusted is not None:
                    raise untrusted from exc
                error = exc
            delay = http_retry_delay(status, attempt, self._backoff)
            if delay is None:
                assert status is not None  # noqa: S101 - a network error always has a delay
                raise IdentityRefused(f"IDP refused {path}: HTTP {status}{_refusal(response)}",
                                      status=status, endpoint=path) from error
            if attempt >= self._backoff.request_retries:
                raise ConnectionClosed(f"IDP {path} unreachable: {error}") from error
            log.warning("IDP %s failed (%s); retry %d in %.3g s", path, error, attempt + 1, delay)
            if self._waiter(self._stop, delay):
                raise ConnectionClosed("client closed while talking to the IDP")
            attempt += 1


def _refusal(response: requests.Response) -> str:
    """`` unknown_connector (no connector x)``: the IDP's OAuth-style error, if it gave one."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return ""
    details = payload.get("details")
    text = payload["error"][:100]
    if isinstance(details, str) and details:
        text += f" ({details[:200]})"
    return f" {text}"
