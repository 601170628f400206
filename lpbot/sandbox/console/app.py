"""The agent console: a web page on the sandbox's HTTP port where a person plays the agent.

Routes (all under ``/console``): the page and its static files, ``/console/events`` (server-sent
events: a snapshot, then every conversation change and event) and a small JSON API to accept,
write, type, read, change TTR and close. The person is one more agent of the pool with a public
profile; accepting takes a conversation from the simulated agents, and what the person writes is
published through the same path as theirs, so a bot receives it as an ``ASSIGNED_AGENT`` message.
"""

from __future__ import annotations

import importlib.resources
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any, Self

from lpbot.protocol.names import AcceptStatus, ChatState, TTRType

from ..agents import AgentPool, AgentProfile
from ..flow import Button, Card, button_content, card_content
from ..http import HttpReply, HttpRequest, Route
from ..inbound import BadInput, loads
from ..model import Conversation, StoredEvent
from ..world import World
from .feed import EventFeed
from .views import conversation_view, event_view

__all__ = ["Console"]

log = logging.getLogger(__name__)

AddRoute = Callable[[str, str, Route], None]
RunOnLoop = Callable[..., Any]

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
_ACTIONS = ("accept", "messages", "card", "typing", "read", "ttr", "close")
_MAX_TEXT = 10_000
#: limits of what the person offers: buttons per message, characters per title (§5.8.3)
_MAX_BUTTONS = 24
_MAX_TITLE = 128


