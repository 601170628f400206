"""The sandbox's mutable in-memory objects: consumers' sessions, conversations, dialogs, events.

They are owned by :class:`lpbot.sandbox.world.World` and changed only on the sandbox's event-loop
thread while holding the world's lock; other threads read them through frozen records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lpbot.protocol.names import ConversationState, Role

from .records import CsatSubmission
from .variants import CANONICAL, WireStyle

__all__ = [
    "Conversation",
    "ConversationFilter",
    "Dialog",
    "Refused",
    "Session",
    "StoredEvent",
    "now_ms",
]


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, the unit of every protocol timestamp."""
    return int(time.time() * 1000)


class Refused(Exception):
    """A consumer request the server answers with an error ``code`` and a short string body."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True, kw_only=True)
class StoredEvent:
    """One event of a dialog as stored; ``sequence`` is None for chat states."""

    dialog_id: str
    conversation_id: str
    sequence: int | None
    originator_id: str
    role: str
    server_timestamp: int | None
    event: dict[str, Any]
    metadata: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Dialog:
    """A dialog: MAIN (id == conversation id), POST_SURVEY, or OTHER (CoBrowse, voice, video)."""

    dialog_id: str
    conversation_id: str
    dialog_type: str = "MAIN"
    channel_type: str = "MESSAGING"
    state: str = ConversationState.OPEN.value
    participants: list[tuple[str, str]] = field(default_factory=list)
    creation_ts: int = field(default_factory=now_ms)
    end_ts: int | None = None
    closed_by: str | None = None
    closed_cause: str | None = None
    meta_data: dict[str, Any] | None = None
    meta_data_last_update_ts: int = field(default_factory=now_ms)
    events: list[StoredEvent] = field(default_factory=list)
    next_sequence: int = 0
    subscribers: set[Session] = field(default_factory=set)

    @property
    def is_open(self) -> bool:
        """True while the dialog accepts content."""
        return self.state == ConversationState.OPEN.value

    @property
    def is_messaging(self) -> bool:
        """True for a dialog that carries messages (not a CoBrowse, voice or video session)."""
        return self.channel_type == "MESSAGING"


@dataclass(slots=True, kw_only=True)
class Conversation:
    """A conversation container with its dialogs and metadata (protocol notes §6.1)."""

    conversation_id: str
    account: str
    consumer_id: str
    skill_id: str = "-1"
    state: str = ConversationState.OPEN.value
    stage: str = ConversationState.OPEN.value
    close_reason: str | None = None
    participants: list[tuple[str, str]] = field(default_factory=list)
    ttr_type: str = "NORMAL"
    ttr_value: int = 3600
    csat: dict[str, Any] | None = None
    csat_submissions: list[CsatSubmission] = field(default_factory=list)
    start_ts: int = field(default_factory=now_ms)
    end_ts: int | None = None
    last_update: int = field(default_factory=now_ms)
    context: dict[str, Any] | None = None
    campaign: dict[str, Any] | None = None
    multi_dialog: bool = False
    features: frozenset[str] = frozenset()
    dialogs: dict[str, Dialog] = field(default_factory=dict)
    awaiting_agent_since: int | None = None

    @property
    def main(self) -> Dialog:
        """The MAIN dialog (same id as the conversation)."""
        return self.dialogs[self.conversation_id]

    @property
    def is_open(self) -> bool:
        """True while the main dialog is open (``state``; with multi-dialog, §7.2)."""
        return self.state == ConversationState.OPEN.value

    @property
    def survey_ran(self) -> bool:
        """True once a post-conversation survey dialog was opened (§7.7: then no CSAT)."""
        return any(d.dialog_type == "POST_SURVEY" for d in self.dialogs.values())

    @property
    def agent_id(self) -> str | None:
        """The ``ASSIGNED_AGENT`` participant, if any."""
        for participant_id, role in self.participants:
            if role == Role.ASSIGNED_AGENT.value:
                return participant_id
        return None


@dataclass(slots=True, kw_only=True)
class ConversationFilter:
    """The filter of one ``cqm.SubscribeExConversations`` subscription (protocol notes §5.5)."""

    conv_states: frozenset[str] | None = None
    stages: frozenset[str] | None = None
    min_last_updated: int = 0

    def matches(self, conversation: Conversation) -> bool:
        """True if ``conversation`` belongs in this subscription."""
        if self.conv_states is not None and conversation.state not in self.conv_states:
            return False
        if self.stages is not None and conversation.stage not in self.stages:
            return False
        return conversation.last_update >= self.min_last_updated


@dataclass(eq=False, slots=True, kw_only=True)
class Session:
    """One consumer WebSocket as the world sees it: identity, subscriptions, a way to send."""

    account: str
    send: Callable[[str], None]
    consumer_id: str | None = None
    authenticated: bool = False
    client_properties: dict[str, Any] = field(default_factory=dict)
    conversation_subscriptions: dict[str, ConversationFilter] = field(default_factory=dict)
    subscription_members: dict[str, set[str]] = field(default_factory=dict)
    dialogs: set[str] = field(default_factory=set)
    held: list[str] | None = None
    style: WireStyle = CANONICAL

    def emit(self, text: str) -> None:
        """Send a notification, or hold it while this session's request is being answered."""
        if self.held is not None:
            self.held.append(text)
        else:
            self.send(text)

    @property
    def consumer(self) -> str:
        """The consumer id of an initialized session."""
        if self.consumer_id is None:
            raise RuntimeError("session not initialized")
        return self.consumer_id

    @property
    def features(self) -> frozenset[str]:
        """The ``features`` the client declared in its client properties."""
        raw = self.client_properties.get("features")
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            return frozenset()
        return frozenset(str(item) for item in raw)
