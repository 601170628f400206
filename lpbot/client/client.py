"""The consumer client: one identity, one connection kept alive, conversations on top.

The client is composed of small parts, each with a narrow interface: the
:class:`~lpbot.client.link.Link` (connection state), :class:`~lpbot.client.streams.Streams`
(inbound frames, subscriptions), :class:`~lpbot.client.keepalive.Keepalive` and the
:class:`~lpbot.client.supervisor.Supervisor` that runs them. Threads (house style §3.9): one of
its own, started by :meth:`Client.connect` and joined by :meth:`Client.close` within one second,
and a share of one for the whole process:

* ``lpbot-reader-<consumer>`` opens the socket, reads it (:meth:`Connection.run`), and when it
  ends classifies why (:func:`~lpbot.client.session.classify`), refreshes or renews the
  identity, waits the backoff through ``stop_event.wait`` and connects again. Callbacks run
  here and must be quick (the runtime's dispatcher enqueues).
* ``lpbot-keepalive``, one per process (:mod:`lpbot.client.keepalive`), sends each client's WS
  ping and ``GetClock`` every 30 s (protocol notes §3.4), aborts a socket whose previous
  ``GetClock`` is still unanswered, refreshes an authenticated token ahead of its expiry, and
  forgets conversations closed for longer than ``closed_retention`` (their handles too), so a
  long-lived client's memory stays bounded. It runs while any client is connected.

TLS is paid once per process (:mod:`lpbot.client.tls`): every client trusting one CA file
shares one ``SSLContext``, and the clients of one account share their HTTP connection pools.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from lpbot.client.backoff import Waiter, wait_on_event
from lpbot.client.connection import REFUSED_CODES, Connection, SendFailed
from lpbot.client.conversation import Conversation
from lpbot.client.discovery import Discovery, shared_domains
from lpbot.client.identity import Identity, IdentityManager
from lpbot.client.link import Link
from lpbot.client.options import ClientOptions, ClientStats, ConnectionState, StateChange
from lpbot.client.profiles import AgentProfile, fetch_agent_profile
from lpbot.client.reply import Reply
from lpbot.client.state import StateStore
from lpbot.client.streams import Streams
from lpbot.client.supervisor import Supervisor
from lpbot.client.tls import TlsAdapter, acquire_pools, release_pools, shared_session, tls_context
from lpbot.errors import ConnectionClosed, LeaseLost, RequestRejected, RequestTimeout
from lpbot.protocol.envelope import Request
from lpbot.protocol.notifications import ConversationChange, ConversationDetails, MessagingEvent
from lpbot.protocol.requests import ConsumerRequestConversation, SetUserProfile

if TYPE_CHECKING:
    from lpbot.client.state_pg import PgStateStore

__all__ = ["Client"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_STAT_FIELDS = frozenset(f.name for f in fields(ClientStats)) - {
    "retry_delays", "retained_conversations", "retained_dialogs", "retained_handles"}

OnMessage = Callable[[MessagingEvent], None]
OnConversation = Callable[[ConversationChange], None]
OnState = Callable[[StateChange], None]


class Client:
    """A LivePerson consumer that stays connected and never loses or repeats an event.

    Example:
        >>> client = Client(ClientOptions(account="sandbox", csds_domain=sb.csds_domain,
        ...                               tls=False), state_dir="state",
        ...                 on_message=lambda event: print(event.event))  # doctest: +SKIP
        >>> client.connect(timeout=10)                                     # doctest: +SKIP
        >>> conversation = client.open_conversation()                      # doctest: +SKIP
        >>> conversation.send_text("hello")                                # doctest: +SKIP
        >>> client.close()                                                 # doctest: +SKIP

    ``on_message(event)`` gets every messaging event exactly once per (dialog, sequence), in
    order per dialog, across reconnects and restarts (chat states are unsequenced and
    delivered as they come). ``on_conversation(change)`` gets conversation metadata changes;
    ``on_state(change)`` every :class:`StateChange`.
    """

    def __init__(
        self,
        options: ClientOptions,
        *,
        state_dir: Path | str | None = None,
        store: StateStore | PgStateStore | None = None,
        guard: Callable[[], None] | None = None,
        on_message: OnMessage | None = None,
        on_conversation: OnConversation | None = None,
        on_state: OnState | None = None,
        http: requests.Session | None = None,
        waiter: Waiter = wait_on_event,
        rng: random.Random | None = None,
    ) -> None:
        self.options = options
        self.on_message = on_message
        self.on_conversation = on_conversation
        self.on_state = on_state
        self._stop = threading.Event()
        # TLS costs are per process, not per consumer (lpbot.client.tls): a bad CA file fails
        # here, before anything is shared or started.
        ssl_context = tls_context(options.ca_file) if options.tls else None
        self._pools: TlsAdapter | None = None
        if http is None:  # a session passed in keeps its own settings and pools
            self._pools = acquire_pools(options.account, options.ca_file if options.tls else None)
            http = shared_session(self._pools)
        self._http = http
        self._waiter = waiter
        self._rng = rng if rng is not None else random.Random()
        # ``store`` (PostgreSQL, shared by a cluster) wins over ``state_dir``; the client
        # closes whichever it uses
        self._store: StateStore | PgStateStore | None = (
            store if store is not None
            else StateStore(state_dir) if state_dir is not None else None)
        self._guard = guard
        self._delays: deque[float] = deque(maxlen=256)
        self._handles: dict[str, Conversation] = {}
        self._counts: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        self.discovery = Discovery(
            options.account, session=self._http, csds_domain=options.csds_domain,
            tls=options.tls, ttl=options.csds_ttl, timeout=options.connect_timeout,
            backoff=options.backoff, stop=self._stop, waiter=self._recording_waiter,
            cache=shared_domains(options.ca_file if options.tls else None))
        self.identities = IdentityManager(
            account=options.account, discovery=self.discovery, http=self._http,
            store=self._store, key=f"{options.account}/{options.identity_name}",
            provider=options.token_provider or options.code_provider, flow=options.flow,
            connector_id=options.connector_id, redirect_uri=options.redirect_uri,
            backoff=options.backoff, stop=self._stop, waiter=self._recording_waiter,
            timeout=options.connect_timeout, count=self.count)
        self._link = Link(self._stop)
        self._supervisor = Supervisor(self, self._link, ssl_context=ssl_context, rng=self._rng)
        self._close_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return (f"Client(account={self.options.account!r}, consumer={self.consumer_id!r}, "
                f"state={self.state.value!r})")

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- state --------------------------------------------------------------------------

    @property
    def consumer_id(self) -> str | None:
        """The consumer id (JWT ``sub``) once an identity was obtained."""
        return self._link.consumer_id

    @property
    def identity(self) -> Identity | None:
        """The current identity (``repr`` hides the token), once connected."""
        return self._link.identity

    @property
    def state(self) -> ConnectionState:
        """The connection state now."""
        return self._link.state

    @property
    def failure(self) -> BaseException | None:
        """Why the client gave up (state ``FAILED``), else None.

        For example an :class:`~lpbot.errors.IdentityRefused` when the IDP refused the
        connector id or the provider's code while the client was running: retrying could not
        help, so the client stopped that consumer instead of retrying forever.
        """
        return self._supervisor.failure

    @property
    def pending_requests(self) -> int:
        """Requests sent on the current socket and not answered yet."""
        return self._link.pending_requests()

    @property
    def store(self) -> StateStore | PgStateStore | None:
        """Where identities and sequences live (``None`` without a state directory)."""
        return self._store

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the client's counters (malformed frames, duplicates, retries ...)."""
        with self._counts_lock:
            counts = dict(self._counts)
            delays = tuple(self._delays)
        for name, value in self._link.live_counts().items():
            counts[name] = counts.get(name, 0) + value
        known = {name: value for name, value in counts.items() if name in _STAT_FIELDS}
        conversations, dialogs = self._link.retained()
        return ClientStats(**known, retry_delays=delays, retained_conversations=conversations,
                           retained_dialogs=dialogs, retained_handles=len(self._handles))

    def count(self, name: str, increment: int = 1) -> None:
        """Add to one of the :class:`ClientStats` counters (used by the client's parts)."""
        with self._counts_lock:
            self._counts[name] = self._counts.get(name, 0) + increment

    def _recording_waiter(self, stop: threading.Event, delay: float) -> bool:
        with self._counts_lock:
            self._delays.append(delay)
        return self._waiter(stop, delay)

    def wait(self, delay: float) -> bool:
        """Wait ``delay`` seconds unless the client closes first (True: it closed)."""
        return self._recording_waiter(self._stop, delay)

    # --- lifecycle ----------------------------------------------------------------------

    def connect(self, timeout: float | None = None) -> None:
        """Discover, authenticate, open the socket, subscribe and resume; return when connected.

        Raises:
            AuthError: the identity could not be obtained (IDP refused, provider failed).
            ConfigError: the account or CSDS domain is wrong.
            ConnectionClosed: not connected within ``timeout`` (default ``connect_timeout``
                plus the backoff's first steps); the client is closed again.
        """
        if self._closed:
            raise ConnectionClosed("client is closed")
        limit = timeout if timeout is not None else self.options.connect_timeout * 3
        try:
            self._supervisor.start(limit)
        except BaseException:
            self.close()
            raise

    def close(self, timeout: float = 1.0) -> None:
        """Send the close frame, fail pending requests with ConnectionClosed, join threads.

        Idempotent and safe from any thread (except a callback on the reader thread, which
        only starts the close). Never raises.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._supervisor.stop(timeout)
        self.discovery.close()
        if self._store is not None:
            self._store.close()
        if self._pools is not None:  # the session's only adapter is the account's, shared
            release_pools(self._pools)

    @property
    def stop_event(self) -> threading.Event:
        """Set when :meth:`close` was called; every wait of the client watches it."""
        return self._stop

    # --- requests -----------------------------------------------------------------------

    def request(self, request: Request[_T], *, timeout: float | None = None,
                retry: bool = True) -> _T:
        """Send one request and return its typed result; thread-safe.

        Waits (up to ``timeout``) for the connection when it is being re-established. A 429
        or 5xx answer is retried as protocol notes §3.5 says (429: after at least 1 s; 5xx: 5,
        10, 15 s) when ``retry`` is true.

        Raises:
            RequestRejected: the server answered an error (``code``, ``body``, ``request``).
            RequestTimeout: no answer within ``timeout`` (default ``request_timeout``).
            ConnectionClosed: the socket closed before the answer, or the client closed.
            LeaseLost: ``guard`` refused: another daemon of the cluster owns this consumer.
        """
        if self._guard is not None:
            self._guard()  # raises LeaseLost once another daemon owns this consumer
        limit = self.options.request_timeout if timeout is None else timeout
        backoff = self.options.backoff
        attempt = 0
        while True:
            try:
                return self._request_once(request, limit)
            except RequestRejected as exc:
                if not retry or attempt >= backoff.request_retries:
                    raise
                if exc.code == 429:
                    delay = backoff.rate_limited(attempt, self._rng)
                elif exc.code >= 500:
                    delay = backoff.delay(attempt, self._rng)
                else:
                    raise
                self.count("request_retries")
                log.warning("%s answered %d; retry %d in %.3g s", request.type_name, exc.code,
                            attempt + 1, delay)
                if self.wait(delay):
                    raise ConnectionClosed("client closed while retrying a request") from exc
                attempt += 1

    def _request_once(self, request: Request[_T], timeout: float) -> _T:
        deadline = time.monotonic() + timeout
        while True:
            connection = self._link.wait_connected(max(0.0, deadline - time.monotonic()))
            try:
                future: Reply[_T] = connection.request(request)
                break
            except ConnectionClosed as exc:
                # The socket was going away; nothing of the request was read by the server
                # unless the server closed because of it (too big ...): then it is not resent.
                if isinstance(exc, SendFailed):
                    self._refused_by_close(connection, request, deadline, exc)
                if self._stop.is_set() or time.monotonic() >= deadline:
                    raise
                self._link.wait_replaced(connection, deadline - time.monotonic())
        self.count("requests")
        try:
            return future.result(timeout)
        except TimeoutError:
            connection.forget(future)
            self.count("request_timeouts")
            raise RequestTimeout(request=request, request_type=request.type_name,
                                 timeout=timeout) from None

    @staticmethod
    def _refused_by_close(connection: Connection, request: Request[Any], deadline: float,
                          error: SendFailed) -> None:
        """Raise if the server closed the socket to refuse what was being sent.

        Waits (at most a second) for the reader to learn how the socket ended.
        """
        wait = min(1.0, max(0.0, deadline - time.monotonic()))
        ended = connection.ended if connection.wait_closed(wait) else None
        if ended is not None and ended.code in REFUSED_CODES:
            raise ConnectionClosed(
                f"the server closed the socket refusing {request.type_name} (not sent again)",
                code=ended.code, reason=ended.reason) from error

    # --- conversations ------------------------------------------------------------------

    def conversations(self) -> list[ConversationDetails]:
        """Snapshots of the consumer's known conversations (open and recently closed)."""
        return self._link.conversations()

    def conversation(self, conversation_id: str) -> Conversation:
        """The handle of a conversation by id: the same object every time for one id.

        Cheap and safe on any thread (the reader thread included), so callbacks may look the
        handle up for each event. Once the conversation was closed for ``closed_retention``
        seconds its handle is forgotten; asking again makes a new one (with an empty stash).
        """
        handle = self._handles.get(conversation_id)
        if handle is None:
            with self._counts_lock:
                handle = self._handles.setdefault(conversation_id,
                                                  Conversation(self, conversation_id))
        return handle

    def open_conversation(
        self,
        *,
        skill_id: str | None = None,
        campaign_id: str | int | None = None,
        engagement_id: str | int | None = None,
        context: Mapping[str, Any] | None = None,
        ttr: str | None = None,
        timeout: float | None = None,
    ) -> Conversation:
        """Reuse the consumer's OPEN conversation, else request one (protocol notes §5.3, §7.1).

        A consumer has at most one open conversation (§7.2), so an existing one is returned
        whatever ``skill_id`` says. The conversation's messages are followed from here on.

        Example:
            >>> conversation = client.open_conversation(skill_id="sales", ttr="URGENT")
            ... # doctest: +SKIP
        """
        limit = self.options.request_timeout if timeout is None else timeout
        self._link.wait_connected(limit)
        existing = self._link.open_conversation_id()
        if existing is None:
            request = ConsumerRequestConversation(
                skill_id=skill_id, campaign_id=campaign_id, engagement_id=engagement_id,
                context=context, ttr_def_name=ttr, brand_id=self.options.account)
            try:
                existing = self.request(request, timeout=limit)
            except RequestRejected as exc:
                # §5.3: a second request while one is open is refused; the stream has it.
                existing = self._link.open_conversation_id()
                if exc.code != 400 or existing is None:
                    raise
            else:
                log.info("conversation %s requested", existing)
        conversation = self.conversation(existing)
        self._link.wait_conversation(existing, limit)
        conversation.subscribe(timeout=limit)
        return conversation

    def commit(self, event: MessagingEvent) -> None:
        """Persist that ``event`` was handled: a restart resumes after it (§5.7 ``fromSeq``).

        Chat states (no sequence) need no commit. Safe from any thread; sequences only move
        forward, so committing out of order never re-delivers anything. A commit the database
        refuses because another daemon took the consumer over (fencing) is dropped: the new
        owner resumes from the last accepted commit.
        """
        if event.sequence is None or self._store is None or self._closed:
            return  # after close() the store is closed; the event is fetched again next time
        consumer_id = self.consumer_id
        if consumer_id is not None:
            try:
                self._store.commit_sequence(consumer_id, event.dialog_id, event.sequence)
            except LeaseLost as exc:  # the store told its fence already
                log.debug("commit dropped: %s", exc)

    def set_user_profile(self, profile: SetUserProfile, *, timeout: float | None = None) -> str:
        """Tell agents who the consumer is (``userprofile.SetUserProfile``, protocol notes §5.10).

        Optional; LivePerson's own consumer SDK sends it before requesting a conversation.
        Returns the server's confirmation text.

        Example:
            >>> client.set_user_profile(SetUserProfile(first_name="Ada", last_name="Lovelace",
            ...                                        nickname="ada"))  # doctest: +SKIP
            'OK User Profile set successfully'

        Raises:
            RequestRejected: the server refused the profile (a 4xx with its reason).
        """
        return self.request(profile, timeout=timeout)

    def agent_profile(self, agent_id: str, *, timeout: float | None = None) -> AgentProfile:
        """Fetch an agent's public profile (protocol notes §5.13)."""
        limit = self.options.request_timeout if timeout is None else timeout
        return fetch_agent_profile(agent_id, discovery=self.discovery, http=self._http,
                                   timeout=limit)

    @property
    def http(self) -> requests.Session:
        """The HTTP session of discovery, identity, profiles and files (its TLS settings)."""
        return self._http

    def forget_conversations(self, conversation_ids: Iterable[str]) -> None:
        """Drop the handles of conversations the session forgot (used by the keepalive)."""
        with self._counts_lock:
            for conversation_id in conversation_ids:
                self._handles.pop(conversation_id, None)

    # --- used by Conversation -----------------------------------------------------------

    @property
    def link(self) -> Link:
        """The connection state (internal; the Conversation handle reads its details)."""
        return self._link

    @property
    def streams(self) -> Streams:
        """The subscriptions (internal; the Conversation handle follows through it)."""
        return self._supervisor.streams
