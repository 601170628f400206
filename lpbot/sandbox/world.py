"""The sandbox's state: conversations, dialogs, sessions, and the fan-out of notifications.

Every change happens on the event-loop thread while holding ``World.lock``; every change wakes
``World.changed`` so threads waiting for a condition (tests) wake without polling. Snapshots for
other threads are frozen records (:mod:`lpbot.sandbox.records`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from lpbot.protocol.names import ConversationState, Role

from . import wire
from .model import Conversation, ConversationFilter, Dialog, Refused, Session, StoredEvent, now_ms
from .records import ConversationRecord, DialogRecord, RecordedEvent, SocketSubscriptions
from .variants import WireStyle

__all__ = ["Listener", "World"]

#: (what happened, conversation, event) -> None; kinds: "created", "event", "closed", "changed"
Listener = Callable[[str, Conversation, StoredEvent | None], None]

_CLOSE = ConversationState.CLOSE.value
_OPEN = ConversationState.OPEN.value


class World:
    """All accounts' conversations and live sessions of one sandbox."""

    def __init__(self, *, closed_retention: float | None = None) -> None:
        #: seconds a conversation is kept once closed (None: for ever); see :meth:`forget_closed`
        self.closed_retention = closed_retention
        #: conversation id -> ``time.monotonic()`` when it closed, oldest first
        self._closed: dict[str, float] = {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.conversations: dict[str, Conversation] = {}
        self.dialogs: dict[str, Dialog] = {}
        self.by_consumer: dict[tuple[str, str], list[Conversation]] = {}
        self.sessions: dict[tuple[str, str], set[Session]] = {}
        self.listeners: list[Listener] = []
        #: ``cqm.UnsubscribeExConversations`` requests accepted so far
        self.unsubscribes = 0
        #: opens a post-conversation survey dialog (set by the agent pool), §7.2
        self.survey: Callable[[Conversation], None] | None = None
        #: runs a callable soon on the loop thread, after the current request (set by the WS side)
        self.defer: Callable[..., Any] = lambda fn, *args: fn(*args)

    # -- sessions ---------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        """Register an authenticated session so that it receives its consumer's notifications."""
        with self.lock:
            self.sessions.setdefault((session.account, session.consumer), set()).add(session)

    def detach(self, session: Session) -> None:
        """Forget a closed session and all its subscriptions.

        A session whose style says so publishes a ``BACKGROUND`` chat state for its consumer in
        each open messaging dialog it followed, as LivePerson does when a consumer's socket
        closes (protocol notes §5.8.5, §9).
        """
        with self.lock:
            followed = [self.dialogs.get(d) for d in session.dialogs]
            self._detach(session)
            if session.style.background and session.consumer_id is not None:
                background = {"type": "ChatStateEvent", "chatState": "BACKGROUND"}
                for dialog in followed:
                    if dialog is not None and dialog.is_open and dialog.is_messaging:
                        self.publish(dialog, session.consumer_id, Role.CONSUMER.value,
                                     dict(background))

    def _detach(self, session: Session) -> None:
        with self.lock:
            if session.consumer_id is not None:
                key = (session.account, session.consumer_id)
                live = self.sessions.get(key)
                if live is not None:
                    live.discard(session)
                    if not live:
                        del self.sessions[key]
            for dialog_id in session.dialogs:
                dialog = self.dialogs.get(dialog_id)
                if dialog is not None:
                    dialog.subscribers.discard(session)
            session.dialogs.clear()
            session.conversation_subscriptions.clear()
            session.subscription_members.clear()

    def live_sessions(self) -> list[Session]:
        """Every attached session."""
        with self.lock:
            return [s for group in self.sessions.values() for s in group]

    # -- lookups ----------------------------------------------------------------------------

    def own_conversation(self, session: Session, conversation_id: Any) -> Conversation:
        """The session's consumer's conversation ``conversation_id``; 404 for anything else."""
        if not isinstance(conversation_id, str) or not conversation_id:
            raise Refused(400, "conversationId is required")
        conversation = self.conversations.get(conversation_id)
        if (
            conversation is None
            or conversation.account != session.account
            or conversation.consumer_id != session.consumer_id
        ):
            raise Refused(404, f"unknown conversation {conversation_id}")
        return conversation

    def own_dialog(self, session: Session, dialog_id: Any) -> Dialog:
        """A dialog of the session's consumer; 400 for unknown or foreign dialogs (§8.4)."""
        if not isinstance(dialog_id, str) or not dialog_id:
            raise Refused(400, "dialogId is required")
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            raise Refused(400, f"unknown dialog {dialog_id}")
        conversation = self.conversations[dialog.conversation_id]
        if (
            conversation.account != session.account
            or conversation.consumer_id != session.consumer_id
        ):
            raise Refused(400, f"unknown dialog {dialog_id}")
        return dialog

    def open_conversation_of(self, account: str, consumer_id: str) -> Conversation | None:
        """The consumer's open conversation, if any: its container ``stage`` is OPEN.

        protocol notes §7.2: ``state`` is the MAIN dialog's, ``stage`` the whole container's; a
        conversation whose survey still runs (state CLOSE, stage OPEN) is still the consumer's
        one open conversation (docs/sandbox-rules.md, decisions).
        """
        for conversation in self.by_consumer.get((account, consumer_id), ()):
            if conversation.stage == _OPEN:
                return conversation
        return None

    # -- changes ----------------------------------------------------------------------------

    def create_conversation(self, session: Session, **attributes: Any) -> Conversation:
        """Create an OPEN conversation for the session's consumer (one open at a time, §8.5)."""
        with self.lock:
            self.forget_closed()
            existing = self.open_conversation_of(session.account, session.consumer)
            if existing is not None:
                raise Refused(
                    400, f"consumer already has an open conversation {existing.conversation_id}"
                )
            conversation_id = str(uuid.uuid4())
            conversation = Conversation(
                conversation_id=conversation_id,
                account=session.account,
                consumer_id=session.consumer,
                participants=[(session.consumer, Role.CONSUMER.value)],
                **attributes,
            )
            dialog = Dialog(
                dialog_id=conversation_id,
                conversation_id=conversation_id,
                participants=[(session.consumer, Role.CONSUMER.value)],
                creation_ts=conversation.start_ts,
            )
            conversation.dialogs[conversation_id] = dialog
            self.conversations[conversation_id] = conversation
            self.dialogs[conversation_id] = dialog
            self.by_consumer.setdefault((session.account, session.consumer), []).append(
                conversation
            )
            self.conversation_changed(conversation, "created")
            return conversation

    def add_dialog(self, conversation: Conversation, dialog: Dialog) -> None:
        """Attach a new dialog (survey) to ``conversation``."""
        with self.lock:
            conversation.dialogs[dialog.dialog_id] = dialog
            self.dialogs[dialog.dialog_id] = dialog

    def conversation_changed(self, conversation: Conversation, kind: str = "changed") -> None:
        """Stamp, notify every matching conversation subscription, wake waiters and listeners."""
        with self.lock:
            conversation.last_update = max(now_ms(), conversation.last_update + 1)
            sessions = self.sessions.get((conversation.account, conversation.consumer_id), ())
            upserts: dict[WireStyle, dict[str, Any]] = {}  # one per style in use
            for session in list(sessions):
                style = session.style
                for sub_id, flt in session.conversation_subscriptions.items():
                    members = session.subscription_members[sub_id]
                    if flt.matches(conversation):
                        members.add(conversation.conversation_id)
                        upsert = upserts.get(style)
                        if upsert is None:
                            upsert = upserts[style] = wire.conversation_change(
                                conversation, style=style
                            )
                        session.emit(wire.subscription_notification(sub_id, [upsert], style))
                    elif conversation.conversation_id in members:
                        members.discard(conversation.conversation_id)
                        delete = wire.conversation_change(conversation, "DELETE", style)
                        session.emit(wire.subscription_notification(sub_id, [delete], style))
            self.changed.notify_all()
            for listener in list(self.listeners):
                listener(kind, conversation, None)

    def publish(
        self,
        dialog: Dialog,
        originator_id: str,
        role: str,
        event: dict[str, Any],
        metadata: list[dict[str, Any]] | None = None,
    ) -> StoredEvent:
        """Store an event (sequenced unless a chat state) and send it to the subscribers."""
        with self.lock:
            conversation = self.conversations[dialog.conversation_id]
            sequenced = event.get("type") != "ChatStateEvent"
            stored = StoredEvent(
                dialog_id=dialog.dialog_id,
                conversation_id=dialog.conversation_id,
                sequence=dialog.next_sequence if sequenced else None,
                originator_id=originator_id,
                role=role,
                server_timestamp=now_ms() if sequenced else None,
                event=event,
                metadata=list(metadata or ()),
            )
            if sequenced:
                dialog.next_sequence += 1
            dialog.events.append(stored)
            frames: dict[WireStyle, str] = {}  # one per style in use
            for session in list(dialog.subscribers):
                frame = frames.get(session.style)
                if frame is None:
                    frame = frames[session.style] = wire.live_event(stored, session.style)
                session.emit(frame)
            ttr_changed = self._track_ttr(conversation, stored)
            self.changed.notify_all()
            for listener in list(self.listeners):
                listener("event", conversation, stored)
            if ttr_changed:
                self.conversation_changed(conversation)
            return stored

    @staticmethod
    def _track_ttr(conversation: Conversation, stored: StoredEvent) -> bool:
        """Keep ``awaiting_agent_since`` (basis of effectiveTTR); True if it changed."""
        if stored.event.get("type") not in ("ContentEvent", "RichContentEvent"):
            return False
        before = conversation.awaiting_agent_since
        if stored.role == Role.CONSUMER.value:
            if before is None:
                conversation.awaiting_agent_since = stored.server_timestamp
        else:
            conversation.awaiting_agent_since = None
        return before != conversation.awaiting_agent_since

    def close_dialog(self, dialog: Dialog, *, closed_by: str, cause: str | None) -> None:
        """Mark a dialog closed (the caller sends the conversation change).

        Closing the MAIN dialog ends the conversation's CoBrowse, voice and video sessions too.
        """
        with self.lock:
            if dialog.is_open:
                dialog.state = _CLOSE
                dialog.end_ts = now_ms()
                dialog.meta_data_last_update_ts = dialog.end_ts
                dialog.closed_by = closed_by
                dialog.closed_cause = cause
                if dialog.meta_data is not None and "sessionState" in dialog.meta_data:
                    dialog.meta_data = {**dialog.meta_data, "sessionState": "CLOSED"}
            if dialog.dialog_id == dialog.conversation_id:
                conversation = self.conversations.get(dialog.conversation_id)
                others = conversation.dialogs.values() if conversation is not None else ()
                for other in others:
                    if other.is_open and not other.is_messaging:
                        self.close_dialog(other, closed_by=closed_by, cause=cause)

    def close_conversation(
        self, conversation: Conversation, *, reason: str, cause: str | None = None
    ) -> None:
        """Close every dialog, the state and the stage; notify."""
        with self.lock:
            closed_by = Role.CONSUMER.value if reason == Role.CONSUMER.value else "AGENT"
            for dialog in conversation.dialogs.values():
                self.close_dialog(dialog, closed_by=closed_by, cause=cause)
            if conversation.state == _OPEN:
                conversation.close_reason = reason
            conversation.state = _CLOSE
            conversation.stage = _CLOSE
            conversation.end_ts = now_ms()
            conversation.awaiting_agent_since = None
            self.conversation_changed(conversation, "closed")
            self._closed.pop(conversation.conversation_id, None)
            self._closed[conversation.conversation_id] = time.monotonic()
            self.forget_closed()

    def forget_closed(self) -> int:
        """Forget conversations closed for longer than ``closed_retention``; how many.

        A long-running sandbox (the one ``lpbot run`` embeds) would otherwise keep every
        conversation it ever had. A forgotten conversation is unknown from then on (404 to its
        consumer, KeyError to :meth:`record`), as a conversation past LivePerson's retention is.
        """
        if self.closed_retention is None:
            return 0
        horizon = time.monotonic() - self.closed_retention
        forgotten = 0
        with self.lock:
            while self._closed:
                conversation_id, closed_at = next(iter(self._closed.items()))
                if closed_at > horizon:
                    break
                del self._closed[conversation_id]
                conversation = self.conversations.pop(conversation_id, None)
                if conversation is not None:
                    self._forget(conversation)
                    forgotten += 1
        return forgotten

    def _forget(self, conversation: Conversation) -> None:
        key = (conversation.account, conversation.consumer_id)
        for dialog_id, dialog in conversation.dialogs.items():
            self.dialogs.pop(dialog_id, None)
            for session in dialog.subscribers:
                session.dialogs.discard(dialog_id)
        mine = [c for c in self.by_consumer.get(key, ()) if c is not conversation]
        if mine:
            self.by_consumer[key] = mine
        else:
            self.by_consumer.pop(key, None)
        for session in self.sessions.get(key, ()):
            for members in session.subscription_members.values():
                members.discard(conversation.conversation_id)

    # -- subscriptions ----------------------------------------------------------------------

    def subscribe_conversations(self, session: Session, flt: ConversationFilter) -> tuple[str, str]:
        """Add a conversation subscription; return its id and its snapshot frame (§8.6)."""
        subscription_id = str(uuid.uuid4())
        with self.lock:
            matching = [
                c
                for c in self.by_consumer.get((session.account, session.consumer), ())
                if flt.matches(c)
            ]
            session.conversation_subscriptions[subscription_id] = flt
            session.subscription_members[subscription_id] = {c.conversation_id for c in matching}
            style = session.style
            snapshot = wire.subscription_notification(
                subscription_id, [wire.conversation_change(c, style=style) for c in matching], style
            )
        return subscription_id, snapshot

    def unsubscribe_conversations(self, session: Session, subscription_id: Any) -> None:
        """Drop a conversation subscription; 400 if the session has no such subscription."""
        with self.lock:
            if subscription_id not in session.conversation_subscriptions:
                raise Refused(400, f"unknown subscription {subscription_id}")
            del session.conversation_subscriptions[subscription_id]
            del session.subscription_members[subscription_id]
            self.unsubscribes += 1

    def subscriptions(self, account: str, consumer_id: str) -> list[SocketSubscriptions]:
        """What each live socket of a consumer is subscribed to now."""
        with self.lock:
            return [
                SocketSubscriptions(
                    conversation_streams=tuple(s.conversation_subscriptions),
                    dialogs=frozenset(s.dialogs),
                )
                for s in self.sessions.get((account, consumer_id), ())
            ]

    def subscribe_dialog(self, session: Session, dialog: Dialog, from_seq: int) -> Iterator[str]:
        """Subscribe the session to a dialog; return its replay (seq >= from_seq) as pages.

        The pages are made as the socket drains (:func:`wire.messaging_pages`), from the
        events stored when the subscription was made: later ones reach the session live.
        """
        with self.lock:
            dialog.subscribers.add(session)
            session.dialogs.add(dialog.dialog_id)
            events = dialog.events
            end = len(events)
        return wire.messaging_pages(self._changes(events, from_seq, end, session.style))

    def _changes(
        self, events: list[StoredEvent], from_seq: int, end: int, style: WireStyle
    ) -> Iterator[dict[str, Any]]:
        for index in range(end):
            with self.lock:
                stored = events[index]
            if stored.sequence is not None and stored.sequence >= from_seq:
                yield wire.event_change(stored, style)

    # -- records ----------------------------------------------------------------------------

    def record(self, conversation_id: str) -> ConversationRecord:
        """A frozen snapshot of one conversation; KeyError if unknown."""
        with self.lock:
            return _record(self.conversations[conversation_id])

    def records(self, consumer_id: str | None = None) -> list[ConversationRecord]:
        """Snapshots of every conversation (of one consumer), oldest first."""
        with self.lock:
            return [
                _record(c)
                for c in self.conversations.values()
                if consumer_id is None or c.consumer_id == consumer_id
            ]

    def wait(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait on ``changed`` until ``predicate()`` (called under the lock) is truthy."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


def _event(stored: StoredEvent) -> RecordedEvent:
    return RecordedEvent(
        conversation_id=stored.conversation_id,
        dialog_id=stored.dialog_id,
        sequence=stored.sequence,
        originator_id=stored.originator_id,
        role=stored.role,
        server_timestamp=stored.server_timestamp,
        event=dict(stored.event),
        metadata=tuple(dict(m) for m in stored.metadata),
    )


def _record(conversation: Conversation) -> ConversationRecord:
    dialogs = tuple(
        DialogRecord(
            dialog_id=d.dialog_id,
            dialog_type=d.dialog_type,
            state=d.state,
            participants=tuple(d.participants),
            creation_ts=d.creation_ts,
            end_ts=d.end_ts,
            closed_by=d.closed_by,
            closed_cause=d.closed_cause,
            next_sequence=d.next_sequence,
            channel_type=d.channel_type,
            meta_data=dict(d.meta_data) if d.meta_data is not None else None,
        )
        for d in conversation.dialogs.values()
    )
    events = tuple(_event(e) for d in conversation.dialogs.values() for e in d.events)
    return ConversationRecord(
        conversation_id=conversation.conversation_id,
        account=conversation.account,
        consumer_id=conversation.consumer_id,
        state=conversation.state,
        stage=conversation.stage,
        close_reason=conversation.close_reason,
        participants=tuple(conversation.participants),
        ttr=(conversation.ttr_type, conversation.ttr_value),
        csat=dict(conversation.csat) if conversation.csat is not None else None,
        skill_id=conversation.skill_id,
        start_ts=conversation.start_ts,
        end_ts=conversation.end_ts,
        dialogs=dialogs,
        events=events,
        context=dict(conversation.context) if conversation.context is not None else None,
        csat_submissions=tuple(
            dataclasses.replace(s, submitted=dict(s.submitted))
            for s in conversation.csat_submissions
        ),
    )
