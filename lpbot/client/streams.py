"""Subscriptions and inbound notifications: the part of the supervisor on the hot path.

:class:`Streams` is mixed into :class:`~lpbot.client.supervisor.Supervisor`. It asks the
sans-I/O :class:`~lpbot.client.session.Session` what to do with each notification (under the
supervisor's lock), sends the subscriptions it decides (tracked in the same step, so a caller
of ``follow`` can wait for the server's answer), and hands events to ``on_message`` on the
reader thread, committing each one after the callback returned when ``auto_commit`` is on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Final

from lpbot.client.connection import Connection
from lpbot.client.frames import FrameError
from lpbot.client.options import ConnectionState
from lpbot.client.reply import Reply
from lpbot.client.session import Recovery, Session, SessionStats
from lpbot.errors import ConnectionClosed, ProtocolError, RequestRejected
from lpbot.protocol.codec import Inbound
from lpbot.protocol.notifications import (
    ConversationDetails,
    ExConversationChangeNotification,
    MessagingEvent,
    MessagingEventNotification,
)
from lpbot.protocol.requests import SubscribeMessagingEvents

if TYPE_CHECKING:
    from lpbot.client.client import Client
    from lpbot.client.options import ClientOptions

__all__ = ["Streams", "add_connection", "add_session"]

log = logging.getLogger(__name__)

#: what a JWT looks like; frames are logged with any such token masked
_JWT: Final = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
_SESSION_COUNTERS: Final = ("delivered", "duplicates", "gaps", "resyncs")

Tracked = list[tuple[SubscribeMessagingEvents, "Reply[None]"]]


class Streams:
    """Conversation views, explicit subscriptions and inbound frame handling (a mixin)."""

    # Provided by the Supervisor.
    _client: Client
    _options: ClientOptions
    _stop: threading.Event
    _lock: threading.RLock
    _changed: threading.Condition
    _session: Session | None
    _conn: Connection | None
    _connected: bool
    _reached: bool
    _conversations_subscribed: bool
    _subscribing: dict[str, Reply[None]]
    _malformed_logged: int
    _ready: threading.Event

    def _abort(self, conn: Connection, recovery: Recovery | str, reason: str,
               *, graceful: bool = False) -> None:
        raise NotImplementedError

    def _emit(self, state: ConnectionState, *, reason: str = "") -> None:
        raise NotImplementedError

    # --- conversation views -------------------------------------------------------------

    def conversations(self) -> list[ConversationDetails]:
        """Known conversations (a copy)."""
        with self._lock:
            return [] if self._session is None else list(self._session.conversations.values())

    def details(self, conversation_id: str) -> ConversationDetails | None:
        """The latest snapshot of one conversation, if known."""
        with self._lock:
            return None if self._session is None else self._session.conversations.get(
                conversation_id)

    def open_conversation_id(self) -> str | None:
        """The consumer's OPEN conversation (the newest, if the server reports several)."""
        with self._lock:
            if self._session is None:
                return None
            found = self._session.open_conversations()
            return found[0].conversation_id if found else None

    def wait_conversation(self, conversation_id: str, timeout: float) -> bool:
        """Wait until the conversation stream reported ``conversation_id``."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self._stop.is_set() or (self._session is not None and conversation_id
                                                in self._session.conversations), timeout)

    # --- explicit subscriptions ---------------------------------------------------------

    def follow(self, conversation_id: str) -> list[Reply[None]]:
        """Deliver the conversation's events (subscribing its open dialogs now if needed).

        Returns the replies of this socket's subscriptions of those dialogs that are still
        unanswered, so a caller can wait until the server confirmed them.
        """
        with self._lock:
            if self._session is None:
                return []
            conn = self._conn if self._connected else None
            dialogs = list(self._session.dialogs_of(conversation_id))
            requests = [r for d in dialogs if (r := self._session.follow(
                d, conversation_id, subscribe=conn is not None))]
            tracked = self._track(conn, requests)
            waiting = [f for d in dialogs if (f := self._subscribing.get(d)) is not None]
        if conn is not None:
            self._send_subscriptions(conn, tracked)
        return waiting

    def unfollow(self, conversation_id: str) -> None:
        """Stop delivering the conversation's events."""
        with self._lock:
            if self._session is not None:
                for dialog_id in self._session.dialogs_of(conversation_id):
                    self._session.unfollow(dialog_id)

    # --- subscription tracking -----------------------------------------------------

    def _track(self, conn: Connection | None,
               requests: Iterable[SubscribeMessagingEvents]) -> Tracked:
        # Called under the lock, in the same step as the session's decision, so a caller of
        # follow() always finds the subscription in flight (and can wait for its answer).
        tracked: Tracked = []
        for request in requests:
            placeholder: Reply[None] = Reply()
            if conn is not None:
                self._subscribing[request.dialog_id] = placeholder
            tracked.append((request, placeholder))
        return tracked

    def _send_subscriptions(self, conn: Connection, tracked: Tracked) -> None:
        for request, placeholder in tracked:
            try:
                future = conn.request(request)
            except ConnectionClosed as exc:
                placeholder.set_exception(exc)  # the next socket subscribes again
                self._forget_subscription(request.dialog_id, placeholder)
                continue
            future.add_done_callback(
                partial(self._messaging_answered, conn, request, placeholder))

    def _forget_subscription(self, dialog_id: str, placeholder: Reply[None]) -> None:
        with self._lock:
            if self._subscribing.get(dialog_id) is placeholder:
                del self._subscribing[dialog_id]

    def _messaging_answered(self, conn: Connection, request: SubscribeMessagingEvents,
                            placeholder: Reply[None], future: Reply[None]) -> None:
        self._forget_subscription(request.dialog_id, placeholder)
        error = future.exception()
        if error is None:
            with self._lock:
                if self._session is not None:
                    self._session.subscription_answered(request.dialog_id)
            placeholder.set_result(None)
            return
        placeholder.set_exception(error)
        if isinstance(error, RequestRejected) and (error.code == 429 or error.code >= 500):
            recovery = Recovery.RATE_LIMITED if error.code == 429 else Recovery.BACKOFF
            self._abort(conn, recovery, f"resume of dialog {request.dialog_id} answered "
                                        f"{error.code}")
        elif isinstance(error, RequestRejected):
            log.warning("subscription to dialog %s refused: %s", request.dialog_id, error)
            with self._lock:
                if self._session is not None:
                    self._session.subscription_failed(request.dialog_id)

    # --- inbound frames (reader thread, hot path) ---------------------------------------

    def _on_inbound(self, inbound: Inbound) -> None:
        kind = type(inbound)
        if kind is MessagingEventNotification:
            with self._lock:
                result = self._session.on_events(inbound)  # type: ignore[union-attr, arg-type]
                conn = self._conn
                tracked = self._track(conn, result.requests) if result.requests else None
            if tracked and conn is not None:
                self._send_subscriptions(conn, tracked)
            for event in result.deliver:
                self._deliver(event)
        elif kind is ExConversationChangeNotification:
            self._on_conversations(inbound)  # type: ignore[arg-type]
        else:
            self._client.count("unknown_notifications")

    def _deliver(self, event: MessagingEvent) -> None:
        callback = self._client.on_message
        if callback is not None:
            try:
                callback(event)
            except Exception:  # isolation boundary: user callback, counted
                self._client.count("callback_errors")
                log.exception("on_message failed for %s/%s", event.dialog_id, event.sequence)
                return
        if event.sequence is not None and self._options.auto_commit:
            self._client.commit(event)

    def _on_conversations(self, notification: ExConversationChangeNotification) -> None:
        with self._lock:
            session = self._session
            assert session is not None  # noqa: S101 - adopted before connecting
            result = session.on_conversations(notification)
            conn = self._conn
            tracked = self._track(conn, result.requests)
            became_ready = self._conversations_subscribed and not self._reached
        if tracked and conn is not None:
            self._send_subscriptions(conn, tracked)
        with self._changed:
            self._changed.notify_all()
        callback = self._client.on_conversation
        if callback is not None:
            for change in result.changes:
                try:
                    callback(change)
                except Exception:  # isolation boundary: user callback, counted
                    self._client.count("callback_errors")
                    log.exception("on_conversation failed for %s", change.conversation_id)
        if became_ready:
            with self._changed:
                self._reached = True
                self._connected = True
                self._changed.notify_all()
            self._emit(ConnectionState.CONNECTED, reason="subscribed and resumed")
            self._ready.set()

    def _on_malformed(self, error: ProtocolError) -> None:
        self._malformed_logged += 1
        if self._malformed_logged <= 10 or self._malformed_logged % 1000 == 0:
            raw = _JWT.sub("***", error.raw) if error.raw else error.raw
            action = ("connection closed with 1002" if isinstance(error, FrameError)
                      else "frame ignored")
            log.warning("malformed frame, %s (%d so far): %s; raw=%r",
                        action, self._malformed_logged, error, raw)
        # Counted after the warning, so whoever sees the count can already read the line.
        self._client.count("malformed_frames")


def add_session(counts: dict[str, int], stats: SessionStats) -> None:
    """Add a session's counters to ``counts``."""
    for name in _SESSION_COUNTERS:
        counts[name] = counts.get(name, 0) + getattr(stats, name)


def add_connection(counts: dict[str, int], conn: Connection) -> None:
    """Add a socket's frame and unknown-event counters to ``counts``."""
    counts["frames"] = counts.get("frames", 0) + conn.frames
    events = sum(n for key, n in conn.decoder.unknown_types.items() if key.startswith("event:"))
    counts["unknown_events"] = counts.get("unknown_events", 0) + events
