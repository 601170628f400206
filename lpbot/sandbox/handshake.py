"""The consumer WebSocket's admission rules (protocol notes §3.1-§3.3, §8.1), free of I/O.

:func:`check_upgrade` decides an HTTP upgrade (path, version, ``Authorization: jwt``,
``Client-Properties`` header or query string); :func:`init_headers` reads InitConnection headers.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .faults import FaultState
from .inbound import BadInput, loads
from .rules import Rules
from .tokens import TokenError, TokenIssuer

__all__ = ["CONSUMER_PATH", "Refusal", "Upgrade", "check_upgrade", "init_headers"]

CONSUMER_PATH = re.compile(r"^/ws_api/account/([^/]+)/messaging/consumer/?$")


@dataclass(frozen=True, slots=True)
class Refusal:
    """An upgrade answered with an HTTP error instead of 101."""

    status: int
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Upgrade:
    """An accepted upgrade: the account, the header token's claims if any, client properties."""

    account: str
    claims: dict[str, Any] | None
    client_properties: dict[str, Any] = field(default_factory=dict)


def check_upgrade(
    path: str,
    headers: Mapping[str, str],
    tokens: TokenIssuer,
    faults: FaultState,
    rules: Rules | None = None,
) -> Upgrade | Refusal:
    """Accept or refuse one upgrade request (``rules``: strict unless given lenient ones)."""
    rules = rules if rules is not None else Rules()
    parts = urllib.parse.urlsplit(path)
    match = CONSUMER_PATH.match(parts.path)
    if match is None:
        return Refusal(404, "Not Found\n")
    query = urllib.parse.parse_qs(parts.query)
    if query.get("v", ["3"])[0] != "3":
        return Refusal(400, "Unsupported protocol version; use v=3\n")
    status = faults.take_handshake_rejection()
    if status is not None:
        return Refusal(status, "Rejected by fault injection\n")
    account = urllib.parse.unquote(match.group(1))
    refused = rules.upgrade(headers.get("Authorization"), query)
    if refused is not None:
        return Refusal(refused.code, f"{refused.message}\n")
    properties: dict[str, Any] = {}
    raw = headers.get("Client-Properties") or next(
        iter(query.get("clientProperties", query.get("ClientProperties", []))), None
    )
    if raw:
        try:
            parsed = loads(raw)
        except BadInput:
            return Refusal(400, "Client-Properties is not JSON\n")
        if isinstance(parsed, dict):
            properties = parsed
            refused = rules.client_properties(parsed)
            if refused is not None:
                return Refusal(refused.code, f"{refused.message}\n")
    if "features" in query and "features" not in properties:
        properties["features"] = query["features"][0].split(",")
    claims = None
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "jwt" or not token.strip():
            return Refusal(401, "Unauthorized: expected 'Authorization: jwt <token>'\n")
        try:
            claims = tokens.check(token.strip(), account)
        except TokenError as exc:
            return Refusal(401, f"Unauthorized: {exc}\n")
    return Upgrade(account=account, claims=claims, client_properties=properties)


def init_headers(headers: Any) -> tuple[str | None, dict[str, Any]]:
    """The JWT and client properties of InitConnection ``headers`` (a list, or one object)."""
    items = headers if isinstance(headers, list) else [headers] if headers else []
    jwt: str | None = None
    properties: dict[str, Any] = {}
    for header in items:
        if not isinstance(header, dict):
            continue
        kind = str(header.get("type", ""))
        if kind.endswith("ConsumerAuthentication") and isinstance(header.get("jwt"), str):
            jwt = header["jwt"]
        elif kind.endswith("ClientProperties"):
            properties.update(header)
    return jwt, properties
