"""The agent side as a thread-safe API for tests: accept, say, type, read, close, burst.

Every method runs its work on the sandbox's event loop (so it is ordered with the consumers'
requests) and waits for the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lpbot.protocol.names import AcceptStatus, ChatState

from .agents import AgentPool
from .invitations import Invitations
from .model import Conversation, StoredEvent
from .ws import WsServer

__all__ = ["AgentControl"]


class AgentControl:
    """Make the simulated agents act (any thread)."""

    def __init__(self, pool: AgentPool, ws: WsServer, invitations: Invitations) -> None:
        self._pool = pool
        self._ws = ws
        self._invitations = invitations

    def _conversation(self, conversation_id: str) -> Conversation:
        conversation = self._pool.world.conversations.get(conversation_id)
        if conversation is None:
            raise KeyError(f"unknown conversation {conversation_id}")
        return conversation

    def _assigned(self, conversation_id: str) -> tuple[Conversation, str]:
        conversation = self._conversation(conversation_id)
        if not conversation.is_open:
            raise ValueError(f"conversation {conversation_id} is closed")
        agent_id = conversation.agent_id or self._pool.accept(conversation)
        return conversation, agent_id

    @property
    def profiles(self) -> list[tuple[str, str, str, str]]:
        """(agent_id, nickname, picture_url, employee_id) of every agent."""
        out = []
        for p in self._pool.profiles:
            resolved = self._pool.profile(p.agent_id) or p
            out.append((p.agent_id, p.nickname, resolved.picture_url, p.employee_id))
        return out

    def accept(self, conversation_id: str, agent_id: str | None = None) -> str:
        """Assign an agent now (round robin unless ``agent_id``); returns the agent id."""

        def run() -> str:
            return self._pool.accept(self._conversation(conversation_id), agent_id)

        return self._ws.call(run)

    def say(
        self, conversation_id: str, text: str, *, quick_replies: Mapping[str, Any] | None = None
    ) -> int:
        """Publish a text from the assigned agent (accepting if needed); returns its sequence."""

        def run() -> int:
            conversation, agent_id = self._assigned(conversation_id)
            event: dict[str, Any] = {
                "type": "ContentEvent",
                "contentType": "text/plain",
                "message": text,
            }
            if quick_replies is not None:
                event["quickReplies"] = dict(quick_replies)
            return _sequence(self._pool.publish(conversation, agent_id, event))

        return self._ws.call(run)

    def say_rich(self, conversation_id: str, content: Mapping[str, Any]) -> int:
        """Publish a RichContentEvent (card under ``content``); returns its sequence."""

        def run() -> int:
            conversation, agent_id = self._assigned(conversation_id)
            event = {"type": "RichContentEvent", "content": dict(content)}
            return _sequence(self._pool.publish(conversation, agent_id, event))

        return self._ws.call(run)

    def typing(self, conversation_id: str, chat_state: str = ChatState.COMPOSING.value) -> None:
        """Publish a chat state (unsequenced) from the assigned agent."""

        def run() -> None:
            conversation, agent_id = self._assigned(conversation_id)
            self._pool.publish(
                conversation, agent_id, {"type": "ChatStateEvent", "chatState": chat_state}
            )

        self._ws.call(run)

    def read(
        self, conversation_id: str, sequences: Iterable[int], status: str = AcceptStatus.READ.value
    ) -> int:
        """Publish an accept-status receipt (READ by default) for ``sequences``."""
        sequence_list = list(sequences)

        def run() -> int:
            conversation, agent_id = self._assigned(conversation_id)
            event = {"type": "AcceptStatusEvent", "status": status, "sequenceList": sequence_list}
            return _sequence(self._pool.publish(conversation, agent_id, event))

        return self._ws.call(run)

    def transfer(self, conversation_id: str, agent_id: str | None = None) -> str:
        """Transfer to ``agent_id`` (default: another simulated agent); returns the new agent.

        The assigned agent leaves and the new one joins (one conversation change the consumer
        sees in ``participants``), then greets. ValueError for a closed conversation, an
        unknown agent, or no other agent to take it.
        """

        def run() -> str:
            return self._pool.transfer(self._conversation(conversation_id), agent_id)

        return self._ws.call(run)

    def close(self, conversation_id: str, *, survey: bool = False, reason: str = "AGENT") -> None:
        """Close the conversation as the agent (``survey``: open a post-conversation survey).

        ``reason="SYSTEM"`` (or ``"TIMEOUT"``) closes it as LivePerson's auto-close does: that
        ``closeReason``, and no survey.
        """

        def run() -> None:
            self._pool.close(self._conversation(conversation_id), survey=survey, reason=reason)

        self._ws.call(run)

    def invite(self, conversation_id: str, kind: str = "cobrowse") -> str:
        """Open a CoBrowse, voice or video dialog in the conversation; returns its dialog id.

        ``kind`` is ``cobrowse`` (mode ``shared``), ``cobrowse-view``, ``cobrowse-follow``,
        ``voice`` or ``video`` (protocol notes §6.1 Example D). The assigned agent (accepting
        first if needed) invites; the invitation expires after two minutes unless
        :meth:`session_state` moves it on. ValueError for a closed conversation or, in a strict
        sandbox, a consumer that did not declare ``CO_BROWSE``.
        """

        def run() -> str:
            conversation, _ = self._assigned(conversation_id)
            return self._invitations.invite(conversation, kind).dialog_id

        return self._ws.call(run)

    def session_state(self, conversation_id: str, dialog_id: str, state: str) -> None:
        """Move an invitation's session to ``ACCEPTED`` or ``CLOSED`` (closing its dialog)."""

        def run() -> None:
            self._invitations.set_state(self._conversation(conversation_id), dialog_id, state)

        self._ws.call(run)

    def burst(self, conversation_id: str, count: int, prefix: str = "msg") -> list[int]:
        """Publish ``count`` texts ``"<prefix> 0"``... back to back; returns their sequences."""

        def run() -> list[int]:
            conversation, agent_id = self._assigned(conversation_id)
            out = []
            for index in range(count):
                event = {
                    "type": "ContentEvent",
                    "contentType": "text/plain",
                    "message": f"{prefix} {index}",
                }
                out.append(_sequence(self._pool.publish(conversation, agent_id, event)))
            return out

        return self._ws.call(run)


def _sequence(stored: StoredEvent) -> int:
    return stored.sequence if stored.sequence is not None else 0
