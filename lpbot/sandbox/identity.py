"""The sandbox's identity service (IDP): every documented way a consumer gets a token (§2).

* ``POST /api/account/{acct}/signup`` (and ``signup.jsonp``): the demo identity (§2.1).
* ``POST .../authenticate`` ``{"authCode": <brand JWT>}``: the implicit flow (§2.2). The brand
  JWT is checked the documented way: RS256 against the brand's public key (a PEM file or a JWKS
  file), optionally inside a JWE encrypted with RSA-OAEP-256 to the sandbox's key; HS256 only
  when a shared key was given explicitly. Only ``iss``, ``iat`` and ``exp`` are mandatory.
* ``POST .../app/default/authenticate?v=2.0`` ``{"code", "redirect_uri"}``: the code flow (§2.3).
  The sandbox exchanges the code at the brand's OIDC token endpoint, by default one it plays
  itself (``/brand/oauth/authorize`` and ``/brand/oauth/token``).
* ``POST .../anonymous/authorize`` then ``POST .../app/{connectorId}/authenticate?v=3.0``: the
  production unauthenticated (ACR0) flow with its refresh window (§2.4).

Brand tokens are verified with PyJWT, JWE is decrypted with joserfc; both rest on cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from .faults import FaultState
from .http import HttpReply, HttpRequest, jsonp_callback
from .inbound import BadInput, loads
from .tokens import LazyRsaKey, TokenError, TokenIssuer

__all__ = [
    "ANONYMOUS_LIFETIME",
    "BRAND_ISSUER",
    "JWE_ALGORITHMS",
    "REFRESH_WINDOW",
    "IdentityOptions",
    "IdentityService",
]

#: ``iss`` of the brand tokens the sandbox mints when it plays the brand
BRAND_ISSUER: Final = "https://brand.example"
#: lifetime of an ACR0 external token: "10 minutes by default" (§2.4)
ANONYMOUS_LIFETIME: Final = 600.0
#: how long an expired ACR0 token may still be refreshed: 730 hours (current doc, §2.4, §9)
REFRESH_WINDOW: Final = 730 * 3600.0
#: the JWE key-management algorithm LivePerson documents (§2.2), with the usual content ciphers
JWE_ALGORITHMS: Final = ("RSA-OAEP-256", "A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256",
                         "A256CBC-HS512")
#: the claims a brand token must carry (§2.2)
_REQUIRED: Final = ("iss", "iat", "exp")
_ACCOUNT = r"/(?:api|csdr)/account/(?P<account>[^/]+)"


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityOptions:
    """How the sandbox's IDP checks brand tokens and how long the tokens it issues live.

    Attributes:
        brand_public_key: PEM file with the brand's RS256 public key (implicit and code flow).
        brand_jwks: JWKS file with the brand's public keys (chosen by ``kid``).
            With neither, the sandbox plays the brand with a key pair of its own
            (:meth:`IdentityService.mint_brand_token`).
        brand_hs256_key: a shared HS256 secret; HS256 brand tokens are refused without it.
        jwe_private_key: PEM file with the RSA private key brand JWEs are encrypted to; by
            default the sandbox makes one (its public half: ``Sandbox.jwe_public_key``).
        authenticated_lifetime: cap on an authenticated token's lifetime; ``None`` (the
            documented behaviour) makes its ``exp`` equal to the brand token's.
        anonymous_connector: the ACR0 connector id of ``/app/{connectorId}/authenticate``.
        anonymous_lifetime: seconds an ACR0 external token lives (10 minutes).
        refresh_window: seconds after its ``exp`` an ACR0 token may still be refreshed.
        oidc_token_url: the brand's OIDC token endpoint for the code flow; ``None`` uses the
            one the sandbox plays at ``/brand/oauth/token``.
        oidc_client_id: the client id LivePerson presents there (HTTP Basic).
        oidc_client_secret: its secret; the sandbox makes one when it plays the endpoint.
    """

    brand_public_key: str | Path | None = None
    brand_jwks: str | Path | None = None
    brand_hs256_key: str | None = None
    jwe_private_key: str | Path | None = None
    authenticated_lifetime: float | None = None
    anonymous_connector: str = "acr0"
    anonymous_lifetime: float = ANONYMOUS_LIFETIME
    refresh_window: float = REFRESH_WINDOW
    oidc_token_url: str | None = None
    oidc_client_id: str = "liveperson"
    oidc_client_secret: str | None = None

    def __post_init__(self) -> None:
        if self.brand_public_key is not None and self.brand_jwks is not None:
            raise ValueError("give brand_public_key or brand_jwks, not both")
        for name in ("anonymous_lifetime", "refresh_window"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.brand_hs256_key is not None and len(self.brand_hs256_key.encode()) < 32:
            raise ValueError("brand_hs256_key needs at least 32 bytes (RFC 7518 §3.2)")
        if self.authenticated_lifetime is not None and self.authenticated_lifetime <= 0:
            raise ValueError("authenticated_lifetime must be positive")


class _Refusal(Exception):
    """An identity request refused with ``status`` and an OAuth-style ``error`` body."""

    def __init__(self, status: int, error: str, details: str = "") -> None:
        super().__init__(details or error)
        self.reply = HttpReply.json(status, {"error": error, **({"details": details}
                                                                if details else {})})


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _load_public(path: str | Path) -> rsa.RSAPublicKey:
    """The brand's RS256 public key from a PEM file; ValueError if it is not one."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path}: not an RSA public key (RS256 needs one)")
    return key


