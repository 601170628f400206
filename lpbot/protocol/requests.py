"""Consumer requests (protocol notes §5) as frozen values that know their success response.

Each class has ``type_name`` (the v=3 spelling from :class:`~lpbot.protocol.names.Requests`),
``body()``, ``envelope()`` and ``parse_response(resp)``, which returns the typed success value
or raises :class:`~lpbot.errors.RequestRejected` carrying the request. Builders write the
canonical forms: arrays for ``conversationField``, ``content`` for rich content, ``GetClock``
without a dot (§9).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final
from urllib.parse import urlencode

from lpbot.errors import ProtocolError, RequestRejected
from lpbot.protocol.envelope import Response, opt_mapping
from lpbot.protocol.events import ChatStateEvent, Event, parse_event
from lpbot.protocol.fields import (
    CloseConversation,
    CloseDialog,
    CloseStage,
    ConversationField,
    CsatRate,
    RawField,
    TtrChange,
    parse_field,
)
from lpbot.protocol.names import Requests, TTRType

__all__ = [
    "CloseConversation",
    "CloseDialog",
    "CloseStage",
    "ConsumerRequestConversation",
    "ConversationField",
    "CsatRate",
    "FileUrl",
    "GenerateDownloadUrl",
    "GenerateUploadUrl",
    "GetClock",
    "InitConnection",
    "PublishEvent",
    "RawField",
    "RequestType",
    "SetUserProfile",
    "SubscribeExConversations",
    "SubscribeMessagingEvents",
    "TtrChange",
    "UnsubscribeExConversations",
    "UpdateConversationField",
    "parse_request",
]

CLIENT_PROPERTIES_HEADER: Final = ".ams.headers.ClientProperties"
CONSUMER_AUTHENTICATION_HEADER: Final = ".ams.headers.ConsumerAuthentication"


def _check(request: Any, resp: Response) -> Any:
    """Raise RequestRejected for a non-2xx response; return the body otherwise."""
    if not 200 <= resp.code < 300:
        raise RequestRejected(
            request=request, request_type=request.type_name, code=resp.code, body=resp.body
        )
    return resp.body


def _text(request: Any, resp: Response) -> str:
    body = _check(request, resp)
    return body if type(body) is str else ""


def _body_value(request: Any, resp: Response, key: str) -> Any:
    body = _check(request, resp)
    value = body.get(key) if isinstance(body, Mapping) else None
    if value is None:
        raise ProtocolError(f"{request.type_name} response without {key}", raw=repr(resp.raw))
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class InitConnection:
    """Authenticate a socket opened without headers (protocol notes §3.3); answers a string.

    The JWT travels in the envelope-level ``headers``, never in ``repr``.
    """

    type_name: ClassVar[str] = Requests.INIT_CONNECTION

    jwt: str | None = field(default=None, repr=False)
    client_properties: Mapping[str, Any] | None = field(default=None, hash=False)

    def body(self) -> dict[str, Any] | None:
        """No body: InitConnection carries ``headers`` instead."""
        return None

    def headers(self) -> list[dict[str, Any]]:
        """The ClientProperties and ConsumerAuthentication headers, in the documented order."""
        headers: list[dict[str, Any]] = []
        if self.client_properties is not None:
            props = {k: v for k, v in self.client_properties.items() if k != "type"}
            headers.append({"type": CLIENT_PROPERTIES_HEADER, **props})
        if self.jwt is not None:
            headers.append({"type": CONSUMER_AUTHENTICATION_HEADER, "jwt": self.jwt})
        return headers

    def envelope(self) -> dict[str, Any]:
        """``{"headers": [...]}``."""
        return {"headers": self.headers()}

    def parse_response(self, resp: Response) -> str:
        """The server's confirmation text ("" when the body is not a string)."""
        return _text(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class GetClock:
    """Keep-alive and clock sync (protocol notes §5.2); answers the server time in epoch ms."""

    type_name: ClassVar[str] = Requests.GET_CLOCK

    def body(self) -> dict[str, Any] | None:
        """No body."""
        return None

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> int:
        """``currentTime`` in epoch milliseconds."""
        value = _body_value(self, resp, "currentTime")
        if type(value) is not int:
            raise ProtocolError("GetClock currentTime is not an integer", raw=repr(resp.raw))
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerRequestConversation:
    """Open a conversation (protocol notes §5.3); answers the new conversation id.

    With no argument the body is omitted (the tutorials' minimal form); otherwise the body
    always has ``channelType`` MESSAGING and ``ttrDefName`` (null when unset).
    """

    type_name: ClassVar[str] = Requests.REQUEST_CONVERSATION

    skill_id: str | None = None
    campaign_id: str | int | None = None
    engagement_id: str | int | None = None
    context: Mapping[str, Any] | None = field(default=None, hash=False)
    ttr_def_name: TTRType | str | None = None
    brand_id: str | None = None

    def body(self) -> dict[str, Any] | None:
        """The optional body of §5.3."""
        if (
            self.skill_id is None
            and self.campaign_id is None
            and self.engagement_id is None
            and self.context is None
            and self.ttr_def_name is None
            and self.brand_id is None
        ):
            return None
        body: dict[str, Any] = {
            "channelType": "MESSAGING",
            "ttrDefName": None if self.ttr_def_name is None else str(self.ttr_def_name),
        }
        if self.brand_id is not None:
            body["brandId"] = self.brand_id
        if self.skill_id is not None:
            body["skillId"] = self.skill_id
        if self.campaign_id is not None or self.engagement_id is not None:
            campaign: dict[str, Any] = {}
            if self.campaign_id is not None:
                campaign["campaignId"] = self.campaign_id
            if self.engagement_id is not None:
                campaign["engagementId"] = self.engagement_id
            body["campaignInfo"] = campaign
        if self.context is not None:
            body["conversationContext"] = dict(self.context)
        return body

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> str:
        """The new ``conversationId`` (also the main dialog id, §7.3)."""
        value = _body_value(self, resp, "conversationId")
        if type(value) is not str:
            raise ProtocolError("conversationId is not a string", raw=repr(resp.raw))
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateConversationField:
    """Change conversation fields (protocol notes §5.4): close, CSAT, TTR...; answers a string.

    Example:
        >>> UpdateConversationField.close_conversation("c1").body()
        {'conversationId': 'c1', 'conversationField': [{'field': 'ConversationStateField', \
'conversationState': 'CLOSE'}]}
    """

    type_name: ClassVar[str] = Requests.UPDATE_CONVERSATION_FIELD

    conversation_id: str
    fields: tuple[ConversationField, ...]

    @classmethod
    def close_conversation(cls, conversation_id: str) -> UpdateConversationField:
        """Close the conversation (§5.4.1)."""
        return cls(conversation_id=conversation_id, fields=(CloseConversation(),))

    @classmethod
    def rate(
        cls, conversation_id: str, rate: int, resolution_confirmation: bool, status: str = "FILLED"
    ) -> UpdateConversationField:
        """Submit legacy CSAT after close (§5.4.4)."""
        field_value = CsatRate(
            rate=rate, resolution_confirmation=resolution_confirmation, status=status
        )
        return cls(conversation_id=conversation_id, fields=(field_value,))

    @classmethod
    def set_ttr(
        cls, conversation_id: str, ttr_type: TTRType | str, value: int
    ) -> UpdateConversationField:
        """Change urgency (§5.4.5)."""
        return cls(
            conversation_id=conversation_id, fields=(TtrChange(ttr_type=ttr_type, value=value),)
        )

    def body(self) -> dict[str, Any] | None:
        """``conversationField`` is always written as an array (the canonical form, §4.2)."""
        return {
            "conversationId": self.conversation_id,
            "conversationField": [f.to_wire() for f in self.fields],
        }

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> str:
        """The server's confirmation text ("" when absent)."""
        return _text(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeExConversations:
    """Subscribe to conversation metadata (protocol notes §5.5); answers the subscription id."""

    type_name: ClassVar[str] = Requests.SUBSCRIBE_CONVERSATIONS

    min_last_updated_time: int | None = None
    conv_state: tuple[str, ...] = ("OPEN", "CLOSE")
    stage: tuple[str, ...] | None = None

    def body(self) -> dict[str, Any] | None:
        """The filter; empty filters are omitted."""
        body: dict[str, Any] = {}
        if self.min_last_updated_time is not None:
            body["minLastUpdatedTime"] = self.min_last_updated_time
        if self.conv_state:
            body["convState"] = [str(s) for s in self.conv_state]
        if self.stage:
            body["stage"] = [str(s) for s in self.stage]
        return body

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> str:
        """The ``subscriptionId`` to match notifications and to unsubscribe with."""
        value = _body_value(self, resp, "subscriptionId")
        if type(value) is not str:
            raise ProtocolError("subscriptionId is not a string", raw=repr(resp.raw))
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class UnsubscribeExConversations:
    """End a conversation metadata subscription (protocol notes §5.6); answers a string."""

    type_name: ClassVar[str] = Requests.UNSUBSCRIBE_CONVERSATIONS

    subscription_id: str

    def body(self) -> dict[str, Any] | None:
        """``{"subscriptionId": ...}``."""
        return {"subscriptionId": self.subscription_id}

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> str:
        """The server's confirmation text ("" when absent)."""
        return _text(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeMessagingEvents:
    """Subscribe to one dialog's events from ``from_seq`` on (protocol notes §5.7)."""

    type_name: ClassVar[str] = Requests.SUBSCRIBE_MESSAGING_EVENTS

    dialog_id: str
    from_seq: int = 0
    conversation_id: str | None = None

    def body(self) -> dict[str, Any] | None:
        """``{"dialogId", "fromSeq", "conversationId"?}``."""
        body: dict[str, Any] = {"dialogId": self.dialog_id, "fromSeq": self.from_seq}
        if self.conversation_id is not None:
            body["conversationId"] = self.conversation_id
        return body

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> None:
        """Nothing: the events follow as notifications (body absent or ``{}``)."""
        _check(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishEvent:
    """Publish an event to a dialog (protocol notes §5.8); answers its sequence number.

    ``metadata`` goes to the envelope (§4.3), e.g. a survey ``Answer`` (§5.8.6).
    """

    type_name: ClassVar[str] = Requests.PUBLISH_EVENT

    dialog_id: str
    event: Event
    conversation_id: str | None = None
    metadata: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)

    def body(self) -> dict[str, Any] | None:
        """``{"dialogId", "conversationId"?, "event"}``."""
        body: dict[str, Any] = {"dialogId": self.dialog_id}
        if self.conversation_id is not None:
            body["conversationId"] = self.conversation_id
        body["event"] = self.event.to_wire()
        return body

    def envelope(self) -> dict[str, Any]:
        """``{"metadata": [...]}`` when there is any."""
        if self.metadata:
            return {"metadata": [dict(m) for m in self.metadata]}
        return {}

    def parse_response(self, resp: Response) -> int:
        """The event's sequence; 0 for chat states, which are never sequenced (§7.4)."""
        body = _check(self, resp)
        value = body.get("sequence") if isinstance(body, Mapping) else None
        if type(value) is int:
            return value
        if isinstance(self.event, ChatStateEvent):
            return 0
        raise ProtocolError("PublishEvent response without a sequence", raw=repr(resp.raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class FileUrl:
    """A temporary file URL from ``ms.GenerateURLResponse`` (protocol notes §5.9)."""

    relative_path: str
    query_params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def url(self, domain: str, *, tls: bool = True) -> str:
        """The full URL on the ``swift`` host ``domain`` (host[:port], no scheme)."""
        scheme = "https" if tls else "http"
        query = urlencode(dict(self.query_params))
        return f"{scheme}://{domain}{self.relative_path}" + (f"?{query}" if query else "")


def _file_url(request: Any, resp: Response) -> FileUrl:
    path = _body_value(request, resp, "relativePath")
    params = resp.body.get("queryParams")
    if type(path) is not str:
        raise ProtocolError("relativePath is not a string", raw=repr(resp.raw))
    query = (
        {str(k): str(v) for k, v in params.items() if v is not None}
        if isinstance(params, Mapping)
        else {}
    )
    return FileUrl(relative_path=path, query_params=query)


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateUploadUrl:
    """Ask for a temporary upload URL (protocol notes §5.9); files up to 3 MB.

    ``fileSize`` is written as a string, as the schema types it.
    """

    type_name: ClassVar[str] = Requests.GENERATE_UPLOAD_URL

    file_size: int
    file_type: str

    def body(self) -> dict[str, Any] | None:
        """``{"fileSize": "<n>", "fileType": ...}``."""
        return {"fileSize": str(self.file_size), "fileType": self.file_type}

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> FileUrl:
        """The relative path and signed query parameters to PUT the file to."""
        return _file_url(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class GenerateDownloadUrl:
    """Ask for a temporary download URL for a hosted file (protocol notes §5.9)."""

    type_name: ClassVar[str] = Requests.GENERATE_DOWNLOAD_URL

    relative_path: str

    def body(self) -> dict[str, Any] | None:
        """``{"relativePath": ...}``."""
        return {"relativePath": self.relative_path}

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> FileUrl:
        """The relative path and signed query parameters to GET the file from."""
        return _file_url(self, resp)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetUserProfile:
    """Tell agents who the consumer is (protocol notes §5.10, optional); answers a string.

    Not in the consumer WebSocket schema, but sent by LivePerson's own consumer SDK before it
    requests a conversation. Only the fields given are sent; ``sdes`` are the
    ``authenticatedData.lp_sdes`` (``ctmrinfo`` / ``personal``) and ``private_data`` the
    ``privateData`` table (``mobileNum``, ``mail``...), both passed through as given.
    """

    type_name: ClassVar[str] = Requests.SET_USER_PROFILE

    first_name: str | None = None
    last_name: str | None = None
    nickname: str | None = None
    user_id: str | None = None
    avatar_url: str | None = None
    role: str | None = None
    background_image_uri: str | None = None
    description: str | None = None
    sdes: tuple[Mapping[str, Any], ...] = ()
    private_data: Mapping[str, Any] | None = None

    def body(self) -> dict[str, Any] | None:
        """The given fields under their wire names (``firstName``, ``backgndImgUri``...)."""
        body: dict[str, Any] = {
            wire: value for wire, value in (
                ("firstName", self.first_name), ("lastName", self.last_name),
                ("nickName", self.nickname), ("userId", self.user_id),
                ("avatarUrl", self.avatar_url), ("role", self.role),
                ("backgndImgUri", self.background_image_uri),
                ("description", self.description)) if value is not None}
        if self.sdes:
            body["authenticatedData"] = {"lp_sdes": [dict(sde) for sde in self.sdes]}
        if self.private_data is not None:
            body["privateData"] = dict(self.private_data)
        return body

    def envelope(self) -> dict[str, Any]:
        """No envelope extras."""
        return {}

    def parse_response(self, resp: Response) -> str:
        """The server's confirmation text ("OK User Profile set successfully"; "" if none)."""
        return _text(self, resp)


RequestType = (
    InitConnection
    | GetClock
    | ConsumerRequestConversation
    | UpdateConversationField
    | SubscribeExConversations
    | UnsubscribeExConversations
    | SubscribeMessagingEvents
    | PublishEvent
    | GenerateUploadUrl
    | GenerateDownloadUrl
    | SetUserProfile
)


def _opt_tuple(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]  # single element for an array, §4.2
    return tuple(str(item) for item in items)


def _parse_body(type_name: str, body: Mapping[str, Any], frame: Mapping[str, Any]) -> RequestType:
    # The inverse of each class's body(); strict where the builder is, lenient elsewhere.
    def get(key: str) -> Any:
        return body.get(key)

    if type_name == Requests.REQUEST_CONVERSATION:
        campaign = opt_mapping(get("campaignInfo")) or {}
        context = get("conversationContext")
        return ConsumerRequestConversation(
            skill_id=get("skillId"),
            campaign_id=campaign.get("campaignId"),
            engagement_id=campaign.get("engagementId"),
            context=context if isinstance(context, Mapping) else None,
            ttr_def_name=get("ttrDefName"),
            brand_id=get("brandId"),
        )
    if type_name == Requests.UPDATE_CONVERSATION_FIELD:
        fields = get("conversationField")
        items = fields if isinstance(fields, list) else [fields]
        return UpdateConversationField(
            conversation_id=str(get("conversationId")),
            fields=tuple(parse_field(item) for item in items),
        )
    if type_name == Requests.SUBSCRIBE_CONVERSATIONS:
        conv_state = _opt_tuple(get("convState"))
        return SubscribeExConversations(
            min_last_updated_time=get("minLastUpdatedTime"),
            conv_state=() if conv_state is None else conv_state,
            stage=_opt_tuple(get("stage")),
        )
    if type_name == Requests.UNSUBSCRIBE_CONVERSATIONS:
        return UnsubscribeExConversations(subscription_id=str(get("subscriptionId")))
    if type_name == Requests.SUBSCRIBE_MESSAGING_EVENTS:
        from_seq = body.get("fromSeq", 0)
        return SubscribeMessagingEvents(
            dialog_id=str(get("dialogId")),
            from_seq=from_seq if type(from_seq) is int else 0,
            conversation_id=get("conversationId"),
        )
    if type_name == Requests.PUBLISH_EVENT:
        metadata = frame.get("metadata")
        return PublishEvent(
            dialog_id=str(get("dialogId")),
            event=parse_event(get("event")),
            conversation_id=get("conversationId"),
            metadata=tuple(metadata) if isinstance(metadata, list) else (),
        )
    if type_name == Requests.GENERATE_UPLOAD_URL:
        return GenerateUploadUrl(file_size=int(get("fileSize")), file_type=str(get("fileType")))
    if type_name == Requests.GENERATE_DOWNLOAD_URL:
        return GenerateDownloadUrl(relative_path=str(get("relativePath")))
    if type_name == Requests.SET_USER_PROFILE:
        return _parse_user_profile(body)
    raise ProtocolError(f"unknown request type {type_name!r}"[:120], raw=repr(frame))


def _parse_user_profile(body: Mapping[str, Any]) -> SetUserProfile:
    def text(key: str) -> str | None:
        value = body.get(key)
        return value if isinstance(value, str) else None

    authenticated = opt_mapping(body.get("authenticatedData")) or {}
    sdes = authenticated.get("lp_sdes")
    private = body.get("privateData")
    return SetUserProfile(
        first_name=text("firstName"), last_name=text("lastName"), nickname=text("nickName"),
        user_id=text("userId"), avatar_url=text("avatarUrl"), role=text("role"),
        background_image_uri=text("backgndImgUri"), description=text("description"),
        sdes=tuple(s for s in sdes if isinstance(s, Mapping)) if isinstance(sdes, list) else (),
        private_data=private if isinstance(private, Mapping) else None)


def parse_request(frame: Mapping[str, Any]) -> RequestType:
    """Parse a ``kind: req`` frame back into its request object (tests, scripted servers).

    Accepts the documented variants a builder never writes: a single ``conversationField``
    object, ``fileSize`` as a number, ``body`` omitted or ``{}`` where none is needed.

    Raises:
        ProtocolError: an unknown request type or a body that cannot be read.
    """
    type_name = frame.get("type")
    body = frame.get("body")
    if type_name == Requests.INIT_CONNECTION:
        headers = frame.get("headers")
        jwt: str | None = None
        props: Mapping[str, Any] | None = None
        for header in headers if isinstance(headers, list) else []:
            kind = header.get("type") if isinstance(header, Mapping) else None
            if kind == CONSUMER_AUTHENTICATION_HEADER:
                jwt = header.get("jwt")
            elif kind == CLIENT_PROPERTIES_HEADER:
                props = {k: v for k, v in header.items() if k != "type"}
        return InitConnection(jwt=jwt, client_properties=props)
    if type_name == Requests.GET_CLOCK:
        return GetClock()
    if type(type_name) is not str:
        raise ProtocolError("request without a type", raw=repr(frame))
    if body is None and type_name == Requests.REQUEST_CONVERSATION:
        return ConsumerRequestConversation()
    if body is None and type_name == Requests.SUBSCRIBE_CONVERSATIONS:
        return SubscribeExConversations(conv_state=())
    if not isinstance(body, Mapping):
        raise ProtocolError(f"{type_name} without a body object"[:120], raw=repr(frame))
    try:
        return _parse_body(type_name, body, frame)
    except (TypeError, ValueError) as exc:  # int("x"), parse_event(None), ...
        message = f"{type_name} body cannot be read: {exc}"[:120]
        raise ProtocolError(message, raw=repr(frame)) from exc
