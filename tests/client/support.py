"""Shared helpers of the client's tests: quiet agents, fast backoff, recorders, thread checks."""

from __future__ import annotations

import threading

from lpbot.client import StateChange
from lpbot.client.backoff import Backoff
from lpbot.protocol.events import ContentEvent
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import ConversationChange, MessagingEvent
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.testing import wait_until

#: agents that accept at once and only speak when a test tells them to
QUIET_AGENTS = AgentOptions(mode="silent", greeting=None, receipts=False, typing=False,
                            accept_delay=0.01)
#: the retry policy of the tests: the documented shape, a thousandth of the time, no jitter
FAST_BACKOFF = Backoff(jitter=0.0).scaled(0.001)


def client_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(("lpbot-reader", "lpbot-keepalive", "lpbot-refresh"))]


class Recorder:
    """Collects what a client hands to its callbacks (called on the reader thread)."""

    def __init__(self) -> None:
        self.events: list[MessagingEvent] = []
        self.states: list[StateChange] = []
        self.changes: list[ConversationChange] = []
        self._lock = threading.Lock()

    def on_message(self, event: MessagingEvent) -> None:
        with self._lock:
            self.events.append(event)

    def on_state(self, change: StateChange) -> None:
        with self._lock:
            self.states.append(change)

    def on_conversation(self, change: ConversationChange) -> None:
        with self._lock:
            self.changes.append(change)

    def delivered(self) -> list[tuple[str, int]]:
        """(dialog, sequence) of every sequenced event, in delivery order."""
        with self._lock:
            return [(e.dialog_id, e.sequence) for e in self.events if e.sequence is not None]

    def rated(self, conversation_id: str) -> bool:
        """True once a metadata change carrying the conversation's CSAT arrived."""
        with self._lock:
            return any(c.conversation_id == conversation_id and c.details is not None
                       and c.details.csat is not None for c in self.changes)

    def agent_texts(self) -> list[str]:
        with self._lock:
            return [e.event.text for e in self.events
                    if e.role == Role.ASSIGNED_AGENT and isinstance(e.event, ContentEvent)
                    and e.event.text is not None]

    def sequences(self, dialog_id: str) -> list[int]:
        with self._lock:
            return [e.sequence for e in self.events
                    if e.dialog_id == dialog_id and e.sequence is not None]

    def wait_agent_texts(self, count: int, timeout: float = 10.0) -> list[str]:
        return wait_until(lambda: len(self.agent_texts()) >= count and self.agent_texts(),
                          timeout, f"{count} agent messages")


def agent_assigned(sandbox: Sandbox, conversation_id: str) -> str:
    def assigned() -> str | None:
        for participant_id, role in sandbox.conversation(conversation_id).participants:
            if role == "ASSIGNED_AGENT":
                return participant_id
        return None

    return wait_until(assigned, 5.0, "an agent to accept")
