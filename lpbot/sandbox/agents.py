"""Simulated agents: a pool that accepts conversations, greets, answers and closes (§7.2).

All behaviour runs on the sandbox's event loop: delays are ``loop.call_later`` timers, never
threads. :class:`AgentControl` is the thread-safe face tests use to make an agent act.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lpbot.protocol.names import AcceptStatus, ChatState, Role

from .flow import Flow, FlowAgent
from .model import Conversation, StoredEvent
from .world import World

__all__ = ["CLOSE_REASONS", "DEFAULT_GREETING", "AgentOptions", "AgentPool", "AgentProfile"]

DEFAULT_GREETING = "Hi, I'm {nickname}. How can I help you?"
#: ``closeReason`` values a close from the agent side may carry (protocol notes §6.1)
CLOSE_REASONS = ("AGENT", "SYSTEM", "TIMEOUT")
CLOSE_CAUSES = {"AGENT": "Closed by agent", "SYSTEM": "Closed by system", "TIMEOUT": "Timeout"}

_NAMES = ("Alex", "Sam", "Riley", "Jordan", "Casey", "Morgan", "Taylor", "Jamie", "Robin", "Kim")
_AGENT = Role.ASSIGNED_AGENT.value


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentOptions:
    """How the simulated agents behave.

    ``accept_delay=None`` means nobody accepts on their own (tests call ``agents.accept``).
    """

    count: int = 3
    mode: str = "echo"
    rules: tuple[tuple[str, str], ...] = ()
    accept_delay: float | None = 0.2
    reply_delay: float = 0.1
    greeting: str | None = DEFAULT_GREETING
    receipts: bool = True
    typing: bool = True
    idle_close: float | None = None
    #: the flow ``mode = "flow"`` agents follow (:mod:`lpbot.sandbox.flow`)
    flow: Flow | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("echo", "rules", "silent", "flow"):
            raise ValueError(f"agent mode must be echo, rules, silent or flow, not {self.mode!r}")
        if (self.mode == "flow") != (self.flow is not None):
            raise ValueError("agent mode flow goes with a flow, and a flow with mode flow")
        if self.count < 0:
            raise ValueError("agent count must be >= 0")
        for pattern, _ in self.rules:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad agent rule pattern {pattern!r}: {exc}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentProfile:
    """An agent's public profile (protocol notes §5.13)."""

    agent_id: str
    nickname: str
    full_name: str
    picture_url: str
    employee_id: str

    def to_wire(self) -> dict[str, str]:
        """The JSON the Users API answers."""
        return {
            "pictureUrl": self.picture_url,
            "employeeId": self.employee_id,
            "nickname": self.nickname,
            "fullName": self.full_name,
        }


