"""A local server that speaks LivePerson's consumer messaging protocol: the sandbox.

``Sandbox`` serves domain lookup, identity, agent profiles and files over HTTP and the consumer
WebSocket, with simulated agents and fault injection, all on 127.0.0.1 by default::

    with Sandbox() as sandbox:
        print(sandbox.csds_url)

``Sandbox(tls=True)`` serves all of it over ``https``/``wss`` with a certificate of a throw-away
CA whose file is ``sandbox.ca_file``. Its identity service speaks every documented flow
(:mod:`lpbot.sandbox.identity`).

It imports nothing of lpbot but :mod:`lpbot.protocol.names`, :mod:`lpbot.wakeup` and
:mod:`lpbot.httpserver`: its JSON handling is its own.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import remote
from .agents import AgentOptions, AgentPool, AgentProfile
from .console import Console
from .control import AgentControl
from .faults import Faults, FaultState
from .files import FileStore
from .flow import Flow, FlowAgent, FlowError, FlowSurvey, load_flow
from .handlers import Handlers
from .http import HttpReply, HttpRequest, HttpServer, Route
from .identity import IdentityOptions, IdentityService
from .invitations import Invitations
from .records import (
    ConversationRecord,
    CsatSubmission,
    DialogRecord,
    RecordedEvent,
    SocketSubscriptions,
)
from .rules import Rules
from .survey import SurveyBot
from .tls import SandboxCertificates
from .tokens import SIGNUP_LIFETIME, TokenIssuer
from .variants import WireVariants
from .world import World
from .ws import WsServer

__all__ = [
    "AgentControl",
    "AgentOptions",
    "AgentProfile",
    "ConversationRecord",
    "CsatSubmission",
    "DialogRecord",
    "Faults",
    "Flow",
    "FlowError",
    "IdentityOptions",
    "RecordedEvent",
    "Sandbox",
    "SocketSubscriptions",
    "load_flow",
]

log = logging.getLogger(__name__)


class Sandbox:
    """A LivePerson-compatible consumer messaging server on local ports (a context manager).

    Args:
        account: the account it serves; ``accounts`` names more. Domain lookups (CSDS) of
            any other account answer 401, as LivePerson's do (§1.1).
        token_lifetime: seconds a signup token lives (documented: about 13 years).
        brand_key: a shared HS256 key for brand tokens. HS256 is refused unless given:
            LivePerson documents RS256 (see ``identity``).
        identity: brand keys, JWE key, token lifetimes, ACR0 connector and OIDC settings.
        tls: serve ``https`` and ``wss`` with a certificate of a CA made at start; clients
            trust ``ca_file``.
        ca_path: where to write that CA's certificate (default: a temporary file removed
            at stop).
        rate_limit: requests per second per socket (off by default); requests beyond it
            are answered with 429, as LivePerson documents for too many concurrent requests.
        lenient: turn off the documented rules (:mod:`lpbot.sandbox.rules`,
            docs/sandbox-rules.md) that refuse what LivePerson's documentation rules out: strict by
            default.
        wire_variants: ``canonical``, ``legacy`` or ``random``: how each connection's documented
            spellings and shapes are chosen (:mod:`lpbot.sandbox.variants`).
        seed: the seed of ``random`` (default: ``LPBOT_WIRE_SEED`` or a fresh one, logged and
            kept in :attr:`seed`).
        invitation_lifetime: seconds before an agent's CoBrowse, voice or video invitation
            (``agents.invite``) closes unless answered (two minutes, as documented).
        closed_retention: seconds a closed conversation is kept, then forgotten (None, the
            default: kept for ever), so a sandbox that runs for days keeps its memory flat.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ws_port: int = 0,
        account: str = "sandbox",
        agents: AgentOptions = AgentOptions(),  # noqa: B008 - frozen, shared safely
        token_lifetime: float = SIGNUP_LIFETIME,
        brand_key: str | None = None,
        identity: IdentityOptions = IdentityOptions(),  # noqa: B008 - frozen, shared safely
        idle_timeout: float = 60.0,
        init_timeout: float = 5.0,
        rate_limit: float | None = None,
        tls: bool = False,
        ca_path: str | Path | None = None,
        accounts: Collection[str] = (),
        lenient: bool = False,
        wire_variants: str = "random",
        seed: int | None = None,
        invitation_lifetime: float = 120.0,
        closed_retention: float | None = None,
    ) -> None:
        self.account = account
        self.accounts = frozenset((account, *accounts))
        self.lenient = lenient
        self._variants = WireVariants(wire_variants, seed)
        rules = Rules(lenient=lenient)
        self.host = host
        self.tls = tls
        self.agent_options = agents
        self._world = World(closed_retention=closed_retention)
        self._tokens = TokenIssuer(lifetime=token_lifetime)
        if brand_key is not None:
            identity = replace(identity, brand_hs256_key=brand_key)
        self._fault_state = FaultState()
        self.identity = IdentityService(
            tokens=self._tokens, options=identity, base_url=lambda: self.http_url,
            ca_file=lambda: self.ca_file, faults=self._fault_state)
        self._ca_path = ca_path
        self._certificates: SandboxCertificates | None = None
        self._files = FileStore()
        self._ws = WsServer(
            world=self._world,
            handlers=Handlers(self._world, self._files, rules),
            tokens=self._tokens,
            faults=self._fault_state,
            host=host,
            port=ws_port,
            idle_timeout=idle_timeout,
            init_timeout=init_timeout,
            rate_limit=rate_limit,
            variants=self._variants,
        )
        self._pool = AgentPool(
            self._world, agents, picture_base=lambda: self.http_url, strict=not lenient
        )
        self._invitations = Invitations(
            self._world, strict=not lenient, lifetime=invitation_lifetime
        )
        flow = agents.flow
        self._survey = SurveyBot(self._world) if flow is None or not flow.survey \
            else FlowSurvey(self._world, flow)
        if flow is not None:
            self._pool.bot = FlowAgent(flow, self._pool, self._files)
        self.console = Console(world=self._world, pool=self._pool, run_on_loop=self._ws.call)
        self._http_port = port
        self._http: HttpServer | None = None
        self.agents = AgentControl(self._pool, self._ws, self._invitations)
        self.faults = Faults(self._fault_state, self._ws, self._tokens,
                             connector=identity.anonymous_connector)
        self._state_lock = threading.Lock()
        self._started = False
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind both listeners and start their threads; returns self."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError("a stopped Sandbox cannot be restarted; make a new one")
            if self._started:
                return self
            self._started = True
        context = None
        if self.tls:
            self._certificates = SandboxCertificates(self.host, self._ca_path)
            context = self._certificates.server_context()
            self._ws.ssl_context = context
        self._http = HttpServer(
            host=self.host,
            port=self._http_port,
            files=self._files,
            profiles=self._profile_json,
            ws_port=lambda: self._ws.port,
            accounts=self.accounts.__contains__,
            ssl_context=context,
        )
        for method, pattern, route in self.identity.routes():
            self._http.add_route(method, pattern, route)
        self._http.add_route("GET", r"/agents/(?P<agent>[^/]+)\.svg", self._picture)
        self.console.mount(functools.partial(self._http.add_route, local=True))
        remote.install(self)
        try:
            self._ws.start()
            self._world.defer = self._ws.loop.call_soon
            self._pool.loop = self._ws.loop
            self._invitations.loop = self._ws.loop
            self._http.start()
        except BaseException:
            self.stop()
            raise
        log.info("sandbox serving %s (WebSocket port %d)", self.csds_url, self._ws.port)
        log.info("sandbox rules %s; wire variants %s",
                 "lenient" if self.lenient else "strict", self.variants_description)
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Close every connection and join every thread within about ``timeout`` seconds.

        Returns True when every thread of the sandbox ended (False: one is still busy, named in
        a warning). Safe to call more than once (later calls return True).
        """
        with self._state_lock:
            if self._stopped:
                return True
            self._stopped = True
        deadline = time.monotonic() + timeout
        self.console.stop()
        clean = True
        if self._http is not None:
            clean = self._http.stop(max(0.5, timeout / 2))
        clean = self._ws.stop(max(0.5, deadline - time.monotonic())) and clean
        if self._certificates is not None:
            self._certificates.cleanup()
        return clean

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- strictness and variants -------------------------------------------------------------

    @property
    def wire_variants(self) -> str:
        """``canonical``, ``legacy`` or ``random``: how connections' wire styles are chosen."""
        return self._variants.mode

    @property
    def seed(self) -> int:
        """The seed of ``random`` wire variants: the same seed replays the same choices."""
        return self._variants.seed

    @property
    def variants_description(self) -> str:
        """``random (seed N)``, ``canonical`` or ``legacy``: for logs and reports."""
        mode = self._variants.mode
        return f"{mode} (seed {self.seed})" if mode == "random" else mode

    # -- addresses --------------------------------------------------------------------------

    def _require_http(self) -> HttpServer:
        if self._http is None:
            raise RuntimeError("the sandbox is not started")
        return self._http

    @property
    def http_port(self) -> int:
        """The HTTP listener's port."""
        return self._require_http().port

    @property
    def ws_port(self) -> int:
        """The WebSocket listener's port."""
        self._require_http()
        return self._ws.port

    @property
    def ca_file(self) -> str | None:
        """The CA certificate (PEM) clients trust to reach a TLS sandbox; None without TLS."""
        return str(self._certificates.ca_file) if self._certificates is not None else None

    @property
    def http_url(self) -> str:
        """``http(s)://HOST:PORT``: CSDS, IDP, agent profiles, files."""
        http = self._require_http()
        return f"{'https' if self.tls else 'http'}://{http.advertised_host}:{http.port}"

    @property
    def csds_domain(self) -> str:
        """What a client configures as its CSDS domain (``HOST:PORT``)."""
        http = self._require_http()
        return f"{http.advertised_host}:{http.port}"

    @property
    def csds_url(self) -> str:
        """The all-services domain-lookup URL of the account."""
        return f"{self.http_url}/api/account/{self.account}/service/baseURI.json?version=1.0"

    @property
    def ws_url(self) -> str:
        """The consumer WebSocket URL of the account."""
        http = self._require_http()
        return (
            f"{'wss' if self.tls else 'ws'}://{http.advertised_host}:{self._ws.port}"
            f"/ws_api/account/{self.account}/messaging/consumer?v=3"
        )

    def add_route(self, method: str, pattern: str, route: Route, *, local: bool = False) -> None:
        """Serve more HTTP pages (such as an agent console) on the sandbox's HTTP port.

        ``local=True`` refuses cross-site and DNS-rebinding requests (pages that act for the
        sandbox's operator).
        """
        self._require_http().add_route(method, pattern, route, local=local)

    @property
    def connection_count(self) -> int:
        """How many consumer WebSockets are open right now."""
        return self._ws.call(lambda: len(self._ws.connections))

    # -- identity ---------------------------------------------------------------------------

    def signup(self, account: str | None = None) -> str:
        """Issue an unauthenticated consumer token, as ``POST /signup`` does."""
        return self._tokens.issue(account or self.account)

    def mint_brand_token(
        self,
        subject: str | None,
        *,
        lifetime: float = 3600.0,
        claims: dict[str, Any] | None = None,
        encrypt: bool = False,
    ) -> str:
        """An external (brand) JWT to exchange at ``/authenticate`` (the implicit flow, §2.2).

        Signed RS256 with the brand key the sandbox plays (HS256 with ``brand_key`` if one was
        given); ``encrypt`` wraps it in a JWE (RSA-OAEP-256) to :attr:`jwe_public_key`.
        """
        return self.identity.mint_brand_token(subject, lifetime=lifetime, claims=claims,
                                              encrypt=encrypt)

    def mint_auth_code(self, subject: str, *, lifetime: float = 3600.0) -> str:
        """A one-time OAuth code of the brand the sandbox plays, for the code flow (§2.3)."""
        return self.identity.mint_auth_code(self.mint_brand_token(subject, lifetime=lifetime))

    @property
    def jwe_public_key(self) -> str:
        """PEM of the RSA key a brand encrypts its JWTs to (RSA-OAEP-256, §2.2)."""
        return self.identity.jwe_public_key()

    # -- records ----------------------------------------------------------------------------

    def conversation(self, conversation_id: str) -> ConversationRecord:
        """A frozen snapshot of one conversation (KeyError if unknown)."""
        return self._world.record(conversation_id)

    def conversations(self, *, consumer_id: str | None = None) -> list[ConversationRecord]:
        """Snapshots of every conversation (of one consumer), oldest first."""
        return self._world.records(consumer_id)

    def subscriptions(self, consumer_id: str) -> list[SocketSubscriptions]:
        """What each live socket of ``consumer_id`` is subscribed to now, one record a socket.

        Safe inside :meth:`wait_until`'s predicate (it reads under the state lock).
        """
        return self._world.subscriptions(self.account, consumer_id)

    @property
    def unsubscribes(self) -> int:
        """How many ``cqm.UnsubscribeExConversations`` requests the sandbox accepted so far."""
        return self._world.unsubscribes

    def wait_for_conversation(
        self, *, consumer_id: str | None = None, timeout: float = 5.0
    ) -> ConversationRecord:
        """Wait for the newest conversation (of a consumer) to exist; TimeoutError otherwise."""

        def newest() -> str | None:
            ids = [
                c.conversation_id
                for c in self._world.conversations.values()
                if consumer_id is None or c.consumer_id == consumer_id
            ]
            return ids[-1] if ids else None

        found = self._world.wait(newest, timeout)
        if not found:
            raise TimeoutError(
                f"no conversation{' of ' + consumer_id if consumer_id else ''} within {timeout} s"
            )
        return self.conversation(found)

    def wait_for_event(
        self,
        conversation_id: str,
        predicate: Callable[[RecordedEvent], bool],
        timeout: float = 5.0,
    ) -> RecordedEvent:
        """Wait until an event of the conversation satisfies ``predicate`` (else TimeoutError)."""

        def find() -> RecordedEvent | None:
            conversation = self._world.conversations.get(conversation_id)
            if conversation is None:
                return None
            for event in self._world.record(conversation_id).events:
                if predicate(event):
                    return event
            return None

        found: RecordedEvent | None = self._world.wait(find, timeout)
        if found is None:
            raise TimeoutError(f"no matching event in {conversation_id} within {timeout} s")
        return found

    def wait_for_consumer_message(
        self, conversation_id: str, timeout: float = 5.0
    ) -> RecordedEvent:
        """Wait for a content event published by the consumer in ``conversation_id``."""
        return self.wait_for_event(
            conversation_id,
            lambda e: e.role == "CONSUMER" and e.event_type in ("ContentEvent", "RichContentEvent"),
            timeout,
        )

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy; returns its last value (falsy on timeout).

        The predicate runs under the state lock at every change, so it may read records but must
        not call ``agents``, ``faults`` or ``connection_count`` (they wait for the event loop).
        """
        return self._world.wait(predicate, timeout)

    # -- HTTP helpers -----------------------------------------------------------------------

    def _profile_json(self, agent_id: str) -> dict[str, Any] | None:
        profile = self._pool.profile(agent_id)
        return profile.to_wire() if profile is not None else None

    def _picture(self, request: HttpRequest) -> HttpReply:
        profile = self._pool.profile(request.match["agent"])
        if profile is None:
            return HttpReply.json(404, {"error": "unknown user"})
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
            '<rect width="64" height="64" fill="#3b6ea5"/><text x="32" y="42" font-size="28" '
            f'text-anchor="middle" fill="#fff">{profile.nickname[:1]}</text></svg>'
        )
        return HttpReply(status=200, body=svg.encode(), content_type="image/svg+xml")
