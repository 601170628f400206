"""Subscriptions and inbound notifications: the client's hot path.

:class:`Streams` handles what arrives on a socket (on the reader thread): it asks the sans-I/O
:class:`~lpbot.client.session.Session` what each notification means (under the
:class:`~lpbot.client.link.Link`'s lock), sends the subscriptions the session decides (tracked
in the same step, so a caller of :meth:`Streams.follow` can wait for the server's answer), and
hands events to the client's ``on_message``, committing each one after the callback returned
when ``auto_commit`` is on. Once the conversation stream has answered on a new socket, it marks
the link connected and calls ``on_ready``.

What it needs from the client is the small :class:`Delivery` protocol; everything else it
reads and changes is on the link.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Protocol

from lpbot.client.connection import Connection
from lpbot.client.frames import FrameError
from lpbot.client.link import Link
from lpbot.client.reply import Reply
from lpbot.client.session import Recovery
from lpbot.errors import ConnectionClosed, ProtocolError, RequestRejected
from lpbot.protocol.codec import Inbound
from lpbot.protocol.notifications import (
    ConversationChange,
    ExConversationChangeNotification,
    MessagingEvent,
    MessagingEventNotification,
)
from lpbot.protocol.requests import SubscribeMessagingEvents
from lpbot.redaction import mask_jwts

__all__ = ["Delivery", "Streams"]

log = logging.getLogger(__name__)


Tracked = list[tuple[SubscribeMessagingEvents, "Reply[None]"]]


class Delivery(Protocol):
    """What :class:`Streams` needs from the client: where events go, counters, commits."""

    @property
    def on_message(self) -> Callable[[MessagingEvent], None] | None:
        """Called with each messaging event, on the reader thread."""

    @property
    def on_conversation(self) -> Callable[[ConversationChange], None] | None:
        """Called with each conversation change, on the reader thread."""

    def count(self, name: str, increment: int = 1) -> None:
        """Add to one of the client's counters."""

    def commit(self, event: MessagingEvent) -> None:
        """Persist that ``event`` was handled."""