class AgentPool:
    """The agents of one sandbox and their timers (event-loop thread only)."""

    def __init__(
        self,
        world: World,
        options: AgentOptions,
        *,
        picture_base: Callable[[], str],
        strict: bool = True,
    ) -> None:
        self.world = world
        self.options = options
        #: surveys only for consumers that declared MULTI_DIALOG (§7.2, §7.8) unless lenient
        self.strict = strict
        self.loop: asyncio.AbstractEventLoop | None = None
        self.profiles: list[AgentProfile] = []
        for index in range(options.count):
            name = _NAMES[index % len(_NAMES)] + ("" if index < len(_NAMES) else str(index))
            agent_id = str(uuid.uuid4())
            self.profiles.append(
                AgentProfile(
                    agent_id=agent_id,
                    nickname=name,
                    full_name=f"{name} Agent",
                    picture_url=f"{{base}}/agents/{agent_id}.svg",
                    employee_id=f"E{1000 + index}",
                )
            )
        self._picture_base = picture_base
        #: agents played by a person (the console): profiles served, never assigned round robin
        self.people: list[AgentProfile] = []
        #: conversations a person has taken: the simulated agents leave them alone
        self.manual: set[str] = set()
        self._next = 0
        self._pending: dict[str, list[StoredEvent]] = {}
        self._last_activity: dict[str, float] = {}
        self._rules = [(re.compile(p), reply) for p, reply in options.rules]
        world.listeners.append(self._on_change)
        #: the bot the agents play in ``flow`` mode (set by the sandbox, which owns the files)
        self.bot: FlowAgent | None = None

    def profile(self, agent_id: str) -> AgentProfile | None:
        """The profile of ``agent_id`` with its picture URL resolved."""
        for profile in (*self.profiles, *self.people):
            if profile.agent_id == agent_id:
                base = self._picture_base()
                return AgentProfile(
                    agent_id=profile.agent_id,
                    nickname=profile.nickname,
                    full_name=profile.full_name,
                    picture_url=profile.picture_url.replace("{base}", base),
                    employee_id=profile.employee_id,
                )
        return None

    def _later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        if self.loop is None:
            return
        if delay <= 0:
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_later(delay, fn, *args)

    # -- reactions --------------------------------------------------------------------------

    def _on_change(self, kind: str, conversation: Conversation, stored: StoredEvent | None) -> None:
        cid = conversation.conversation_id
        if self.loop is not None and conversation.stage != "CLOSE":  # a CSAT after the close
            self._last_activity[cid] = self.loop.time()  # must not bring the entry back
        if kind == "created":
            if self.options.accept_delay is not None and self.profiles:
                self._later(self.options.accept_delay, self._auto_accept, cid)
            self._arm_idle(cid)
        elif kind == "closed":
            self.manual.discard(cid)
            self._pending.pop(cid, None)
            self._last_activity.pop(cid, None)
        elif kind == "event" and stored is not None and stored.role == Role.CONSUMER.value:
            if cid in self.manual:
                return
            self._on_consumer_event(conversation, stored)

    def _on_consumer_event(self, conversation: Conversation, stored: StoredEvent) -> None:
        if stored.dialog_id != conversation.conversation_id or not conversation.is_open:
            return
        if stored.event.get("type") not in ("ContentEvent", "RichContentEvent"):
            return
        if conversation.agent_id is None:
            self._pending.setdefault(conversation.conversation_id, []).append(stored)
            return
        self._later(0, self._respond, conversation.conversation_id, stored)

    def _respond(self, cid: str, stored: StoredEvent) -> None:
        conversation = self.world.conversations.get(cid)
        if conversation is None or not conversation.is_open or conversation.agent_id is None:
            return
        if cid in self.manual:
            return
        agent_id = conversation.agent_id
        if self.options.receipts and stored.sequence is not None:
            for status in (AcceptStatus.ACCEPT, AcceptStatus.READ):
                self.publish(conversation, agent_id, _receipt(status.value, [stored.sequence]))
        if self.bot is not None:
            self.bot.respond(conversation, stored)
            return
        reply = self._reply_text(stored)
        if reply is not None:
            self.reply(conversation, reply)

    def _reply_text(self, stored: StoredEvent) -> str | None:
        event = stored.event
        if event.get("contentType") != "text/plain" or not isinstance(event.get("message"), str):
            return None
        text: str = event["message"]
        if self.options.mode == "echo":
            return text
        if self.options.mode == "rules":
            for pattern, reply in self._rules:
                match = pattern.search(text)
                if match is not None:
                    return match.expand(reply)
        return None

    def reply(self, conversation: Conversation, text: str) -> None:
        """Answer as the assigned agent: COMPOSING, the text after ``reply_delay``, ACTIVE."""
        agent_id = conversation.agent_id
        if agent_id is None:
            return
        if self.options.typing:
            self.publish(conversation, agent_id, _chat_state(ChatState.COMPOSING.value))
        self._later(self.options.reply_delay, self._send_reply, conversation.conversation_id, text)

    def _send_reply(self, cid: str, text: str) -> None:
        conversation = self.world.conversations.get(cid)
        if conversation is None or not conversation.is_open or conversation.agent_id is None:
            return
        if cid in self.manual:
            return
        self.publish(conversation, conversation.agent_id, _text(text))
        if self.options.typing:
            self.publish(conversation, conversation.agent_id, _chat_state(ChatState.ACTIVE.value))

    # -- actions ----------------------------------------------------------------------------

    def publish(
        self, conversation: Conversation, agent_id: str, event: dict[str, Any]
    ) -> StoredEvent:
        """Publish ``event`` in the main dialog as ``agent_id``."""
        return self.world.publish(conversation.main, agent_id, _AGENT, event)

    def _auto_accept(self, cid: str) -> None:
        conversation = self.world.conversations.get(cid)
        if conversation is not None and conversation.is_open and conversation.agent_id is None:
            self.accept(conversation)

    def accept(self, conversation: Conversation, agent_id: str | None = None) -> str:
        """Assign an agent (round robin unless given), greet, answer what was waiting."""
        if conversation.agent_id is not None:
            return conversation.agent_id
        if agent_id is None:
            if not self.profiles:
                raise ValueError("the sandbox has no agents (AgentOptions.count == 0)")
            agent_id = self.profiles[self._next % len(self.profiles)].agent_id
            self._next += 1
        with self.world.lock:
            self._join(conversation, agent_id)
        return agent_id

    def transfer(self, conversation: Conversation, agent_id: str | None = None) -> str:
        """Hand an open conversation to another agent; returns the agent who has it now.

        The assigned agent leaves and ``agent_id`` (or the next simulated agent) joins and
        greets, in one conversation change.
        """
        if not conversation.is_open:
            raise ValueError(f"conversation {conversation.conversation_id} is closed")
        previous = conversation.agent_id
        if agent_id is None:
            others = [p.agent_id for p in self.profiles if p.agent_id != previous]
            if not others:
                raise ValueError("no other agent to transfer the conversation to")
            agent_id = others[self._next % len(others)]
            self._next += 1
        elif self.profile(agent_id) is None:
            raise ValueError(f"unknown agent {agent_id}")
        if agent_id == previous:
            raise ValueError(f"agent {agent_id} already has the conversation")
        cid = conversation.conversation_id
        with self.world.lock:
            for participants in (conversation.participants, conversation.main.participants):
                participants[:] = [p for p in participants if p != (previous, _AGENT)]
            if any(p.agent_id == agent_id for p in self.people):
                self.manual.add(cid)  # a person takes it: the simulated agents let go
            else:
                self.manual.discard(cid)
            self._join(conversation, agent_id)
        return agent_id

    def _join(self, conversation: Conversation, agent_id: str) -> None:
        """Add ``agent_id`` as the assigned agent, notify, greet, answer what was waiting."""
        conversation.participants.append((agent_id, _AGENT))
        conversation.main.participants.append((agent_id, _AGENT))
        self.world.conversation_changed(conversation)
        if conversation.conversation_id in self.manual:
            return
        profile = self.profile(agent_id)
        if self.bot is not None:
            self.bot.joined(conversation)
        elif self.options.greeting and self.options.mode != "silent":
            nickname = profile.nickname if profile is not None else "your agent"
            self.publish(
                conversation, agent_id, _text(self.options.greeting.format(nickname=nickname))
            )
        for stored in self._pending.pop(conversation.conversation_id, []):
            self._later(0, self._respond, conversation.conversation_id, stored)

    def close(
        self, conversation: Conversation, *, survey: bool = False, reason: str = "AGENT"
    ) -> None:
        """Close as the agent, or with ``reason`` ``SYSTEM`` / ``TIMEOUT`` as the system would.

        With ``survey`` (agent closes only) the main dialog closes and a survey opens;
        conversations closed by the system get no survey (protocol notes §7.2).
        """
        if reason not in CLOSE_REASONS:
            raise ValueError(f"reason must be one of {', '.join(CLOSE_REASONS)}, not {reason!r}")
        if survey and reason != "AGENT":
            raise ValueError("a conversation closed by the system gets no survey")
        if survey and self.strict and not conversation.multi_dialog:
            raise ValueError(
                "a post-conversation survey opens only for a consumer that declared MULTI_DIALOG "
                "(protocol notes §7.2, §7.8); a lenient sandbox opens it anyway"
            )
        if conversation.stage != "OPEN":
            return
        if survey and conversation.is_open and self.world.survey is not None:
            with self.world.lock:
                self.world.close_dialog(
                    conversation.main, closed_by="AGENT", cause="Closed by agent"
                )
                conversation.state = "CLOSE"
                conversation.close_reason = "AGENT"
                conversation.awaiting_agent_since = None
                self.world.survey(conversation)
            return
        self.world.close_conversation(conversation, reason=reason, cause=CLOSE_CAUSES[reason])

    # -- idle close -------------------------------------------------------------------------

    def _arm_idle(self, cid: str) -> None:
        if self.options.idle_close is not None:
            self._later(self.options.idle_close, self._idle_check, cid)

    def _idle_check(self, cid: str) -> None:
        conversation = self.world.conversations.get(cid)
        idle_close = self.options.idle_close
        if (
            conversation is None
            or not conversation.is_open
            or idle_close is None
            or self.loop is None
        ):
            return
        idle = self.loop.time() - self._last_activity.get(cid, 0.0)
        if idle >= idle_close:
            self.world.close_conversation(conversation, reason="AGENT", cause="Idle")
        else:
            self._later(idle_close - idle, self._idle_check, cid)


def _text(text: str) -> dict[str, Any]:
    return {"type": "ContentEvent", "contentType": "text/plain", "message": text}


def _receipt(status: str, sequences: list[int]) -> dict[str, Any]:
    return {"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences}


def _chat_state(state: str) -> dict[str, Any]:
    return {"type": "ChatStateEvent", "chatState": state}
