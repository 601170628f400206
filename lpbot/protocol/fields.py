"""The ``conversationField`` values of ``cm.UpdateConversationField`` (protocol notes §5.4).

Re-exported by :mod:`lpbot.protocol.requests`; kept apart so each module has one concern.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lpbot.errors import ProtocolError
from lpbot.protocol.envelope import enum_or_str, enum_table, opt_int, opt_mapping, opt_str
from lpbot.protocol.names import ConversationState, TTRType

__all__ = [
    "CloseConversation",
    "CloseDialog",
    "CloseStage",
    "ConversationField",
    "CsatRate",
    "FieldNames",
    "RawField",
    "TtrChange",
    "parse_field",
]

_TTR_TYPES: Final = enum_table(TTRType)


class FieldNames:
    """The ``field`` discriminators a consumer sends (protocol notes §5.4.1-5)."""

    CONVERSATION_STATE: Final = "ConversationStateField"
    STAGE: Final = "Stage"
    DIALOG_CHANGE: Final = "DialogChange"
    CSAT_RATE: Final = "CSATRate"
    TTR: Final = "TTRField"


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseConversation:
    """Close the conversation (``ConversationStateField`` CLOSE, §5.4.1)."""

    def to_wire(self) -> dict[str, Any]:
        """Return the field object."""
        return {
            "field": FieldNames.CONVERSATION_STATE,
            "conversationState": ConversationState.CLOSE.value,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseStage:
    """Close the whole container and skip surveys (``Stage`` CLOSE, §5.4.2)."""

    def to_wire(self) -> dict[str, Any]:
        """Return the field object."""
        return {"field": FieldNames.STAGE, "conversationState": ConversationState.CLOSE.value}


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseDialog:
    """Close one dialog, e.g. the MAIN one so a survey can follow (``DialogChange``, §5.4.3)."""

    dialog_id: str
    closed_cause: str = "Closed by consumer"

    def to_wire(self) -> dict[str, Any]:
        """Return the field object."""
        return {
            "field": FieldNames.DIALOG_CHANGE,
            "type": "UPDATE",
            "dialog": {
                "dialogId": self.dialog_id,
                "state": ConversationState.CLOSE.value,
                "closedCause": self.closed_cause,
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CsatRate:
    """Legacy CSAT after close: 1-5, resolved or not (``CSATRate``, §5.4.4)."""

    rate: int
    resolution_confirmation: bool
    status: str = "FILLED"

    def to_wire(self) -> dict[str, Any]:
        """Return the field object."""
        return {
            "field": FieldNames.CSAT_RATE,
            "csatRate": self.rate,
            "csatResolutionConfirmation": self.resolution_confirmation,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TtrChange:
    """Change the time to respond (``TTRField``, §5.4.5); ``value`` in seconds."""

    ttr_type: TTRType | str
    value: int

    def to_wire(self) -> dict[str, Any]:
        """Return the field object."""
        return {"field": FieldNames.TTR, "ttrType": str(self.ttr_type), "value": self.value}


@dataclass(frozen=True, slots=True, kw_only=True)
class RawField:
    """Any other field object, sent as given (agent-side or undocumented fields, §5.4.6)."""

    mapping: Mapping[str, Any] = field(hash=False)

    def to_wire(self) -> dict[str, Any]:
        """Return the mapping as a dict."""
        return dict(self.mapping)


ConversationField = CloseConversation | CloseStage | CloseDialog | CsatRate | TtrChange | RawField


def parse_field(wire: Mapping[str, Any]) -> ConversationField:
    """Parse one field object; anything not recognised exactly becomes :class:`RawField`.

    Raises:
        ProtocolError: ``wire`` is not a JSON object.
    """
    if not isinstance(wire, Mapping):
        raise ProtocolError("conversationField is not an object", raw=repr(wire))
    name = wire.get("field")
    closing = wire.get("conversationState") == ConversationState.CLOSE
    if name == FieldNames.CONVERSATION_STATE and closing and len(wire) == 2:
        return CloseConversation()
    if name == FieldNames.STAGE and closing and len(wire) == 2:
        return CloseStage()
    if name == FieldNames.DIALOG_CHANGE and wire.get("type") == "UPDATE" and len(wire) == 3:
        dialog = opt_mapping(wire.get("dialog"))
        if dialog is not None and dialog.get("state") == ConversationState.CLOSE:
            dialog_id = opt_str(dialog.get("dialogId"))
            cause = dialog.get("closedCause")
            if dialog_id is not None and type(cause) is str and len(dialog) == 3:
                return CloseDialog(dialog_id=dialog_id, closed_cause=cause)
    if name == FieldNames.CSAT_RATE and len(wire) == 4:
        rate = wire.get("csatRate")
        confirmation = wire.get("csatResolutionConfirmation")
        status = wire.get("status")
        if type(rate) is int and type(confirmation) is bool and type(status) is str:
            return CsatRate(rate=rate, resolution_confirmation=confirmation, status=status)
    if name == FieldNames.TTR and len(wire) == 3:
        ttr_type = enum_or_str(_TTR_TYPES, wire.get("ttrType"))
        value = opt_int(wire.get("value"))
        if ttr_type is not None and value is not None and type(wire.get("value")) is int:
            return TtrChange(ttr_type=ttr_type, value=value)
    return RawField(mapping=wire)