class ApiError(Exception):
    """An API request the console answers with ``status`` and a short message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Console:
    """Serves the console and acts as the person's agent (routes run on HTTP request threads)."""

    def __init__(
        self,
        *,
        world: World,
        pool: AgentPool,
        run_on_loop: RunOnLoop,
        nickname: str = "Console",
    ) -> None:
        self._world = world
        self._pool = pool
        self._run = run_on_loop
        self.feed = EventFeed()
        agent_id = str(uuid.uuid4())
        self.profile = AgentProfile(
            agent_id=agent_id,
            nickname=nickname,
            full_name=f"{nickname} Agent",
            picture_url=f"{{base}}/agents/{agent_id}.svg",
            employee_id="E0000",
        )
        pool.people.append(self.profile)
        world.listeners.append(self._on_change)

    @property
    def agent_id(self) -> str:
        """The agent id the person acts as."""
        return self.profile.agent_id

    def mount(self, add_route: AddRoute) -> Self:
        """Register the console's routes with the sandbox's HTTP server; returns self."""
        add_route("GET", r"/console/?", self._index)
        add_route("GET", r"/console/static/(?P<name>[A-Za-z0-9_-]+\.[a-z]+)", self._static)
        add_route("GET", r"/console/events", self._events)
        add_route("GET", r"/console/api/conversations", self._list)
        actions = "|".join(_ACTIONS)
        add_route(
            "POST",
            rf"/console/api/conversations/(?P<cid>[^/]+)/(?P<action>{actions})",
            self._action,
        )
        return self

    def stop(self) -> None:
        """End every event stream and stop listening to the world; idempotent."""
        self.feed.close()
        with self._world.lock:
            if self._on_change in self._world.listeners:
                self._world.listeners.remove(self._on_change)

    # -- live feed --------------------------------------------------------------------------

    def _names(self) -> dict[str, str]:
        people = [*self._pool.profiles, *self._pool.people]
        return {p.agent_id: p.nickname for p in people}

    def _view(self, conversation: Conversation, *, events: bool = False) -> dict[str, Any]:
        return conversation_view(
            conversation, names=self._names(), person_id=self.agent_id, events=events
        )

    def _on_change(self, kind: str, conversation: Conversation, stored: StoredEvent | None) -> None:
        """World listener (loop thread, world lock held): append the change to the feed.

        Without an open stream nothing is kept: a page that connects later starts from a
        snapshot, so the sandbox pays nothing for the console until someone looks.
        """
        if not self.feed.readers:
            return
        try:
            if stored is not None:
                self.feed.publish("event", event_view(stored))
            else:
                self.feed.publish("conversation", {"kind": kind, **self._view(conversation)})
        except Exception:  # isolation boundary: the console never breaks the world
            log.exception("console: could not publish a %s change", kind)

    def snapshot(self) -> tuple[dict[str, Any], int]:
        """Every conversation with its events, and the id of the last change it includes."""
        with self._world.lock:
            conversations = [self._view(c, events=True) for c in self._world.conversations.values()]
            last = self.feed.last_id
        me = {"agentId": self.agent_id, "nickname": self.profile.nickname}
        return {"agent": me, "conversations": conversations}, last

    # -- routes -----------------------------------------------------------------------------

    def _index(self, request: HttpRequest) -> HttpReply:
        return self._file("index.html")

    def _static(self, request: HttpRequest) -> HttpReply:
        return self._file(request.match["name"])

    def _file(self, name: str) -> HttpReply:
        suffix = name[name.rfind(".") :]
        resource = importlib.resources.files(__package__).joinpath("static", name)
        if suffix not in _CONTENT_TYPES or not resource.is_file():
            return HttpReply(status=404, body=b"Not Found", content_type="text/plain")
        return HttpReply(
            status=200,
            body=resource.read_bytes(),
            content_type=_CONTENT_TYPES[suffix],
            headers={"Cache-Control": "no-cache"},
        )

    def _events(self, request: HttpRequest) -> HttpReply:
        return HttpReply(
            status=200,
            content_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            stream=self.feed.stream(self.snapshot),
        )

    def _list(self, request: HttpRequest) -> HttpReply:
        return HttpReply.json(200, self.snapshot()[0])

    def _action(self, request: HttpRequest) -> HttpReply:
        try:
            body = _json_body(request)
            cid, action = request.match["cid"], request.match["action"]
            result = self._run(getattr(self, f"_do_{action}"), cid, body)
        except ApiError as exc:
            return HttpReply.json(exc.status, {"error": str(exc)})
        return HttpReply.json(200, result)

    # -- actions (event-loop thread) --------------------------------------------------------

    def _conversation(self, cid: str, *, mine: bool = True) -> Conversation:
        conversation = self._world.conversations.get(cid)
        if conversation is None:
            raise ApiError(404, f"unknown conversation {cid}")
        if not conversation.is_open:
            raise ApiError(409, "the conversation is closed")
        if mine and conversation.agent_id != self.agent_id:
            raise ApiError(409, "accept the conversation first")
        return conversation

    def _do_accept(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Take the conversation: the person becomes its assigned agent, the pool lets go."""
        conversation = self._conversation(cid, mine=False)
        previous = conversation.agent_id
        if previous != self.agent_id:
            self._pool.transfer(conversation, self.agent_id)  # marks it taken by a person
        return {"agentId": self.agent_id, "previous": previous}

    def _publish(self, conversation: Conversation, event: dict[str, Any]) -> dict[str, Any]:
        stored = self._pool.publish(conversation, self.agent_id, event)
        return {"sequence": stored.sequence}

    def _do_messages(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > _MAX_TEXT:
            raise ApiError(
                400, f"text must be a non-empty string of at most {_MAX_TEXT} characters"
            )
        event: dict[str, Any] = {"type": "ContentEvent", "contentType": "text/plain",
                                 "message": text}
        titles = _titles(body, "quickReplies")
        if titles:
            replies = [button_content(Button(title=t), uuid.uuid4().hex) for t in titles]
            event["quickReplies"] = {"type": "quickReplies", "itemsPerRow": 8,
                                     "replies": replies}
        return self._publish(self._conversation(cid), event)

    def _do_card(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        """Send a card: an image, a title, a text and buttons, as a consumer's window shows."""
        parts: dict[str, str] = {}
        for key in ("title", "text", "image"):
            value = body.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str) or len(value) > (_MAX_TEXT if key == "text"
                                                           else 2048):
                raise ApiError(400, f"{key} must be a string")
            if key == "image" and not re.match(r"https?://", value):
                raise ApiError(400, "image must be an http(s) URL")
            parts[key] = value
        titles = _titles(body, "buttons")
        if not parts and not titles:
            raise ApiError(400, "a card needs a title, a text, an image or buttons")
        card = Card(buttons=tuple(Button(title=t) for t in titles), **parts)
        content = card_content(card, [uuid.uuid4().hex for _ in titles])
        return self._publish(self._conversation(cid),
                             {"type": "RichContentEvent", "content": content})

    def _do_typing(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        state = body.get("chatState")
        if state not in tuple(ChatState):
            raise ApiError(400, f"chatState must be one of {', '.join(ChatState)}")
        return self._publish(
            self._conversation(cid), {"type": "ChatStateEvent", "chatState": state}
        )

    def _do_read(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        sequences = body.get("sequences")
        if (
            not isinstance(sequences, list)
            or not sequences
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in sequences)
        ):
            raise ApiError(400, "sequences must be a non-empty list of integers")
        event = {
            "type": "AcceptStatusEvent",
            "status": AcceptStatus.READ.value,
            "sequenceList": sequences,
        }
        return self._publish(self._conversation(cid), event)

    def _do_ttr(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        ttr_type, value = body.get("ttrType"), body.get("value")
        if ttr_type not in tuple(TTRType):
            raise ApiError(400, f"ttrType must be one of {', '.join(TTRType)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ApiError(400, "value must be a non-negative integer (seconds)")
        conversation = self._conversation(cid)
        with self._world.lock:
            conversation.ttr_type = str(ttr_type)
            conversation.ttr_value = value
            self._world.conversation_changed(conversation)
        return {"ttr": {"ttrType": ttr_type, "value": value}}

    def _do_close(self, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        self._pool.close(self._conversation(cid))
        return {"closed": cid}


def _titles(body: dict[str, Any], key: str) -> list[str]:
    """The button titles under ``key`` (absent: none); 400 for anything but short strings."""
    titles = body.get(key, [])
    if (not isinstance(titles, list) or len(titles) > _MAX_BUTTONS
            or not all(isinstance(t, str) and t.strip() and len(t) <= _MAX_TITLE
                       for t in titles)):
        raise ApiError(400, f"{key} must be a list of at most {_MAX_BUTTONS} non-empty "
                            f"titles of at most {_MAX_TITLE} characters")
    return [t.strip() for t in titles]


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; only JSON posts are taken.

    The routes are mounted ``local``: cross-site and rebinding requests never get here.
    """
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "send application/json")
    try:
        payload = loads(request.body or b"{}")
    except BadInput as exc:
        raise ApiError(400, "the body is not JSON") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object")
    return payload
