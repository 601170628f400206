"""Consumer requests (protocol notes §5): validation, effects on the world, and responses.

Each handler takes the session and the request body and returns the response frame plus any
frames that must follow it (subscription snapshots), or raises :class:`Refused`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from lpbot.protocol.names import Requests, Responses, Role, TTRType

from . import wire
from .fields import apply_fields
from .files import FileStore
from .model import ConversationFilter, Refused, Session
from .rules import Rules
from .world import World

__all__ = ["Handlers", "canonical_type"]

#: frames that follow a response: text, or pages made as the socket drains (a replay)
Followups = list[str | Iterator[str]]
Outcome = tuple[int, str, Any, Followups]  # code, response type, body, frames that follow
Handler = Callable[[Session, Any, list[Any]], Outcome]

#: default TTR seconds of each ``ttrDefName`` (the docs show PRIORITIZED 600, URGENT 300)
TTR_SECONDS = {"NORMAL": 3600, "PRIORITIZED": 600, "URGENT": 300, "CUSTOM": 3600}
_EVENT_TYPES = ("ContentEvent", "RichContentEvent", "AcceptStatusEvent", "ChatStateEvent")
_PREFIXES = ((".ams.aam.", "cqm."), ("aam.", "cqm."), (".ams.", ""))


def canonical_type(type_name: str) -> str:
    """Map accepted spellings (``.ams.cm.X``, ``.ams.aam.X``, ``ms.QueryMessages``) to v3."""
    if type_name in (Requests.QUERY_MESSAGES, "ms.QueryMessages"):
        return Requests.QUERY_MESSAGES
    for prefix, replacement in _PREFIXES:
        if type_name.startswith(prefix):
            return replacement + type_name[len(prefix) :]
    return type_name


def _as_list(value: Any) -> list[Any]:
    """A single object is accepted wherever an array is expected (protocol notes §4.2)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _body(body: Any, *, required: bool = True) -> dict[str, Any]:
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise Refused(400, "body must be an object")
    return body


def _int(value: Any, name: str, *, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool):
        raise Refused(400, f"{name} must be an integer")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if not isinstance(value, int) or value < 0:
        raise Refused(400, f"{name} must be a non-negative integer")
    return value


