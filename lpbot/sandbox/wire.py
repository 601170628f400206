"""The sandbox's own JSON encoding of responses and notifications (protocol notes §4-§6).

Written against the documented payloads in ``shared/fixtures/documented``, independently of the
client's codec (house style §3.1): the two sides meet only at the wire.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

from lpbot.protocol.names import Kind, Notifications, Requests, Responses

from .model import Conversation, Dialog, StoredEvent
from .variants import CANONICAL, WireStyle

__all__ = [
    "ONLINE_EVENT_DISTRIBUTION",
    "conversation_change",
    "conversation_details",
    "dumps",
    "error_frame",
    "event_change",
    "live_event",
    "messaging_notification",
    "messaging_pages",
    "response_frame",
    "styled_response",
    "subscription_notification",
]

#: the older single-event notification type (protocol notes §4.4, §6.3)
ONLINE_EVENT_DISTRIBUTION = ".ams.ms.OnlineEventDistribution"
#: the fully qualified response names of LivePerson's SDKs (protocol notes §4.4)
_QUALIFIED = {
    Responses.PUBLISH_EVENT: ".ams.ms.PublishEvent$Response",
    Responses.SUBSCRIBE_CONVERSATIONS: ".ams.aam.SubscribeExConversations$Response",
    Responses.GENERIC_SUBSCRIBE: ".ams.GenericSubscribe$Response",
}
_GENERIC_SUBSCRIBE = frozenset({Responses.GENERIC_SUBSCRIBE, ".ams.GenericSubscribe$Response"})
#: requests whose documented success responses come without ``kind`` (§5.4, §5.9)
_KINDLESS_REQUESTS = frozenset(
    {
        Requests.UPDATE_CONVERSATION_FIELD,
        Requests.GENERATE_UPLOAD_URL,
        Requests.GENERATE_DOWNLOAD_URL,
    }
)


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


def error_frame(
    req_id: str | None, code: int, message: str, style: WireStyle = CANONICAL
) -> str:
    """An error response: a string response type with a short string body (protocol notes §8.4)."""
    type_name = "StringResponse" if style.string_response else Responses.STRING
    return response_frame(req_id, code, type_name, message)


def styled_response(
    req_id: str, code: int, type_name: str, body: Any, request_type: str, style: WireStyle
) -> str:
    """A success response in the connection's documented variant (§4.4, §5.4, §5.7, §5.9)."""
    if style.qualified_response_types and type_name in _QUALIFIED:
        type_name = _QUALIFIED[type_name]
    if type_name == Responses.STRING and style.string_response:
        type_name = "StringResponse"
    elif type_name in _GENERIC_SUBSCRIBE and style.bare_subscribe_response:
        type_name, body = ".ams.GenericSubscribeResponse", None
    elif type_name == Responses.GENERATE_URL and style.base_generate_url:
        type_name = "ms.BaseGenerateURLResponse"
    if style.kindless and request_type in _KINDLESS_REQUESTS:
        if request_type == Requests.UPDATE_CONVERSATION_FIELD:
            return dumps({"reqId": req_id, "code": code})  # §5.4: { "reqId":"A3HC", "code":200 }
        return dumps({"type": type_name, "reqId": req_id, "code": code, "body": body})  # §5.9
    return response_frame(req_id, code, type_name, body)


