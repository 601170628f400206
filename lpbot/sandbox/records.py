"""Frozen snapshots of the sandbox's state that tests read: conversations and their events.

These are values (house style §3.7): taking one copies the state under the world's lock, so a
test can compare what a client saw with what the server did without racing the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConversationRecord",
    "CsatSubmission",
    "DialogRecord",
    "RecordedEvent",
    "SocketSubscriptions",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEvent:
    """One published event as the server stored it; ``sequence`` is None for chat states."""

    conversation_id: str
    dialog_id: str
    sequence: int | None
    originator_id: str
    role: str
    server_timestamp: int | None
    event: dict[str, Any] = field(hash=False)
    metadata: tuple[dict[str, Any], ...] = field(default=(), hash=False)

    @property
    def event_type(self) -> str:
        """The event's ``type`` (``ContentEvent``, ``ChatStateEvent``...)."""
        return str(self.event.get("type", ""))

    @property
    def text(self) -> str | None:
        """The message of a ``text/plain`` ContentEvent, else None."""
        if (
            self.event.get("type") == "ContentEvent"
            and self.event.get("contentType") == "text/plain"
        ):
            message = self.event.get("message")
            return message if isinstance(message, str) else None
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class CsatSubmission:
    """One ``CSATRate`` field a consumer sent, accepted (``code`` 200) or refused.

    Refused ones are kept too, so a test can see that a client rated twice or rated too early.
    """

    submitted: dict[str, Any] = field(hash=False)
    code: int
    reason: str | None
    timestamp: int

    @property
    def accepted(self) -> bool:
        """True if this submission became the conversation's CSAT."""
        return self.code == 200

    @property
    def rate(self) -> Any:
        """The ``csatRate`` as sent (an int from 1 to 5 when accepted)."""
        return self.submitted.get("csatRate")


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogRecord:
    """One dialog of a conversation (MAIN, POST_SURVEY, or OTHER: CoBrowse, voice, video)."""

    dialog_id: str
    dialog_type: str
    state: str
    participants: tuple[tuple[str, str], ...]
    creation_ts: int
    end_ts: int | None
    closed_by: str | None
    closed_cause: str | None
    next_sequence: int
    channel_type: str = "MESSAGING"
    #: the invitation of a CoBrowse dialog (mode, sessionState...), the survey's appInstallId
    meta_data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRecord:
    """A conversation's full record: metadata plus every event of every dialog, in order."""

    conversation_id: str
    account: str
    consumer_id: str
    state: str
    stage: str
    close_reason: str | None
    participants: tuple[tuple[str, str], ...]
    ttr: tuple[str, int]
    csat: dict[str, Any] | None = field(hash=False)
    skill_id: str
    start_ts: int
    end_ts: int | None
    dialogs: tuple[DialogRecord, ...]
    events: tuple[RecordedEvent, ...]
    context: dict[str, Any] | None = field(default=None, hash=False)
    #: every CSAT submission, in order; ``csat`` is the accepted one
    csat_submissions: tuple[CsatSubmission, ...] = ()

    @property
    def assigned_agent_id(self) -> str | None:
        """The ``ASSIGNED_AGENT`` participant, if any."""
        for participant_id, role in self.participants:
            if role == "ASSIGNED_AGENT":
                return participant_id
        return None

    def texts(self, role: str | None = None) -> list[str]:
        """The text messages of the conversation, optionally only those sent with ``role``."""
        return [
            e.text for e in self.events if e.text is not None and (role is None or e.role == role)
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class SocketSubscriptions:
    """What one live consumer socket is subscribed to, as the server sees it."""

    #: ids of its ``cqm.SubscribeExConversations`` subscriptions still in force (§5.5, §5.6)
    conversation_streams: tuple[str, ...]
    #: dialogs whose events it receives (``ms.SubscribeMessagingEvents``, §5.7)
    dialogs: frozenset[str]
