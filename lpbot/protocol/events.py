"""Messaging events, the payload of a dialog (protocol notes §5.8), as frozen values.

Parsing is lenient on purpose: an event of an unknown type, or a known type with an unusable
shape, becomes :class:`UnknownEvent` carrying its raw mapping, so one odd event never costs the
rest of a notification (and its sequence number still reaches the client).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from lpbot.errors import ProtocolError
from lpbot.protocol.envelope import (
    enum_or_str,
    enum_table,
    opt_mapping,
    opt_str,
    positional_builder,
)
from lpbot.protocol.names import AcceptStatus, ChatState

__all__ = [
    "AcceptStatusEvent",
    "ChatStateEvent",
    "ContentEvent",
    "ContentTypes",
    "Event",
    "EventTypes",
    "HostedFile",
    "RichContentEvent",
    "UnknownEvent",
    "parse_event",
]


class EventTypes:
    """``event.type`` values (protocol notes §5.8); ``RichContent`` is an older schema spelling."""

    CONTENT: Final = "ContentEvent"
    RICH_CONTENT: Final = "RichContentEvent"
    RICH_CONTENT_LEGACY: Final = "RichContent"
    ACCEPT_STATUS: Final = "AcceptStatusEvent"
    CHAT_STATE: Final = "ChatStateEvent"


class ContentTypes:
    """``ContentEvent.contentType`` values; the schema spells hosted files ``HostedFile`` (§9)."""

    TEXT_PLAIN: Final = "text/plain"
    HOSTED_FILE: Final = "hosted/file"
    HOSTED_FILE_SCHEMA: Final = "HostedFile"


_HOSTED_FILE_TYPES: Final = frozenset({ContentTypes.HOSTED_FILE, ContentTypes.HOSTED_FILE_SCHEMA})
_CHAT_STATES: Final = enum_table(ChatState)
_ACCEPT_STATUSES: Final = enum_table(AcceptStatus)


def _raw_field() -> Any:
    return field(default_factory=dict, repr=False, compare=False, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostedFile:
    """The ``message`` of a hosted-file ContentEvent (protocol notes §5.8.2)."""

    relative_path: str
    file_type: str
    caption: str | None = None
    preview: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentEvent:
    """Text or a hosted file (protocol notes §5.8.1-2); agents may add ``quick_replies``.

    Example:
        >>> ContentEvent.text_plain("hi").to_wire()
        {'type': 'ContentEvent', 'contentType': 'text/plain', 'message': 'hi'}
    """

    type_name: ClassVar[str] = EventTypes.CONTENT

    content_type: str
    message: Any = field(hash=False)
    quick_replies: Mapping[str, Any] | None = field(default=None, hash=False)
    raw: Mapping[str, Any] = _raw_field()

    @property
    def text(self) -> str | None:
        """The message when this is ``text/plain`` text, else ``None``."""
        message = self.message
        if self.content_type == ContentTypes.TEXT_PLAIN and type(message) is str:
            return message
        return None

    @property
    def is_hosted_file(self) -> bool:
        """True for ``hosted/file`` (and the schema's ``HostedFile``) content."""
        return self.content_type in _HOSTED_FILE_TYPES

    @property
    def file(self) -> HostedFile | None:
        """The hosted file this event points to, or ``None`` (not a file, or unusable)."""
        message = self.message
        if not self.is_hosted_file or not isinstance(message, Mapping):
            return None
        path = opt_str(message.get("relativePath"))
        if path is None:
            return None
        return HostedFile(
            relative_path=path,
            file_type=opt_str(message.get("fileType")) or "",
            caption=opt_str(message.get("caption")),
            preview=opt_str(message.get("preview")),
        )

    @classmethod
    def text_plain(cls, text: str) -> ContentEvent:
        """Build a ``text/plain`` message."""
        return cls(content_type=ContentTypes.TEXT_PLAIN, message=text)

    @classmethod
    def hosted_file(
        cls, relative_path: str, file_type: str, caption: str, preview: str | None = None
    ) -> ContentEvent:
        """Build a hosted-file message for a file uploaded through GenerateURLForUploadFile."""
        message: dict[str, Any] = {
            "caption": caption,
            "relativePath": relative_path,
            "fileType": file_type,
        }
        if preview is not None:
            message["preview"] = preview
        return cls(content_type=ContentTypes.HOSTED_FILE, message=message)

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ContentEvent | UnknownEvent:
        """Build from an ``event`` object; UnknownEvent when ``contentType`` is unusable."""
        content_type = wire.get("contentType")
        if type(content_type) is not str:
            return UnknownEvent(event_type=EventTypes.CONTENT, raw=wire)
        quick = wire.get("quickReplies")
        if quick is not None and not isinstance(quick, Mapping):
            quick = None
        return _build_content_event(content_type, wire.get("message"), quick, wire)

    def to_wire(self) -> dict[str, Any]:
        """Return the ``event`` object as sent in ``ms.PublishEvent``."""
        wire: dict[str, Any] = {
            "type": EventTypes.CONTENT,
            "contentType": self.content_type,
            "message": self.message,
        }
        if self.quick_replies is not None:
            wire["quickReplies"] = self.quick_replies
        return wire


_build_content_event: Final = positional_builder(ContentEvent)


@dataclass(frozen=True, slots=True, kw_only=True)
class RichContentEvent:
    """Structured content (protocol notes §5.8.3), passed through intact.

    Read from ``content`` (real traffic) or ``message`` (the schema); always written as
    ``content``.
    """

    type_name: ClassVar[str] = EventTypes.RICH_CONTENT

    content: Mapping[str, Any] = field(hash=False)
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> RichContentEvent | UnknownEvent:
        """Build from an ``event`` object; UnknownEvent when there is no content object."""
        content = opt_mapping(wire.get("content"))
        if content is None:
            content = opt_mapping(wire.get("message"))
            if content is None:
                return UnknownEvent(event_type=opt_str(wire.get("type")) or "", raw=wire)
        return cls(content=content, raw=wire)

    def to_wire(self) -> dict[str, Any]:
        """Return the ``event`` object in its canonical form (``content``)."""
        return {"type": EventTypes.RICH_CONTENT, "content": self.content}


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptStatusEvent:
    """A receipt or survey action for earlier events (protocol notes §5.8.4)."""

    type_name: ClassVar[str] = EventTypes.ACCEPT_STATUS

    status: AcceptStatus | str
    sequence_list: tuple[int, ...]
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def accept(cls, sequences: Iterable[int]) -> AcceptStatusEvent:
        """Delivered to the device."""
        return cls(status=AcceptStatus.ACCEPT, sequence_list=tuple(sequences))

    @classmethod
    def read(cls, sequences: Iterable[int]) -> AcceptStatusEvent:
        """Shown to the user."""
        return cls(status=AcceptStatus.READ, sequence_list=tuple(sequences))

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> AcceptStatusEvent | UnknownEvent:
        """Build from an ``event`` object; a single sequence stands for a list (§4.2)."""
        status = enum_or_str(_ACCEPT_STATUSES, wire.get("status"))
        sequences = wire.get("sequenceList")
        if type(sequences) is int:
            sequences = [sequences]
        if (
            status is None
            or type(sequences) is not list
            or not all(type(seq) is int for seq in sequences)
        ):
            return UnknownEvent(event_type=EventTypes.ACCEPT_STATUS, raw=wire)
        return cls(status=status, sequence_list=tuple(sequences), raw=wire)

    def to_wire(self) -> dict[str, Any]:
        """Return the ``event`` object."""
        return {
            "type": EventTypes.ACCEPT_STATUS,
            "status": str(self.status),
            "sequenceList": list(self.sequence_list),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatStateEvent:
    """Typing / presence (protocol notes §5.8.5); never sequenced."""

    type_name: ClassVar[str] = EventTypes.CHAT_STATE

    chat_state: ChatState | str
    raw: Mapping[str, Any] = _raw_field()

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> ChatStateEvent | UnknownEvent:
        """Build from an ``event`` object; an undocumented state is kept as a string."""
        state = enum_or_str(_CHAT_STATES, wire.get("chatState"))
        if state is None:
            return UnknownEvent(event_type=EventTypes.CHAT_STATE, raw=wire)
        return cls(chat_state=state, raw=wire)

    def to_wire(self) -> dict[str, Any]:
        """Return the ``event`` object."""
        return {"type": EventTypes.CHAT_STATE, "chatState": str(self.chat_state)}


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent:
    """An event lpbot cannot read: unknown ``type``, or a known type with an unusable shape.

    ``event_type`` is the wire ``type`` ("" when absent); ``raw`` is the event as received.
    """

    event_type: str
    raw: Mapping[str, Any] = _raw_field()

    def to_wire(self) -> dict[str, Any]:
        """Return the raw event unchanged."""
        return dict(self.raw)


Event = ContentEvent | RichContentEvent | AcceptStatusEvent | ChatStateEvent | UnknownEvent

_PARSERS: Final[Mapping[str, Callable[[Mapping[str, Any]], Event]]] = {
    EventTypes.CONTENT: ContentEvent.from_wire,
    EventTypes.RICH_CONTENT: RichContentEvent.from_wire,
    EventTypes.RICH_CONTENT_LEGACY: RichContentEvent.from_wire,
    EventTypes.ACCEPT_STATUS: AcceptStatusEvent.from_wire,
    EventTypes.CHAT_STATE: ChatStateEvent.from_wire,
}


def parse_event(wire: Mapping[str, Any]) -> Event:
    """Parse one ``event`` object; never raises for an unknown type.

    Raises:
        ProtocolError: ``wire`` is not a JSON object.
    """
    if type(wire) is not dict and not isinstance(wire, Mapping):
        raise ProtocolError("event is not an object", raw=repr(wire))
    event_type = wire.get("type")
    if type(event_type) is str:
        parser = _PARSERS.get(event_type)
        if parser is not None:
            return parser(wire)
        return UnknownEvent(event_type=event_type, raw=wire)
    return UnknownEvent(event_type="", raw=wire)
