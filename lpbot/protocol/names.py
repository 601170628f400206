"""Protocol constants shared by the client and the sandbox: type names, close codes, enums.

This is the only module the sandbox shares with the client (house style §3.1): both sides
implement their own encoding against the documented payloads. References (§) are to the
protocol notes, docs/protocol-notes.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "AcceptStatus",
    "ChatState",
    "CloseCode",
    "ConversationState",
    "Kind",
    "Notifications",
    "Requests",
    "Responses",
    "Role",
    "Services",
    "TTRType",
    "notification_kind",
]



class Kind(StrEnum):
    """Envelope kinds (§4.1)."""

    REQ = "req"
    RESP = "resp"
    NOTIFICATION = "notification"


class Requests:
    """Consumer request type names as sent on the v=3 endpoint (§4.4, §5)."""

    INIT_CONNECTION: Final = "InitConnection"
    GET_CLOCK: Final = "GetClock"
    REQUEST_CONVERSATION: Final = "cm.ConsumerRequestConversation"
    UPDATE_CONVERSATION_FIELD: Final = "cm.UpdateConversationField"
    SUBSCRIBE_CONVERSATIONS: Final = "cqm.SubscribeExConversations"
    UNSUBSCRIBE_CONVERSATIONS: Final = "cqm.UnsubscribeExConversations"
    SUBSCRIBE_MESSAGING_EVENTS: Final = "ms.SubscribeMessagingEvents"
    PUBLISH_EVENT: Final = "ms.PublishEvent"
    GENERATE_UPLOAD_URL: Final = "ms.GenerateURLForUploadFile"
    GENERATE_DOWNLOAD_URL: Final = "ms.GenerateURLForDownloadFile"
    SET_USER_PROFILE: Final = "userprofile.SetUserProfile"
    QUERY_MESSAGES: Final = ".ams.ms.QueryMessages"


class Responses:
    """Response type names the sandbox emits (short v3 names of the tutorials, §4.4)."""

    STRING: Final = ".ReqBody$StringResp"
    GET_CLOCK: Final = ".GetClock$Response"
    REQUEST_CONVERSATION: Final = "cm.RequestConversationResponse"
    SUBSCRIBE_CONVERSATIONS: Final = "cqm.SubscribeExConversationsResponse"
    GENERIC_SUBSCRIBE: Final = "GenericSubscribeResponse"
    PUBLISH_EVENT: Final = "ms.PublishEventResponse"
    GENERATE_URL: Final = "ms.GenerateURLResponse"
    QUERY_MESSAGES: Final = ".ams.ms.QueryMessages$Response"


class Notifications:
    """Notification type names the sandbox emits, and the suffixes a client dispatches on (§9)."""

    CONVERSATION_CHANGE: Final = "cqm.ExConversationChangeNotification"
    MESSAGING_EVENT: Final = "ms.MessagingEventNotification"
    CONVERSATION_CHANGE_SUFFIX: Final = "ExConversationChangeNotification"
    MESSAGING_EVENT_SUFFIX: Final = "MessagingEventNotification"
    ONLINE_EVENT_SUFFIX: Final = "OnlineEventDistribution"


def notification_kind(type_name: str) -> str | None:
    """Map any spelling of a notification type (``cqm.``, ``aam.``, ``.ams.aam.``) to its suffix.

    Returns ``None`` for a type lpbot does not know (protocol notes §4.4: dispatch by suffix).
    """
    for suffix in (
        Notifications.CONVERSATION_CHANGE_SUFFIX,
        Notifications.MESSAGING_EVENT_SUFFIX,
        Notifications.ONLINE_EVENT_SUFFIX,
    ):
        if type_name.endswith(suffix):
            return suffix
    return None


class Services:
    """CSDS service names a consumer client needs (§1.2); case-sensitive."""

    MESSAGING: Final = "asyncMessagingEnt"
    IDP: Final = "idp"
    AGENT_PROFILE: Final = "acCdnDomain"
    FILES: Final = "swift"


class CloseCode:
    """WebSocket close codes with protocol meaning (§3.5, §8)."""

    NORMAL: Final = 1000
    GOING_AWAY: Final = 1001
    ABNORMAL: Final = 1006
    POLICY_VIOLATION: Final = 1008
    INTERNAL_ERROR: Final = 1011
    TOKEN_EXPIRED_AUTHENTICATED: Final = 4401
    TOKEN_EXPIRED_UNAUTHENTICATED: Final = 4407


class Role(StrEnum):
    """Participant roles (§7.5)."""

    CONSUMER = "CONSUMER"
    ASSIGNED_AGENT = "ASSIGNED_AGENT"
    AGENT = "AGENT"
    MANAGER = "MANAGER"
    READER = "READER"
    CONTROLLER = "CONTROLLER"


class ConversationState(StrEnum):
    """Conversation / dialog / stage states (§6.1); ``LOCKED`` appears in web constants."""

    OPEN = "OPEN"
    CLOSE = "CLOSE"
    LOCKED = "LOCKED"


class TTRType(StrEnum):
    """Time-to-respond types (§5.4.5)."""

    CUSTOM = "CUSTOM"
    NORMAL = "NORMAL"
    PRIORITIZED = "PRIORITIZED"
    URGENT = "URGENT"


class ChatState(StrEnum):
    """Chat states (§5.8.5); ``BACKGROUND`` is emitted by the server only."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    GONE = "GONE"
    COMPOSING = "COMPOSING"
    PAUSE = "PAUSE"
    BACKGROUND = "BACKGROUND"


class AcceptStatus(StrEnum):
    """Accept statuses (§5.8.4)."""

    ACCEPT = "ACCEPT"
    READ = "READ"
    ACCESS = "ACCESS"
    NACK = "NACK"
    ACTION = "ACTION"