class Handlers:
    """The request table of the consumer endpoint."""

    def __init__(self, world: World, files: FileStore, rules: Rules | None = None) -> None:
        self.world = world
        self.files = files
        self.rules = rules if rules is not None else Rules()
        self.table: dict[str, Handler] = {
            Requests.GET_CLOCK: self.get_clock,
            "KeepAlive": self.keep_alive,
            Requests.REQUEST_CONVERSATION: self.request_conversation,
            Requests.UPDATE_CONVERSATION_FIELD: self.update_field,
            Requests.SUBSCRIBE_CONVERSATIONS: self.subscribe_conversations,
            Requests.UNSUBSCRIBE_CONVERSATIONS: self.unsubscribe_conversations,
            Requests.SUBSCRIBE_MESSAGING_EVENTS: self.subscribe_messaging_events,
            Requests.PUBLISH_EVENT: self.publish_event,
            Requests.GENERATE_UPLOAD_URL: self.generate_upload_url,
            Requests.GENERATE_DOWNLOAD_URL: self.generate_download_url,
            Requests.SET_USER_PROFILE: self.set_user_profile,
            Requests.QUERY_MESSAGES: self.query_messages,
        }

    def get_clock(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``GetClock`` → ``{"currentTime": ms}`` (§5.2)."""
        return 200, Responses.GET_CLOCK, {"currentTime": int(time.time() * 1000)}, []

    def keep_alive(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``KeepAlive`` (schema only): a plain 200."""
        return 200, Responses.STRING, "OK", []

    def request_conversation(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``cm.ConsumerRequestConversation`` (§5.3); one open conversation per consumer."""
        data = _body(body, required=False)
        brand = data.get("brandId")
        if brand is not None and str(brand) != session.account:
            raise Refused(400, "brandId does not match the account")
        channel = data.get("channelType", "MESSAGING")
        if channel != "MESSAGING":
            raise Refused(400, "channelType must be MESSAGING")
        ttr_name = data.get("ttrDefName")
        if ttr_name is not None and ttr_name not in TTR_SECONDS:
            raise Refused(400, f"unknown ttrDefName {ttr_name!r}")
        self.rules.skill_id(data.get("skillId"))
        skill = data.get("skillId", "-1")
        if skill is None:
            skill = "-1"
        if isinstance(skill, bool) or not isinstance(skill, str | int):
            raise Refused(400, "skillId must be a string")
        campaign = data.get("campaignInfo")
        context = data.get("conversationContext")
        for name, value in (("campaignInfo", campaign), ("conversationContext", context)):
            if value is not None and not isinstance(value, dict):
                raise Refused(400, f"{name} must be an object")
        features = set(session.features)
        if isinstance(context, dict) and isinstance(context.get("features"), list):
            features.update(str(f) for f in context["features"])
        ttr_type = ttr_name or TTRType.NORMAL.value
        conversation = self.world.create_conversation(
            session,
            skill_id=str(skill),
            campaign=campaign,
            context=context,
            ttr_type=ttr_type,
            ttr_value=TTR_SECONDS[ttr_type],
            multi_dialog="MULTI_DIALOG" in features,
            features=frozenset(features),
        )
        body_out = {"conversationId": conversation.conversation_id}
        return 200, Responses.REQUEST_CONVERSATION, body_out, []

    def update_field(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``cm.UpdateConversationField`` (§5.4): every consumer variant; agent fields → 403."""
        data = _body(body)
        conversation = self.world.own_conversation(session, data.get("conversationId"))
        fields = _as_list(data.get("conversationField"))
        if not fields:
            raise Refused(400, "conversationField is required")
        message = apply_fields(self.world, conversation, fields, self.rules)
        return 200, Responses.STRING, message, []

    def subscribe_conversations(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``cqm.SubscribeExConversations`` (§5.5) → id, then the snapshot notification."""
        data = _body(body, required=False)
        states = _as_list(data.get("convState")) or None
        stages = _as_list(data.get("stage")) or None
        for name, values in (("convState", states), ("stage", stages)):
            if values is not None and not all(v in ("OPEN", "CLOSE", "LOCKED") for v in values):
                raise Refused(400, f"{name} must hold OPEN or CLOSE")
            self.rules.subscription_filter(name, values)
        self.rules.integer(data.get("minLastUpdatedTime"), "minLastUpdatedTime")
        min_updated = _int(data.get("minLastUpdatedTime"), "minLastUpdatedTime", default=0)
        if 0 < min_updated < 10**11:  # a value in seconds, as in one doc example
            min_updated *= 1000
        flt = ConversationFilter(
            conv_states=frozenset(states) if states else None,
            stages=frozenset(stages) if stages else None,
            min_last_updated=min_updated,
        )
        subscription_id, snapshot = self.world.subscribe_conversations(session, flt)
        body_out = {"subscriptionId": subscription_id}
        return 200, Responses.SUBSCRIBE_CONVERSATIONS, body_out, [snapshot]

    def unsubscribe_conversations(
        self, session: Session, body: Any, metadata: list[Any]
    ) -> Outcome:
        """``cqm.UnsubscribeExConversations`` (§5.6)."""
        data = _body(body)
        self.world.unsubscribe_conversations(session, data.get("subscriptionId"))
        return 200, Responses.STRING, "OK", []

    def subscribe_messaging_events(
        self, session: Session, body: Any, metadata: list[Any]
    ) -> Outcome:
        """``ms.SubscribeMessagingEvents`` (§5.7): replay of sequence >= fromSeq, then live."""
        data = _body(body)
        dialog = self.world.own_dialog(session, data.get("dialogId"))
        self.rules.integer(data.get("fromSeq"), "fromSeq")
        from_seq = _int(data.get("fromSeq"), "fromSeq", default=0)
        replay = self.world.subscribe_dialog(session, dialog, from_seq)
        return 200, Responses.GENERIC_SUBSCRIBE, {}, [replay]

    def publish_event(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``ms.PublishEvent`` (§5.8) of every event type; echoed to every subscriber."""
        data = _body(body)
        dialog = self.world.own_dialog(session, data.get("dialogId"))
        conversation_id = data.get("conversationId")
        if conversation_id is not None and conversation_id != dialog.conversation_id:
            raise Refused(400, "dialogId does not belong to conversationId")
        event = validate_event(data.get("event"))
        self.rules.event(event, next_sequence=dialog.next_sequence, messaging=dialog.is_messaging)
        if not dialog.is_open and event["type"] in ("ContentEvent", "RichContentEvent"):
            raise Refused(400, f"dialog {dialog.dialog_id} is closed")
        meta = [m for m in metadata if isinstance(m, dict)]
        stored = self.world.publish(dialog, session.consumer, Role.CONSUMER.value, event, meta)
        sequence = stored.sequence if stored.sequence is not None else 0
        return 200, Responses.PUBLISH_EVENT, {"sequence": sequence}, []

    def generate_upload_url(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``ms.GenerateURLForUploadFile`` (§5.9)."""
        data = _body(body)
        size = _int(data.get("fileSize"), "fileSize")
        file_type = data.get("fileType")
        if not isinstance(file_type, str):
            raise Refused(400, "fileType is required")
        self.rules.upload(file_type)
        path, params = self.files.upload_url(session.account, session.consumer, size, file_type)
        return 200, Responses.GENERATE_URL, {"relativePath": path, "queryParams": params}, []

    def generate_download_url(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``ms.GenerateURLForDownloadFile`` (§5.9)."""
        data = _body(body)
        path = data.get("relativePath")
        if not isinstance(path, str) or not path:
            raise Refused(400, "relativePath is required")
        params = self.files.download_url(session.account, session.consumer, path)
        return 200, Responses.GENERATE_URL, {"relativePath": path, "queryParams": params}, []

    def set_user_profile(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``userprofile.SetUserProfile`` (§5.10): stored on the session."""
        session.client_properties["userProfile"] = _body(body)
        return 200, Responses.STRING, "OK User Profile set successfully", []

    def query_messages(self, session: Session, body: Any, metadata: list[Any]) -> Outcome:
        """``.ams.ms.QueryMessages`` (§5.11, deprecated): events as an array in the response."""
        data = _body(body)
        dialog = self.world.own_dialog(session, data.get("dialogId"))
        if data.get("newerThanSequence") is not None:
            from_seq = _int(data.get("newerThanSequence"), "newerThanSequence") + 1
        else:
            from_seq = _int(data.get("fromSeq"), "fromSeq", default=0)
        limit = _int(data.get("maxQuantity"), "maxQuantity", default=1000)
        with self.world.lock:
            events = [
                dict(wire.event_change(e), originatorPId=e.originator_id)
                for e in dialog.events
                if e.sequence is not None and e.sequence >= from_seq
            ][:limit]
        return 200, Responses.QUERY_MESSAGES, events, []


def validate_event(event: Any) -> dict[str, Any]:
    """Check a published event (§5.8) and return the form the server stores and echoes."""
    if not isinstance(event, dict):
        raise Refused(400, "event must be an object")
    kind = event.get("type")
    if kind == "RichContent":
        kind = "RichContentEvent"
    if kind not in _EVENT_TYPES:
        raise Refused(400, f"unknown event type {kind!r}")
    out = dict(event, type=kind)
    if kind == "ContentEvent":
        content_type = event.get("contentType")
        message = event.get("message")
        if not isinstance(content_type, str) or not content_type:
            raise Refused(400, "contentType is required")
        if message is None:
            raise Refused(400, "message is required")
        if content_type == "text/plain" and not isinstance(message, str):
            raise Refused(400, "a text/plain message must be a string")
        if content_type in ("hosted/file", "HostedFile") and not (
            isinstance(message, dict)
            and isinstance(message.get("relativePath"), str)
            and isinstance(message.get("fileType"), str)
        ):
            raise Refused(400, "a hosted file needs relativePath and fileType")
    elif kind == "RichContentEvent":
        content = event.get("content", event.get("message"))
        if not isinstance(content, dict):
            raise Refused(400, "rich content must be an object under content")
        out.pop("message", None)
        out["content"] = content
    elif kind == "AcceptStatusEvent":
        sequences = _as_list(event.get("sequenceList"))
        if not isinstance(event.get("status"), str) or not event.get("status"):
            raise Refused(400, "status is required")
        if not sequences or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sequences
        ):
            raise Refused(400, "sequenceList must hold sequence numbers")
        out["sequenceList"] = sequences
    elif not isinstance(event.get("chatState"), str) or not event.get("chatState"):
        raise Refused(400, "chatState is required")
    return out
