"""``cm.UpdateConversationField`` variants (protocol notes §5.4): close, stage, dialog, CSAT, TTR.

All fields of one request are validated before any is applied, so a request is all or nothing.
Agent-only fields are refused with 403 (protocol notes §8.4). A conversation is rated once: a second
``CSATRate`` is refused with 400 (the docs say nothing of re-rating); every CSAT submission,
accepted or refused, is kept in the conversation's record for tests to inspect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lpbot.protocol.names import ConversationState, Role, TTRType

from .model import Conversation, Refused, now_ms
from .records import CsatSubmission
from .rules import Rules
from .world import World

__all__ = ["AGENT_ONLY_FIELDS", "apply_fields"]

AGENT_ONLY_FIELDS = frozenset(
    {"ParticipantsChange", "Skill", "SkillField", "DelayField", "ManualETTR", "Note", "TopicField"}
)
_CLOSE = ConversationState.CLOSE.value
_CSAT_STATUSES = ("FILLED", "PARTIALLY_FILLED", "SKIPPED")
_TTR_TYPES = tuple(t.value for t in TTRType)

Change = Callable[[], bool]  # applies one field; True if it already sent the notification


def apply_fields(
    world: World, conversation: Conversation, fields: list[Any], rules: Rules | None = None
) -> str:
    """Validate then apply ``fields``; return the success body or raise Refused."""
    rules = rules if rules is not None else Rules()
    ratings = [f for f in fields if isinstance(f, dict) and f.get("field") == "CSATRate"]
    try:
        if len(ratings) > 1:
            raise Refused(400, "one CSATRate per request")
        changes = [_validate(world, conversation, field, rules) for field in fields]
    except Refused as refused:
        _record_ratings(world, conversation, ratings, refused.code, refused.message)
        raise
    notified = False
    with world.lock:
        _record_ratings(world, conversation, ratings, 200, None)
        for change in changes:
            notified = change() or notified
        if not notified:
            world.conversation_changed(conversation)
    return "OK Conversation updated successfully"


def _record_ratings(
    world: World, conversation: Conversation, ratings: list[Any], code: int, reason: str | None
) -> None:
    """Keep each CSAT submission of a request with the request's outcome."""
    if not ratings:
        return
    with world.lock:
        for rating in ratings:
            conversation.csat_submissions.append(
                CsatSubmission(submitted=dict(rating), code=code, reason=reason, timestamp=now_ms())
            )
        world.changed.notify_all()


def _validate(world: World, conversation: Conversation, field: Any, rules: Rules) -> Change:
    if not isinstance(field, dict):
        raise Refused(400, "conversationField must be an object")
    name = field.get("field")
    if name in AGENT_ONLY_FIELDS:
        raise Refused(403, f"{name} may only be changed by an agent")
    if name == "ConversationStateField":
        return _state(world, conversation, field)
    if name == "Stage":
        return _stage(world, conversation, field)
    if name == "DialogChange":
        return _dialog(world, conversation, field)
    if name == "CSATRate":
        return _csat(conversation, field, rules)
    if name == "TTRField":
        return _ttr(conversation, field)
    raise Refused(400, f"unknown conversation field {name!r}")


def _state(world: World, conversation: Conversation, field: dict[str, Any]) -> Change:
    if field.get("conversationState") != _CLOSE:
        raise Refused(400, "conversationState must be CLOSE")
    if conversation.stage == _CLOSE:
        raise Refused(400, "conversation is already closed")

    def change() -> bool:
        world.close_conversation(
            conversation, reason=Role.CONSUMER.value, cause="Closed by consumer"
        )
        return True

    return change


def _stage(world: World, conversation: Conversation, field: dict[str, Any]) -> Change:
    if field.get("conversationState") != _CLOSE:
        raise Refused(400, "conversationState must be CLOSE")
    if conversation.stage == _CLOSE:
        raise Refused(400, "conversation is already closed")

    def change() -> bool:
        world.close_conversation(
            conversation, reason=Role.CONSUMER.value, cause="Closed by consumer"
        )
        return True

    return change


def _dialog(world: World, conversation: Conversation, field: dict[str, Any]) -> Change:
    dialog_data = field.get("dialog")
    if field.get("type", "UPDATE") != "UPDATE" or not isinstance(dialog_data, dict):
        raise Refused(400, "DialogChange needs type UPDATE and a dialog")
    dialog = conversation.dialogs.get(str(dialog_data.get("dialogId")))
    if dialog is None:
        raise Refused(400, f"unknown dialog {dialog_data.get('dialogId')}")
    if dialog_data.get("state") != _CLOSE:
        raise Refused(400, "dialog state must be CLOSE")
    if not dialog.is_open:
        raise Refused(400, f"dialog {dialog.dialog_id} is already closed")
    cause = dialog_data.get("closedCause", "Closed by consumer")
    cause = cause if isinstance(cause, str) else "Closed by consumer"

    def change() -> bool:
        consumer = Role.CONSUMER.value
        if dialog is conversation.main:
            survey = world.survey
            if conversation.multi_dialog and conversation.agent_id and survey is not None:
                world.close_dialog(dialog, closed_by=consumer, cause=cause)
                conversation.state = _CLOSE
                conversation.close_reason = consumer
                conversation.awaiting_agent_since = None
                survey(conversation)
                return True
            world.close_conversation(conversation, reason=consumer, cause=cause)
            return True
        world.close_dialog(dialog, closed_by=consumer, cause=cause)
        if not any(d.is_open for d in conversation.dialogs.values()):
            world.close_conversation(conversation, reason=conversation.close_reason or consumer)
            return True
        return False

    return change


def _csat(conversation: Conversation, field: dict[str, Any], rules: Rules) -> Change:
    rules.csat(field, survey_ran=conversation.survey_ran)
    rate = field.get("csatRate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 5:
        raise Refused(400, "csatRate must be an integer from 1 to 5")
    resolved = field.get("csatResolutionConfirmation")
    if resolved is not None and not isinstance(resolved, bool):
        raise Refused(400, "csatResolutionConfirmation must be a boolean")
    status = field.get("status", "FILLED")
    if status not in _CSAT_STATUSES:
        raise Refused(400, f"status must be one of {', '.join(_CSAT_STATUSES)}")
    if conversation.state != _CLOSE:
        raise Refused(400, "CSAT is accepted only after the conversation is closed")
    if conversation.csat is not None:
        raise Refused(400, "conversation already rated")

    def change() -> bool:
        conversation.csat = {
            "field": "CSATRate",
            "csatRate": rate,
            "csatResolutionConfirmation": resolved,
            "status": status,
        }
        return False

    return change


def _ttr(conversation: Conversation, field: dict[str, Any]) -> Change:
    ttr_type = field.get("ttrType")
    value = field.get("value")
    if ttr_type not in _TTR_TYPES:
        raise Refused(400, f"ttrType must be one of {', '.join(_TTR_TYPES)}")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Refused(400, "value must be a non-negative integer")
    if not conversation.is_open:
        raise Refused(400, "conversation is closed")

    def change() -> bool:
        conversation.ttr_type = str(ttr_type)
        conversation.ttr_value = value
        return False

    return change
