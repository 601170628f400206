"""The client's configuration and the values it reports: options, states, counters.

All frozen values (house style §3.7). ``repr`` of :class:`ClientOptions` never shows a secret:
token providers hide their tokens in their own ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Literal

from lpbot.client.backoff import Backoff
from lpbot.client.discovery import DEFAULT_CSDS_DOMAIN
from lpbot.client.identity import DEFAULT_REDIRECT_URI, Flow, TokenProvider
from lpbot.errors import ConfigError

__all__ = [
    "DEFAULT_CLIENT_PROPERTIES",
    "ClientOptions",
    "ClientStats",
    "ConnectionState",
    "StateChange",
]

#: Client-Properties sent by default (protocol notes §7.8): a server-side bot that renders
#: structured content and quick replies.
DEFAULT_CLIENT_PROPERTIES: Final[Mapping[str, Any]] = MappingProxyType({
    "appId": "lpbot",
    "deviceFamily": "OTHER",
    "os": "OTHER",
    "integration": "BRAND_SDK",
    "features": ["RICH_CONTENT", "QUICK_REPLIES", "AUTO_MESSAGES"],
})


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """How a :class:`~lpbot.client.Client` finds, authenticates and keeps its connection.

    Attributes:
        account: the LivePerson account (brand / site) id.
        csds_domain: the Domain API host (protocol notes §1); the sandbox's ``csds_domain``.
        tls: ``wss``/``https`` with verified certificates; ``False`` only for a local sandbox.
        ca_file: extra CA bundle to verify the servers with (default: the system's).
        token_provider: brand tokens for the implicit flow (§2.2). With none of
            ``token_provider``, ``code_provider`` and ``connector_id``, the consumer signs up
            (§2.1, LivePerson's demo identity).
        code_provider: OAuth codes for the code flow (§2.3), a new one on every call.
        connector_id: the ACR0 connector of the production unauthenticated flow (§2.4).
        redirect_uri: the ``redirect_uri`` sent with each code (code flow).
        identity_name: the key of the persisted identity in the state directory, so several
            bots can share one directory.
        auth_mode: ``"header"`` sends ``Authorization: jwt`` at the upgrade (§3.2); ``"init"``
            sends ``InitConnection`` first (§3.3).
        client_properties: the Client-Properties (§7.8); ``None`` sends none.
        connect_timeout: seconds for one TCP + TLS + WebSocket handshake.
        request_timeout: default seconds to wait for a response (RequestTimeout after).
        keepalive_interval: seconds between WS ping + ``GetClock`` (§3.4: every 30 s).
        refresh_ahead: an authenticated token expiring within this many seconds is refreshed
            and the socket re-opened with it before the server closes it (4401); a token
            that lives less than twice as long is refreshed at half its lifetime instead
            (from ``iat``, else from when it was obtained), so it is not refreshed on every
            keepalive tick.
        backoff: the retry policy (§3.5); tests pass ``Backoff.immediate()`` or a scaled one.
        auto_commit: persist each event's sequence right after ``on_message`` returns; the
            runtime turns it off and calls ``Client.commit`` after its hooks ran.
        auto_follow: subscribe to every open dialog of the consumer (a bot wants all); when
            off, only conversations opened through :meth:`Client.open_conversation` or
            ``Conversation.subscribe`` deliver events.
        csds_ttl: seconds the CSDS answer is cached (§1.1).
        closed_retention: seconds a closed conversation (every dialog closed) is kept in
            memory with its dialogs and handle, so late events (a CSAT change, a survey) still
            find them; then the client forgets it, checked on each keepalive tick. Its last
            sequences stay remembered, so forgetting never re-delivers an event.
    """

    account: str
    csds_domain: str = DEFAULT_CSDS_DOMAIN
    tls: bool = True
    ca_file: str | None = None
    token_provider: TokenProvider | None = None
    code_provider: TokenProvider | None = None
    connector_id: str | None = None
    redirect_uri: str = DEFAULT_REDIRECT_URI
    identity_name: str = "default"
    auth_mode: Literal["header", "init"] = "header"
    client_properties: Mapping[str, Any] | None = field(
        default_factory=lambda: DEFAULT_CLIENT_PROPERTIES, hash=False)
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    keepalive_interval: float = 30.0
    refresh_ahead: float = 300.0
    backoff: Backoff = field(default_factory=Backoff)
    auto_commit: bool = True
    auto_follow: bool = True
    csds_ttl: float = 60.0
    closed_retention: float = 300.0

    @property
    def flow(self) -> Flow:
        """The identity flow these options select (protocol notes §2)."""
        if self.token_provider is not None:
            return Flow.IMPLICIT
        if self.code_provider is not None:
            return Flow.CODE
        return Flow.ANONYMOUS if self.connector_id is not None else Flow.SIGNUP

    def __post_init__(self) -> None:
        if not self.account:
            raise ConfigError("account is required", key="account")
        flows = [name for name in ("token_provider", "code_provider", "connector_id")
                 if getattr(self, name) is not None]
        if len(flows) > 1:
            raise ConfigError(f"give at most one of {' and '.join(flows)}", key=flows[1])
        if self.connector_id is not None and not self.connector_id.strip("/ "):
            raise ConfigError("connector_id is empty", key="connector_id")
        if self.auth_mode not in ("header", "init"):
            raise ConfigError(f"auth_mode must be 'header' or 'init', not {self.auth_mode!r}",
                              key="auth_mode")
        for name in ("connect_timeout", "request_timeout", "keepalive_interval"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive", key=name)
        if self.closed_retention < 0:
            raise ConfigError("closed_retention must not be negative", key="closed_retention")


class ConnectionState(StrEnum):
    """Where the client's connection is; every change is reported as a :class:`StateChange`."""

    CONNECTING = "connecting"        # discovery, identity, handshake, subscriptions
    CONNECTED = "connected"          # subscribed and resumed: events flow
    DISCONNECTED = "disconnected"    # the socket ended; ``reason`` says why
    RECONNECTING = "reconnecting"    # waiting ``delay`` seconds before the next attempt
    FAILED = "failed"                # retrying cannot help (``error`` says why); stopped
    CLOSED = "closed"                # close() was called; every thread has ended


@dataclass(frozen=True, slots=True, kw_only=True)
class StateChange:
    """One connection state change, for the runtime's hooks (``on_state``).

    Attributes:
        state: the new state.
        reason: a human-readable cause ("closed by server: 4401 token expired" ...).
        consumer_id: the consumer the connection belongs to.
        code: the WebSocket close code, when the socket was closed with one.
        http_status: the HTTP status of a refused handshake.
        delay: for RECONNECTING, the seconds waited before the next attempt.
        attempt: for RECONNECTING, the consecutive failed attempts so far (1-based).
        recovery: what the client does about it (``refresh-token``, ``backoff`` ...).
        error: the exception behind the change, if any.
    """

    state: ConnectionState
    reason: str = ""
    consumer_id: str | None = None
    code: int | None = None
    http_status: int | None = None
    delay: float | None = None
    attempt: int = 0
    recovery: str | None = None
    error: BaseException | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStats:
    """Counters since the client was created (``Client.stats``), a snapshot.

    The ``retained_*`` values are not counters but what the client holds in memory now: known
    conversations, followed dialogs and conversation handles (bounded by ``closed_retention``).
    """

    connects: int = 0
    disconnects: int = 0
    frames: int = 0
    malformed_frames: int = 0
    unknown_notifications: int = 0
    unknown_events: int = 0
    delivered: int = 0
    duplicates: int = 0
    gaps: int = 0
    resyncs: int = 0
    callback_errors: int = 0
    requests: int = 0
    keepalives: int = 0
    #: keepalive ticks that found the socket unable to take a frame (the socket was re-opened)
    keepalive_stalls: int = 0
    request_retries: int = 0
    request_timeouts: int = 0
    token_refreshes: int = 0
    #: times the consumer id changed (a signup identity expired, an ACR0 one past its window)
    identity_renewals: int = 0
    #: times the IDP refused the identity for good (the client then stops: ``FAILED``)
    identity_refusals: int = 0
    forgotten_dialogs: int = 0
    #: events of unsubscribed or forgotten conversations the server still sent, not delivered
    dropped_events: int = 0
    #: conversation changes of unsubscribed or forgotten conversations, not delivered
    dropped_changes: int = 0
    retry_delays: tuple[float, ...] = ()
    retained_conversations: int = 0
    retained_dialogs: int = 0
    retained_handles: int = 0
