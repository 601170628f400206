"""Server notifications (protocol notes §6) as frozen values: conversations and messaging events.

Dispatch is by type *suffix* (``cqm.``, ``aam.``, ``.ams.aam.`` spellings all occur, §4.4, §9);
a type lpbot does not know becomes :class:`UnknownNotification`. Both participant shapes
(``participants`` list, ``participantsPId`` map) and the older single-event
``OnlineEventDistribution`` body are accepted (§6.3, §9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from lpbot.errors import ProtocolError
from lpbot.protocol.envelope import (
    as_list,
    enum_or_str,
    enum_table,
    opt_int,
    opt_mapping,
    opt_str,
    positional_builder,
    require_objects,
    require_str,
)
from lpbot.protocol.events import Event, parse_event
from lpbot.protocol.names import (
    ConversationState,
    Notifications,
    Role,
    TTRType,
    notification_kind,
)

__all__ = [
    "ConversationChange",
    "ConversationDetails",
    "Csat",
    "Dialog",
    "ExConversationChangeNotification",
    "MessagingEvent",
    "MessagingEventNotification",
    "Notification",
    "Participant",
    "Ttr",
    "UnknownNotification",
    "parse_notification",
]

_ROLES: Final = enum_table(Role)
# Hot-path note: ``type(x) is dict`` comes before ``isinstance(x, Mapping)`` (an ABC check,
# ~0.1 us) because decoded JSON objects are always dicts.
# The spellings the v=3 endpoint sends, looked up before the suffix scan (§4.4).
_KINDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        Notifications.MESSAGING_EVENT: Notifications.MESSAGING_EVENT_SUFFIX,
        Notifications.CONVERSATION_CHANGE: Notifications.CONVERSATION_CHANGE_SUFFIX,
    }
)
_STATES: Final = enum_table(ConversationState)
_TTR_TYPES: Final = enum_table(TTRType)


def _raw_field() -> Any:
    return field(default_factory=dict, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """A participant of a conversation or dialog; ``role`` is ``""`` when the wire gave none."""

    id: str
    role: Role | str
    state: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ttr:
    """Time to respond: a label and the SLA in seconds (protocol notes §5.4.5, §7.6)."""

    ttr_type: TTRType | str
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Csat:
    """Legacy CSAT as reported in ``conversationDetails.csat`` (protocol notes §5.4.4, §7.7)."""

    rate: int
    resolution_confirmation: bool | None = None
    status: str | None = None


def _participant_list(items: object) -> tuple[Participant, ...]:
    result = []
    for item in as_list(items):
        if isinstance(item, Mapping):
            pid = opt_str(item.get("id"))
            if pid is not None:
                role = enum_or_str(_ROLES, item.get("role"))
                state = opt_str(item.get("state"))
                result.append(Participant(id=pid, role="" if role is None else role, state=state))
        else:
            pid = opt_str(item)  # older dialog form: a bare id list (§6.1 Example D)
            if pid is not None:
                result.append(Participant(id=pid, role=""))
    return tuple(result)


def _participant_map(pid_map: Mapping[str, Any]) -> tuple[Participant, ...]:
    result = []
    for role_name, ids in pid_map.items():
        role = enum_or_str(_ROLES, role_name) or ""
        for pid in as_list(ids):
            text = opt_str(pid)
            if text is not None:
                result.append(Participant(id=text, role=role))
    return tuple(result)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialog:
    """One dialog of a conversation: MAIN, POST_SURVEY, or OTHER such as CoBrowse (§6.1)."""

    dialog_id: str
    dialog_type: str | None = None
    channel_type: str | None = None
    state: ConversationState | str | None = None
    participants: tuple[Participant, ...] = ()
    closed_by: str | None = None
    closed_cause: str | None = None
    creation_ts: int | None = None
    end_ts: int | None = None
    meta_data: Mapping[str, Any] | None = field(default=None, hash=False)
    raw: Mapping[str, Any] = _raw_field()

    @property
    def is_open(self) -> bool:
        """True while the dialog's state is OPEN."""
        return self.state == ConversationState.OPEN

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Dialog:
        """Build from one ``dialogs[]`` element (``participantsDetails`` or bare ids)."""
        details = wire.get("participantsDetails")
        participants = _participant_list(
            details if details is not None else wire.get("participants")
        )
        return cls(
            dialog_id=require_str(wire.get("dialogId"), "dialogId"),
            dialog_type=opt_str(wire.get("dialogType")),
            channel_type=opt_str(wire.get("channelType")),
            state=enum_or_str(_STATES, wire.get("state")),
            participants=participants,
            closed_by=opt_str(wire.get("closedBy")),
            closed_cause=opt_str(wire.get("closedCause")),
            creation_ts=opt_int(wire.get("creationTs")),
            end_ts=opt_int(wire.get("endTs")),
            meta_data=opt_mapping(wire.get("metaData")),
            raw=wire,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationDetails:
    """A snapshot of one conversation's metadata (``conversationDetails``, protocol notes §6.1).

    With multi-dialog, ``state`` is the MAIN dialog's and ``stage`` the whole container's.
    ``conversation_id`` is filled in from the enclosing change (``convId``).
    """

    conversation_id: str | None = None
    participants: tuple[Participant, ...] = ()
    state: ConversationState | str | None = None
    stage: ConversationState | str | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    close_reason: str | None = None
    ttr: Ttr | None = None
    csat: Csat | None = None
    skill_id: str | None = None
    brand_id: str | None = None
    dialogs: tuple[Dialog, ...] = ()
    meta_data_last_update_ts: int | None = None
    raw: Mapping[str, Any] = _raw_field()

    def _first(self, role: Role) -> str | None:
        for participant in self.participants:
            if participant.role == role:
                return participant.id
        return None

    @property
    def consumer_id(self) -> str | None:
        """The CONSUMER participant's id."""
        return self._first(Role.CONSUMER)

    @property
    def assigned_agent_id(self) -> str | None:
        """The ASSIGNED_AGENT's id (the agent whose public profile a client shows), if any."""
        return self._first(Role.ASSIGNED_AGENT)

    @property
    def is_open(self) -> bool:
        """True while ``state`` (the MAIN dialog's state) is OPEN."""
        return self.state == ConversationState.OPEN

    @property
    def open_dialog_ids(self) -> tuple[str, ...]:
        """Ids of the OPEN dialogs; without a ``dialogs`` list, the main dialog (§7.3)."""
        if self.dialogs:
            return tuple(d.dialog_id for d in self.dialogs if d.is_open)
        if self.is_open and self.conversation_id is not None:
            return (self.conversation_id,)
        return ()

    @classmethod
    def from_wire(
        cls, wire: Mapping[str, Any], *, conversation_id: str | None = None
    ) -> ConversationDetails:
        """Build from ``conversationDetails``, merging ``participants`` and ``participantsPId``."""
        participants = _participant_list(wire.get("participants"))
        pid_map = wire.get("participantsPId")
        if isinstance(pid_map, Mapping):
            seen = {(p.id, p.role) for p in participants}
            extra = tuple(p for p in _participant_map(pid_map) if (p.id, p.role) not in seen)
            participants += extra
        return cls(
            conversation_id=conversation_id,
            participants=participants,
            state=enum_or_str(_STATES, wire.get("state")),
            stage=enum_or_str(_STATES, wire.get("stage")),
            start_ts=opt_int(wire.get("startTs")),
            end_ts=opt_int(wire.get("endTs")),
            close_reason=opt_str(wire.get("closeReason")),
            ttr=_ttr(wire.get("ttr")),
            csat=_csat(wire.get("csat"), wire.get("csatRate")),
            skill_id=opt_str(wire.get("skillId")),
            brand_id=opt_str(wire.get("brandId")),
            dialogs=tuple(
                Dialog.from_wire(d) for d in as_list(wire.get("dialogs")) if isinstance(d, Mapping)
            ),
            meta_data_last_update_ts=opt_int(wire.get("metaDataLastUpdateTs")),
            raw=wire,
        )


def _ttr(value: object) -> Ttr | None:
    if not isinstance(value, Mapping):
        return None
    ttr_type = enum_or_str(_TTR_TYPES, value.get("ttrType"))
    seconds = opt_int(value.get("value"))
    if ttr_type is None or seconds is None:
        return None
    return Ttr(ttr_type=ttr_type, value=seconds)


def _csat(value: object, flat_rate: object) -> Csat | None:
    if isinstance(value, Mapping):
        rate = opt_int(value.get("csatRate"))
        if rate is not None:
            confirmation = value.get("csatResolutionConfirmation")
            return Csat(
                rate=rate,
                resolution_confirmation=confirmation if type(confirmation) is bool else None,
                status=opt_str(value.get("status")),
            )
    rate = opt_int(flat_rate)  # agent-side payloads carry a bare ``csatRate`` (§6.1 "other")
    return None if rate is None else Csat(rate=rate)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationChange:
    """One ``changes[]`` element: an UPSERT with details, or a DELETE (left the stream)."""

    change_type: str
    conversation_id: str
    details: ConversationDetails | None = None
    last_update_time: int | None = None
    effective_ttr: int | None = None
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ConversationChange:
        """Build from one change; ProtocolError without a ``result.convId``."""
        result = wire.get("result")
        if not isinstance(result, Mapping):
            raise ProtocolError("conversation change without result", raw=repr(wire))
        conversation_id = require_str(result.get("convId"), "convId")
        details = result.get("conversationDetails")
        return cls(
            change_type=opt_str(wire.get("type")) or "",
            conversation_id=conversation_id,
            details=(
                ConversationDetails.from_wire(details, conversation_id=conversation_id)
                if isinstance(details, Mapping)
                else None
            ),
            last_update_time=opt_int(result.get("lastUpdateTime")),
            effective_ttr=opt_int(result.get("effectiveTTR")),
            raw=wire,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ExConversationChangeNotification:
    """Conversation metadata changes of a ``SubscribeExConversations`` stream (§6.1)."""

    subscription_id: str | None
    changes: tuple[ConversationChange, ...]
    notification_type: str = Notifications.CONVERSATION_CHANGE
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(
        cls, body: Mapping[str, Any], *, notification_type: str, raw: Mapping[str, Any]
    ) -> ExConversationChangeNotification:
        """Build from the notification ``body``; ``raw`` is the whole frame."""
        return cls(
            subscription_id=opt_str(body.get("subscriptionId")),
            changes=tuple(
                ConversationChange.from_wire(c)
                for c in require_objects(body.get("changes"), "changes")
            ),
            notification_type=notification_type,
            raw=raw,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingEvent:
    """One event of a dialog's stream (``changes[]`` of ``ms.MessagingEventNotification``).

    ``sequence`` and ``server_timestamp`` are ``None`` for chat states (never sequenced, §5.8.5);
    ``role`` comes from ``originatorMetadata``; ``metadata`` is relayed request metadata
    (survey questions, §4.3).
    """

    conversation_id: str | None
    dialog_id: str
    sequence: int | None
    originator_id: str | None
    role: Role | str | None
    server_timestamp: int | None
    event: Event
    metadata: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> MessagingEvent:
        """Build from one change (or an older OnlineEventDistribution body, §6.3)."""
        # Hot path (one call per received message): common shapes take the first branch.
        event = wire.get("event")
        if type(event) is not dict and not isinstance(event, Mapping):
            raise ProtocolError("messaging event without an event object", raw=repr(wire))
        dialog_id = wire.get("dialogId")
        if type(dialog_id) is not str:
            dialog_id = require_str(dialog_id, "dialogId")
        sequence = wire.get("sequence")
        if sequence is not None and type(sequence) is not int:
            sequence = opt_int(sequence)
            if sequence is None:
                raise ProtocolError("messaging event with a non-integer sequence", raw=repr(wire))
        originator = wire.get("originatorId")
        if type(originator) is not str:
            originator = opt_str(wire.get("originatorPId") if originator is None else originator)
        role_meta = wire.get("originatorMetadata")
        role = None
        if type(role_meta) is dict or isinstance(role_meta, Mapping):
            role = role_meta.get("role")
            role = _ROLES.get(role, role) if type(role) is str else None
        conversation_id = wire.get("conversationId")
        if conversation_id is not None and type(conversation_id) is not str:
            conversation_id = opt_str(conversation_id)
        timestamp = wire.get("serverTimestamp")
        if timestamp is not None and type(timestamp) is not int:
            timestamp = opt_int(timestamp)
        metadata = wire.get("metadata")
        return _build_messaging_event(
            conversation_id,
            dialog_id,
            sequence,
            originator,
            role,
            timestamp,
            parse_event(event),
            tuple(m for m in as_list(metadata) if isinstance(m, Mapping)) if metadata else (),
            wire,
        )


_build_messaging_event: Final = positional_builder(MessagingEvent)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingEventNotification:
    """A batch of messaging events (§6.2); the first after subscribing holds the backlog."""

    changes: tuple[MessagingEvent, ...]
    notification_type: str = Notifications.MESSAGING_EVENT
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(
        cls, body: Mapping[str, Any], *, notification_type: str, raw: Mapping[str, Any]
    ) -> MessagingEventNotification:
        """Build from the ``body``: a ``changes`` list, or one event without ``changes``."""
        changes = body.get("changes")
        events: tuple[MessagingEvent, ...]
        if type(changes) is list and len(changes) == 1 and type(changes[0]) is dict:
            events = (MessagingEvent.from_wire(changes[0]),)  # the usual live notification
        elif changes is None and "event" in body:
            events = (MessagingEvent.from_wire(body),)
        else:
            events = tuple(MessagingEvent.from_wire(c) for c in require_objects(changes, "changes"))
        return _build_messaging_notification(events, notification_type, raw)


_build_messaging_notification: Final = positional_builder(MessagingEventNotification)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownNotification:
    """A notification of a type lpbot does not know; kept whole in ``raw`` (the frame)."""

    notification_type: str
    raw: Mapping[str, Any] = _raw_field()


Notification = ExConversationChangeNotification | MessagingEventNotification | UnknownNotification


def parse_notification(frame: Mapping[str, Any]) -> Notification:
    """Parse a ``kind: notification`` frame, dispatching on its type suffix (§4.4).

    Raises:
        ProtocolError: no string ``type``, or a known type whose body cannot be read.
    """
    notification_type = frame.get("type")
    if type(notification_type) is not str:
        raise ProtocolError("notification without a type", raw=repr(frame))
    kind = _KINDS.get(notification_type)
    if kind is None:
        kind = notification_kind(notification_type)
    if kind is None:
        return UnknownNotification(notification_type=notification_type, raw=frame)
    body = frame.get("body")
    if type(body) is not dict and not isinstance(body, Mapping):
        raise ProtocolError(f"{notification_type} without a body object", raw=repr(frame))
    if kind == Notifications.CONVERSATION_CHANGE_SUFFIX:
        return ExConversationChangeNotification.from_wire(
            body, notification_type=notification_type, raw=frame
        )
    return MessagingEventNotification.from_wire(
        body, notification_type=notification_type, raw=frame
    )