class Streams:
    """Conversation subscriptions and inbound frame handling; see the module docstring.

    Args:
        link: The connection state it reads and updates.
        delivery: The client's callbacks, counters and commits.
        auto_commit: Commit each event once ``on_message`` returned.
        on_ready: Called (reader thread) when a socket finished its setup.
    """

    def __init__(self, link: Link, delivery: Delivery, *, auto_commit: bool,
                 on_ready: Callable[[], None]) -> None:
        self._link = link
        self._delivery = delivery
        self._auto_commit = auto_commit
        self._on_ready = on_ready
        self._malformed_logged = 0

    # --- explicit subscriptions (callers' threads) ----------------------------------------

    def follow(self, conversation_id: str,
               dialog_ids: Iterable[str] | None = None) -> list[Reply[None]]:
        """Deliver the conversation's events (subscribing its dialogs now if needed).

        By default its messaging dialogs (MAIN, a survey); ``dialog_ids`` names others, such as
        a CoBrowse dialog a caller asked for. Returns the replies of this socket's
        subscriptions of those dialogs that are still unanswered, so a caller can wait until
        the server confirmed them.
        """
        link = self._link
        with link.lock:
            if link.session is None:
                return []
            conn = link.conn if link.connected else None
            dialogs = list(dialog_ids if dialog_ids is not None
                           else link.session.dialogs_of(conversation_id, messaging=True))
            requests = [r for d in dialogs if (r := link.session.follow(
                d, conversation_id, subscribe=conn is not None))]
            tracked = self._track(conn, requests)
            waiting = [f for d in dialogs if (f := link.subscribing.get(d)) is not None]
        if conn is not None:
            self._send_subscriptions(conn, tracked)
        return waiting

    def unfollow(self, conversation_id: str) -> None:
        """Stop delivering the conversation's events and changes, and following its dialogs."""
        link = self._link
        with link.lock:
            if link.session is not None:
                link.session.unfollow(conversation_id)

    # --- inbound frames (reader thread, hot path) ---------------------------------------

    def on_inbound(self, inbound: Inbound) -> None:
        """Handle one decoded notification from the current socket."""
        kind = type(inbound)
        if kind is MessagingEventNotification:
            link = self._link
            with link.lock:
                result = link.session.on_events(inbound)  # type: ignore[union-attr, arg-type]
                conn = link.conn
                tracked = self._track(conn, result.requests) if result.requests else None
            if tracked and conn is not None:
                self._send_subscriptions(conn, tracked)
            for event in result.deliver:
                self._deliver(event)
        elif kind is ExConversationChangeNotification:
            self._on_conversations(inbound)  # type: ignore[arg-type]
        else:
            self._delivery.count("unknown_notifications")

    def on_malformed(self, error: ProtocolError) -> None:
        """Log a frame that could not be decoded (the first ten, then one in a thousand)."""
        self._malformed_logged += 1
        if self._malformed_logged <= 10 or self._malformed_logged % 1000 == 0:
            raw = mask_jwts(error.raw) if error.raw else error.raw
            action = ("connection closed with 1002" if isinstance(error, FrameError)
                      else "frame ignored")
            log.warning("malformed frame, %s (%d so far): %s; raw=%r",
                        action, self._malformed_logged, error, raw)
        # Counted after the warning, so whoever sees the count can already read the line.
        self._delivery.count("malformed_frames")

    def _deliver(self, event: MessagingEvent) -> None:
        callback = self._delivery.on_message
        if callback is not None:
            try:
                callback(event)
            except Exception:  # isolation boundary: user callback, counted
                self._delivery.count("callback_errors")
                log.exception("on_message failed for %s/%s", event.dialog_id, event.sequence)
                return
        if event.sequence is not None and self._auto_commit:
            self._delivery.commit(event)

    def _on_conversations(self, notification: ExConversationChangeNotification) -> None:
        link = self._link
        with link.lock:
            session = link.session
            assert session is not None  # noqa: S101 - adopted before connecting
            result = session.on_conversations(notification)
            conn = link.conn
            tracked = self._track(conn, result.requests)
            became_ready = link.conversations_subscribed and not link.reached
        if tracked and conn is not None:
            self._send_subscriptions(conn, tracked)
        with link.changed:
            link.changed.notify_all()
        callback = self._delivery.on_conversation
        if callback is not None:
            for change in result.changes:
                try:
                    callback(change)
                except Exception:  # isolation boundary: user callback, counted
                    self._delivery.count("callback_errors")
                    log.exception("on_conversation failed for %s", change.conversation_id)
        if became_ready:
            link.mark_connected()
            self._on_ready()

    # --- subscription tracking -----------------------------------------------------

    def _track(self, conn: Connection | None,
               requests: Iterable[SubscribeMessagingEvents]) -> Tracked:
        # Called under the lock, in the same step as the session's decision, so a caller of
        # follow() always finds the subscription in flight (and can wait for its answer).
        tracked: Tracked = []
        for request in requests:
            placeholder: Reply[None] = Reply()
            if conn is not None:
                self._link.subscribing[request.dialog_id] = placeholder
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
        link = self._link
        with link.lock:
            if link.subscribing.get(dialog_id) is placeholder:
                del link.subscribing[dialog_id]

    def _messaging_answered(self, conn: Connection, request: SubscribeMessagingEvents,
                            placeholder: Reply[None], future: Reply[None]) -> None:
        link = self._link
        self._forget_subscription(request.dialog_id, placeholder)
        error = future.exception()
        if error is None:
            with link.lock:
                if link.session is not None:
                    link.session.subscription_answered(request.dialog_id)
            placeholder.set_result(None)
            return
        placeholder.set_exception(error)
        if isinstance(error, RequestRejected) and (error.code == 429 or error.code >= 500):
            recovery = Recovery.RATE_LIMITED if error.code == 429 else Recovery.BACKOFF
            link.abort(conn, recovery, f"resume of dialog {request.dialog_id} answered "
                                       f"{error.code}")
        elif isinstance(error, RequestRejected):
            log.warning("subscription to dialog %s refused: %s", request.dialog_id, error)
            with link.lock:
                if link.session is not None:
                    link.session.subscription_failed(request.dialog_id)