def _load_jwks(path: str | Path) -> jwt.PyJWKSet:
    """The brand's public keys from a JWKS file; ValueError if it is not one."""
    try:
        return jwt.PyJWKSet.from_json(Path(path).read_text(encoding="utf-8"))
    except (jwt.PyJWTError, ValueError) as exc:  # ValueError: not JSON
        raise ValueError(f"{path}: not a usable JWKS: {exc}") from exc


def _load_private(path: str | Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (TypeError, ValueError) as exc:  # not PEM, or encrypted with a password
        raise ValueError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


class IdentityService:
    """The IDP routes of one sandbox and the brand side it plays for tests.

    Args:
        tokens: issues and checks the sandbox's consumer tokens.
        options: brand keys, lifetimes, connector and OIDC settings.
        base_url: the sandbox's own ``scheme://host:port`` (for its OIDC endpoint).
        ca_file: the CA to trust when calling an ``https`` token endpoint (``None``: system's).
        faults: what tests broke on purpose (IDP failures, revoked connectors, refused codes).
    """

    def __init__(
        self,
        *,
        tokens: TokenIssuer,
        options: IdentityOptions,
        base_url: Callable[[], str],
        ca_file: Callable[[], str | None],
        faults: FaultState | None = None,
    ) -> None:
        self.tokens = tokens
        self._faults = faults if faults is not None else FaultState()
        self.options = options
        self._base_url = base_url
        self._ca_file = ca_file
        self._brand_key = LazyRsaKey()  # the brand the sandbox plays (no key configured)
        self._brand_kid = uuid.uuid4().hex[:12]
        self._jwe_key = LazyRsaKey()
        self._jwe_configured = (_load_private(options.jwe_private_key)
                                if options.jwe_private_key is not None else None)
        self._brand_public = (_load_public(options.brand_public_key)
                              if options.brand_public_key is not None else None)
        self._jwks = (_load_jwks(options.brand_jwks)
                      if options.brand_jwks is not None else None)
        self.client_secret = options.oidc_client_secret or secrets.token_urlsafe(24)
        #: the wall clock ACR0 tokens are issued and their refresh window judged by (tests
        #: turn it back to make a token that expired long ago)
        self.clock: Callable[[], float] = time.time
        #: signs the ACR0 external tokens: its own ``kid``, so the WebSocket never accepts them
        self._acr0 = TokenIssuer(lifetime=options.anonymous_lifetime, clock=lambda: self.clock())
        self._codes: dict[str, tuple[str, float]] = {}  # code -> (id_token, expiry)
        self._lock = threading.Lock()

    # -- routes -----------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, Callable[[HttpRequest], HttpReply]]]:
        """(method, path pattern, route) of every identity endpoint."""
        return [
            ("POST", _ACCOUNT + r"/signup", self._idp(self._signup)),
            ("GET", _ACCOUNT + r"/signup\.jsonp", self._idp(self._signup)),
            ("POST", _ACCOUNT + r"/authenticate", self._idp(self._implicit)),
            ("POST", _ACCOUNT + r"/anonymous/authorize", self._idp(self._anonymous)),
            ("POST", _ACCOUNT + r"/app/(?P<connector>[^/]+)/authenticate",
             self._idp(self._app_authenticate)),
            ("GET", r"/brand/oauth/authorize", self._oidc_authorize),
            ("POST", r"/brand/oauth/token", self._guard(self._oidc_token)),
        ]

    def _idp(self, route: Callable[[HttpRequest], HttpReply]) -> Callable[[HttpRequest], HttpReply]:
        """A route of LivePerson's IDP: refusals answered, injected failures first."""
        guarded = self._guard(route)

        def idp(request: HttpRequest) -> HttpReply:
            status = self._faults.take_idp_failure()
            if status is not None:
                return HttpReply.json(status, {"error": "temporarily_unavailable"})
            return guarded(request)

        return idp

    @staticmethod
    def _guard(route: Callable[[HttpRequest], HttpReply]) -> Callable[[HttpRequest], HttpReply]:
        def guarded(request: HttpRequest) -> HttpReply:
            try:
                return route(request)
            except _Refusal as refusal:
                return refusal.reply

        return guarded

    def _signup(self, request: HttpRequest) -> HttpReply:
        token = self.tokens.issue(request.match["account"])
        return HttpReply.json(200, {"jwt": token}, callback=jsonp_callback(request.query))

    # -- implicit flow (§2.2) ---------------------------------------------------------------

    def _implicit(self, request: HttpRequest) -> HttpReply:
        body = _json_body(request)
        code = body.get("authCode")
        if not isinstance(code, str) or not code:
            raise _Refusal(400, "invalid_request", "authCode is required")
        brand = self._verify_brand_token(code, status=401)
        return HttpReply.json(200, {"jwt": self._authenticated(request.match["account"], brand,
                                                               code)})

    def _verify_brand_token(self, token: str, *, status: int = 401) -> dict[str, Any]:
        """The claims of a valid brand token (JWE or JWS), else a refusal with ``status``."""
        if token.count(".") == 4:
            token = self._decrypt(token, status)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _Refusal(status, "unauthorized_client", f"not a JWT: {exc}") from exc
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            if self.options.brand_hs256_key is None:
                raise _Refusal(status, "unauthorized_client",
                               "HS256 brand tokens are not enabled; sign with RS256")
            key = self.options.brand_hs256_key.encode()
        elif algorithm == "RS256":
            key = self._rs256_key(header.get("kid"), status)
        else:
            raise _Refusal(status, "unauthorized_client", f"unsupported algorithm {algorithm!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm],
                options={"require": list(_REQUIRED), "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise _Refusal(status, "unauthorized_client", str(exc)) from exc
        if not isinstance(claims["iss"], str) or not claims["iss"]:
            raise _Refusal(status, "unauthorized_client", "iss must be a non-empty string")
        return claims

    def _rs256_key(self, kid: Any, status: int) -> Any:
        if self._brand_public is not None:
            return self._brand_public
        if self._jwks is not None:
            keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
            if len(keys) != 1:
                raise _Refusal(status, "unauthorized_client", f"no single JWKS key for kid {kid}")
            return keys[0]
        if kid != self._brand_kid:
            raise _Refusal(status, "unauthorized_client", "signed with an unknown key")
        return self._brand_key.get().public_key()

    def _decrypt(self, token: str, status: int) -> str:
        key = RSAKey.import_key(self.jwe_private_key())
        try:
            plain = jwe.decrypt_compact(token, key, algorithms=list(JWE_ALGORITHMS)).plaintext
        except (JoseError, ValueError) as exc:  # joserfc raises ValueError for bad sizes, base64
            raise _Refusal(status, "unauthorized_client", f"JWE: {exc}") from exc
        if plain is None:
            raise _Refusal(status, "unauthorized_client", "empty JWE")
        return plain.decode("utf-8", "replace")

    def _authenticated(self, account: str, brand: Mapping[str, Any], token: str) -> str:
        """An LP token for a verified brand identity (§2.2: ``exp`` equals the brand's)."""
        identity = brand.get("sub") if isinstance(brand.get("sub"), str) else None
        # Without ``sub`` each brand token is its own consumer (docs/sandbox-production.md).
        anchor = identity or hashlib.sha256(token.encode()).hexdigest()
        subject = hashlib.sha256(f"{account}\n{brand['iss']}\n{anchor}".encode()).hexdigest()
        ext: dict[str, Any] = {"iss": brand["iss"]}
        if identity is not None:
            ext["sub"] = identity
        if "lp_sdes" in brand:
            ext["lp_sdes"] = hashlib.sha1(  # noqa: S324 - an opaque reference, as LivePerson's
                json.dumps(brand["lp_sdes"], sort_keys=True).encode()
            ).hexdigest()
        exp = int(brand["exp"])
        if self.options.authenticated_lifetime is not None:
            exp = min(exp, int(time.time() + self.options.authenticated_lifetime))
        return self.tokens.issue(account, subject=subject, extra={"lp.ext": ext}, exp=exp)

    # -- code flow (§2.3) -------------------------------------------------------------------

    def _app_authenticate(self, request: HttpRequest) -> HttpReply:
        connector = urllib.parse.unquote(request.match["connector"])
        version = request.query.get("v")
        if connector == "default":
            if version != "2.0":
                raise _Refusal(400, "invalid_request", "the code flow needs v=2.0")
            return self._code_flow(request)
        if connector != self.options.anonymous_connector:
            raise _Refusal(404, "unknown_connector", f"no connector {connector}")
        if self._faults.connector_revoked(connector):
            raise _Refusal(403, "unauthorized_client", f"connector {connector} is disabled")
        if version != "3.0":
            raise _Refusal(400, "invalid_request", "the ACR0 connector needs v=3.0")
        return self._anonymous_authenticate(request)

    def _code_flow(self, request: HttpRequest) -> HttpReply:
        body = _json_body(request)
        code = body.get("code")
        redirect_uri = body.get("redirect_uri", "https://liveperson.net")
        if not isinstance(code, str) or not code or not isinstance(redirect_uri, str):
            raise _Refusal(400, "invalid_code", "code (and a string redirect_uri) required")
        url = self.options.oidc_token_url or f"{self._base_url()}/brand/oauth/token"
        try:
            reply = requests.post(
                url,
                data={"grant_type": "authorization_code", "code": code,
                      "redirect_uri": redirect_uri},
                auth=(self.options.oidc_client_id, self.client_secret),
                timeout=5,
                verify=self._ca_file() or True,
            )
        except requests.RequestException as exc:
            raise _Refusal(502, "token_endpoint_unreachable", type(exc).__name__) from exc
        if reply.status_code in (401, 403):
            raise _Refusal(400, "unauthorized_client", "the token endpoint refused the client")
        if reply.status_code != 200:
            raise _Refusal(400, "invalid_code", f"the token endpoint answered {reply.status_code}")
        try:
            answer = reply.json()
        except ValueError as exc:
            raise _Refusal(400, "json_parse_error", "the token endpoint's answer") from exc
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise _Refusal(400, "json_parse_error", "no id_token in the token endpoint's answer")
        brand = self._verify_brand_token(id_token, status=400)
        account = request.match["account"]
        return HttpReply.json(200, {"jwt": self._authenticated(account, brand, id_token)})

    def mint_auth_code(self, id_token: str, *, lifetime: float = 60.0) -> str:
        """A one-time code the played token endpoint exchanges for ``id_token``."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            now = time.monotonic()
            self._codes = {k: v for k, v in self._codes.items() if v[1] > now}
            self._codes[code] = (id_token, now + lifetime)
        return code

    def _oidc_authorize(self, request: HttpRequest) -> HttpReply:
        """The brand's login page, reduced to a redirect: ``login_hint`` is the user."""
        if not self.plays_brand:
            return HttpReply.json(404, {"error": "not_found",
                                        "details": "the brand's key is configured: log in there"})
        redirect = request.query.get("redirect_uri", "")
        if request.query.get("response_type") != "code" or not redirect.startswith(
                ("https://", "http://")):
            return HttpReply.json(400, {"error": "invalid_request"})
        code = self.mint_auth_code(self.mint_brand_token(request.query.get("login_hint", "user")))
        query = {"code": code, **({"state": request.query["state"]}
                                  if "state" in request.query else {})}
        separator = "&" if "?" in redirect else "?"
        location = f"{redirect}{separator}{urllib.parse.urlencode(query)}"
        return HttpReply(status=302, body=b"", content_type="text/plain",
                         headers={"Location": location})

    def _oidc_token(self, request: HttpRequest) -> HttpReply:
        """The brand's OIDC token endpoint (§2.3): Basic client auth, one-time codes."""
        if not self._client_ok(request.headers.get("Authorization", "")):
            raise _Refusal(401, "invalid_client")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(request.body.decode("utf-8",
                                                                               "replace")).items()}
        if form.get("grant_type") != "authorization_code":
            raise _Refusal(400, "unsupported_grant_type")
        with self._lock:
            found = self._codes.pop(form.get("code", ""), None)
        if self._faults.take_code_refusal():
            raise _Refusal(400, "invalid_grant", "the code was refused")
        if found is None or found[1] <= time.monotonic():
            raise _Refusal(400, "invalid_grant", "unknown, used or expired code")
        return HttpReply.json(200, {"access_token": secrets.token_urlsafe(16),
                                    "token_type": "Bearer", "id_token": found[0]})

    def _client_ok(self, authorization: str) -> bool:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(f"{user}:{password}",
                                      f"{self.options.oidc_client_id}:{self.client_secret}")

    # -- anonymous (ACR0) flow (§2.4) -------------------------------------------------------

    def _anonymous(self, request: HttpRequest) -> HttpReply:
        account = request.match["account"]
        if not _is_json(request):
            raise _Refusal(415, "unsupported_media_type", "send Content-Type: application/json")
        body = _json_body(request) if request.body.strip() else {}
        previous = body.get("id_token")
        if previous is None:
            return HttpReply.json(200, {"token": self._anonymous_token(account)})
        if not isinstance(previous, str):
            raise _Refusal(400, "invalid_request", "id_token must be a string")
        claims = self._check_anonymous(previous, account, allow_expired=True)
        if float(claims["exp"]) + self.options.refresh_window <= self.clock():
            raise _Refusal(401, "unauthorized_client", "the refresh window has passed")
        return HttpReply.json(200, {"token": self._anonymous_token(account, claims["sub"])})

    def _anonymous_token(self, account: str, subject: str | None = None) -> str:
        return self._acr0.issue(account, subject=subject)

    def _check_anonymous(self, token: str, account: str, *, allow_expired: bool) -> dict[str, Any]:
        try:
            return self._acr0.check(token, account, verify_exp=not allow_expired)
        except TokenError as exc:
            raise _Refusal(401, "unauthorized_client", str(exc)) from exc

    def _anonymous_authenticate(self, request: HttpRequest) -> HttpReply:
        account = request.match["account"]
        body = _json_body(request)
        id_token = body.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise _Refusal(400, "invalid_request", "id_token is required")
        external = self._check_anonymous(id_token, account, allow_expired=False)
        subject = hashlib.sha256(f"{account}\nacr0\n{external['sub']}".encode()).hexdigest()
        token = self.tokens.issue(account, subject=subject, exp=int(external["exp"]))
        return HttpReply.json(200, {"token": token})

    # -- the brand side, for tests ----------------------------------------------------------

    def mint_brand_token(self, subject: str | None, *, lifetime: float = 3600.0,
                         claims: Mapping[str, Any] | None = None, encrypt: bool = False) -> str:
        """A brand JWT the sandbox accepts: RS256 with its own brand key, or HS256 if set.

        ``encrypt`` wraps it in a JWE (RSA-OAEP-256, A256GCM) to the sandbox's JWE key.
        Raises ValueError when the sandbox verifies with a configured public key (it cannot
        sign for the brand then).
        """
        now = int(time.time())
        payload: dict[str, Any] = {"iss": BRAND_ISSUER, "iat": now, "exp": int(now + lifetime)}
        if subject is not None:
            payload["sub"] = subject
        payload.update(claims or {})
        if self.options.brand_hs256_key is not None:
            token = jwt.encode(payload, self.options.brand_hs256_key.encode(), algorithm="HS256")
        elif self.plays_brand:
            token = jwt.encode(payload, self._brand_key.get(), algorithm="RS256",
                               headers={"kid": self._brand_kid})
        else:
            raise ValueError("the brand's key is configured: sign with the brand's private key")
        return self.encrypt(token) if encrypt else token

    @property
    def plays_brand(self) -> bool:
        """True when no brand key is configured: the sandbox signs brand tokens itself."""
        return self._brand_public is None and self._jwks is None

    def encrypt(self, token: str) -> str:
        """Wrap ``token`` in a compact JWE to the sandbox's key, as a brand does (§2.2)."""
        public = RSAKey.import_key(self.jwe_public_key())
        header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}
        return jwe.encrypt_compact(header, token.encode(), public, algorithms=list(JWE_ALGORITHMS))

    def jwe_private_key(self) -> str:
        """PEM of the private key brand JWEs are decrypted with."""
        key = self._jwe_configured or self._jwe_key.get()
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    def jwe_public_key(self) -> str:
        """PEM of the public key a brand encrypts its JWTs to (RSA-OAEP-256)."""
        return _public_pem(self._jwe_configured or self._jwe_key.get())

    def brand_public_key(self) -> str:
        """PEM of the played brand's RS256 public key (what a brand gives LivePerson)."""
        return _public_pem(self._brand_key.get())


def _is_json(request: HttpRequest) -> bool:
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    return content_type.split(";")[0].strip().lower() == "application/json"


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = loads(request.body or b"{}")  # nothing the sandbox could not send back
    except BadInput as exc:
        raise _Refusal(400, "json_parse_error", "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise _Refusal(400, "json_parse_error", "the body is not a JSON object")
    return body
