"""The sandbox's own JSON encoding of responses and notifications (protocol.md §4-§6).

Written against the documented payloads in ``shared/fixtures/documented``, independently of the
client's codec (house style §3.1): the two sides meet only at the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lpbot.protocol.names import Kind, Notifications, Responses

from .model import Conversation, Dialog, StoredEvent

__all__ = [
    "conversation_change",
    "conversation_details",
    "dumps",
    "error_frame",
    "event_change",
    "messaging_notification",
    "response_frame",
    "subscription_notification",
]


def dumps(frame: dict[str, Any]) -> str:
    """Serialise one frame compactly."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def response_frame(req_id: str | None, code: int, type_name: str, body: Any = None) -> str:
    """A ``kind: resp`` frame; ``reqId`` is always a string and omitted only when unknown."""
    frame: dict[str, Any] = {"kind": Kind.RESP.value}
    if req_id is not None:
        frame["reqId"] = req_id
    frame["code"] = code
    if body is not None:
        frame["body"] = body
    frame["type"] = type_name
    return dumps(frame)


def error_frame(req_id: str | None, code: int, message: str) -> str:
    """An error response: ``.ReqBody$StringResp`` with a short string body (protocol.md §8.4)."""
    return response_frame(req_id, code, Responses.STRING, message)


def _dialog(dialog: Dialog) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dialogId": dialog.dialog_id,
        "participantsDetails": [{"id": pid, "role": role} for pid, role in dialog.participants],
        "dialogType": dialog.dialog_type,
        "channelType": dialog.channel_type,
        "state": dialog.state,
        "creationTs": dialog.creation_ts,
        "metaDataLastUpdateTs": dialog.meta_data_last_update_ts,
    }
    if dialog.meta_data is not None:
        out["metaData"] = dialog.meta_data
    if dialog.end_ts is not None:
        out["endTs"] = dialog.end_ts
    if dialog.closed_by is not None:
        out["closedBy"] = dialog.closed_by
    if dialog.closed_cause is not None:
        out["closedCause"] = dialog.closed_cause
    return out


def conversation_details(conversation: Conversation) -> dict[str, Any]:
    """``conversationDetails`` of a conversation-change result (protocol.md §6.1, Example C)."""
    details: dict[str, Any] = {
        "participants": [{"id": pid, "role": role} for pid, role in conversation.participants],
        "dialogs": [_dialog(dialog) for dialog in conversation.dialogs.values()],
        "brandId": conversation.account,
        "state": conversation.state,
        "stage": conversation.stage,
        "startTs": conversation.start_ts,
        "endTs": conversation.end_ts or 0,
        "metaDataLastUpdateTs": conversation.last_update,
        "ttr": {"ttrType": conversation.ttr_type, "value": conversation.ttr_value},
        "skillId": conversation.skill_id,
    }
    if conversation.close_reason is not None:
        details["closeReason"] = conversation.close_reason
    if conversation.csat is not None:
        details["csat"] = dict(conversation.csat)
    if conversation.context is not None:
        details["context"] = conversation.context
    return details


def effective_ttr(conversation: Conversation) -> int:
    """Due time (epoch ms) of the agent's next answer, or -1 when nobody is waiting."""
    if not conversation.is_open or conversation.awaiting_agent_since is None:
        return -1
    return conversation.awaiting_agent_since + conversation.ttr_value * 1000


def conversation_change(conversation: Conversation, change_type: str = "UPSERT") -> dict[str, Any]:
    """One entry of ``changes`` in ``cqm.ExConversationChangeNotification``."""
    return {
        "type": change_type,
        "result": {
            "convId": conversation.conversation_id,
            "effectiveTTR": effective_ttr(conversation),
            "conversationDetails": conversation_details(conversation),
            "lastUpdateTime": conversation.last_update,
        },
    }


def subscription_notification(subscription_id: str, changes: Iterable[dict[str, Any]]) -> str:
    """A ``cqm.ExConversationChangeNotification`` frame for one subscription."""
    return dumps(
        {
            "kind": Kind.NOTIFICATION.value,
            "body": {"subscriptionId": subscription_id, "changes": list(changes)},
            "type": Notifications.CONVERSATION_CHANGE,
        }
    )


def event_change(stored: StoredEvent) -> dict[str, Any]:
    """One entry of ``changes`` in ``ms.MessagingEventNotification`` (protocol.md §6.2)."""
    change: dict[str, Any] = {}
    if stored.sequence is not None:
        change["sequence"] = stored.sequence
    change["originatorId"] = stored.originator_id
    change["originatorMetadata"] = {"id": stored.originator_id, "role": stored.role}
    if stored.server_timestamp is not None:
        change["serverTimestamp"] = stored.server_timestamp
    change["event"] = stored.event
    change["conversationId"] = stored.conversation_id
    change["dialogId"] = stored.dialog_id
    if stored.metadata:
        change["metadata"] = stored.metadata
    return change


def messaging_notification(changes: Iterable[dict[str, Any]]) -> str:
    """A ``ms.MessagingEventNotification`` frame."""
    return dumps(
        {
            "kind": Kind.NOTIFICATION.value,
            "body": {"changes": list(changes)},
            "type": Notifications.MESSAGING_EVENT,
        }
    )