def _dialog(dialog: Dialog, style: WireStyle) -> dict[str, Any]:
    out: dict[str, Any] = {"dialogId": dialog.dialog_id}
    if style.participants_map:  # the older bare id list (§6.1 Example D)
        out["participants"] = list(dict.fromkeys(pid for pid, _ in dialog.participants))
    else:
        out["participantsDetails"] = [
            {"id": pid, "role": role} for pid, role in dialog.participants
        ]
    out |= {
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


def _participants(conversation: Conversation, style: WireStyle) -> dict[str, Any]:
    if not style.participants_map:
        return {
            "participants": [{"id": pid, "role": role} for pid, role in conversation.participants]
        }
    by_role: dict[str, list[str]] = {}
    for pid, role in conversation.participants:  # §6.1 Example A
        by_role.setdefault(role, []).append(pid)
    return {"participantsPId": by_role}


def conversation_details(
    conversation: Conversation, style: WireStyle = CANONICAL
) -> dict[str, Any]:
    """``conversationDetails`` of a conversation-change result (protocol notes §6.1, Example C)."""
    details: dict[str, Any] = {
        **_participants(conversation, style),
        "dialogs": [_dialog(dialog, style) for dialog in conversation.dialogs.values()],
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
    if style.delay_fields:  # §6.1 Example B: no delay, no agent-set ETTR
        details["delay"] = {"type": "NIGHT", "tillWhen": 0}
        details["manualETTR"] = 0
    return details


def effective_ttr(conversation: Conversation) -> int:
    """Due time (epoch ms) of the agent's next answer, or -1 when nobody is waiting."""
    if not conversation.is_open or conversation.awaiting_agent_since is None:
        return -1
    return conversation.awaiting_agent_since + conversation.ttr_value * 1000


def conversation_change(
    conversation: Conversation, change_type: str = "UPSERT", style: WireStyle = CANONICAL
) -> dict[str, Any]:
    """One entry of ``changes`` in ``cqm.ExConversationChangeNotification``."""
    return {
        "type": change_type,
        "result": {
            "convId": conversation.conversation_id,
            "effectiveTTR": effective_ttr(conversation),
            "conversationDetails": conversation_details(conversation, style),
            "lastUpdateTime": conversation.last_update,
        },
    }


def subscription_notification(
    subscription_id: str, changes: Iterable[dict[str, Any]], style: WireStyle = CANONICAL
) -> str:
    """A conversation change notification frame for one subscription, in ``style``'s spelling."""
    return dumps(
        {
            "kind": Kind.NOTIFICATION.value,
            "body": {"subscriptionId": subscription_id, "changes": list(changes)},
            "type": style.conversation_type,
        }
    )


def _styled_event(event: dict[str, Any], style: WireStyle) -> dict[str, Any]:
    """The event in the connection's spelling of rich content and hosted files (§9)."""
    rich = event.get("type") == "RichContentEvent" and "content" in event
    if style.rich_content_message and rich:
        out = {k: v for k, v in event.items() if k != "content"}
        out["message"] = event["content"]
        return out
    if style.hosted_file_schema and event.get("contentType") == "hosted/file":
        return {**event, "contentType": "HostedFile"}
    return event


def event_change(stored: StoredEvent, style: WireStyle = CANONICAL) -> dict[str, Any]:
    """One entry of ``changes`` in ``ms.MessagingEventNotification`` (protocol notes §6.2)."""
    change: dict[str, Any] = {}
    if stored.sequence is not None:
        change["sequence"] = stored.sequence
    change["originatorId"] = stored.originator_id
    if not style.no_originator_metadata:
        change["originatorMetadata"] = {"id": stored.originator_id, "role": stored.role}
    if stored.server_timestamp is not None:
        change["serverTimestamp"] = stored.server_timestamp
    change["event"] = _styled_event(stored.event, style)
    change["conversationId"] = stored.conversation_id
    change["dialogId"] = stored.dialog_id
    if stored.metadata:
        change["metadata"] = stored.metadata
    return change


#: the size a replay page grows to before the next change starts a new frame
PAGE_BYTES: Final = 256 * 1024


def messaging_pages(
    changes: Iterable[dict[str, Any]], page_bytes: int = PAGE_BYTES
) -> Iterator[str]:
    """``ms.MessagingEventNotification`` frames of about ``page_bytes`` each, made lazily.

    A backlog replayed as one frame could pass any frame limit (the client's, and the
    sandbox's own slow-reader bound); pages keep every frame small. At least one frame (an
    empty one for no changes) is yielded.
    """
    head, tail = messaging_notification([]).split("[]", 1)  # the same frame, changes spliced in
    head, tail = head + "[", "]" + tail
    parts: list[str] = []
    size = 0
    sent = False
    for change in changes:
        text = dumps(change)
        if parts and size + len(text) > page_bytes:
            yield head + ",".join(parts) + tail
            sent = True
            parts, size = [], 0
        parts.append(text)
        size += len(text) + 1
    if parts or not sent:
        yield head + ",".join(parts) + tail


def messaging_notification(changes: Iterable[dict[str, Any]]) -> str:
    """A ``ms.MessagingEventNotification`` frame."""
    return dumps(
        {
            "kind": Kind.NOTIFICATION.value,
            "body": {"changes": list(changes)},
            "type": Notifications.MESSAGING_EVENT,
        }
    )


def live_event(stored: StoredEvent, style: WireStyle = CANONICAL) -> str:
    """The notification of one new event: a one-change batch, or the older single-event body."""
    if not style.online_distribution:
        return messaging_notification([event_change(stored, style)])
    body: dict[str, Any] = {}
    if stored.sequence is not None:
        body["sequence"] = stored.sequence
    body["originatorPId"] = stored.originator_id  # §6.3: {sequence, originatorPId, ...}
    if stored.server_timestamp is not None:
        body["serverTimestamp"] = stored.server_timestamp
    body["event"] = _styled_event(stored.event, style)
    body["dialogId"] = stored.dialog_id
    if stored.metadata:
        body["metadata"] = stored.metadata
    return dumps({"kind": Kind.NOTIFICATION.value, "body": body, "type": ONLINE_EVENT_DISTRIBUTION})
