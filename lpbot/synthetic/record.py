"""The record of one run: what its consumer saw, filled by the client's callbacks.

The callbacks run on the client's reader thread and only append and notify; expect steps wait
on the record's condition with their timeout (no polling).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lpbot.protocol.events import ContentEvent
from lpbot.protocol.names import ConversationState, Role
from lpbot.protocol.notifications import ConversationChange, MessagingEvent
from lpbot.synthetic.content import Received, received
from lpbot.synthetic.results import TranscriptLine

__all__ = ["RunRecord"]


class RunRecord:
    """What one run's consumer saw, filled by the client's callbacks (reader thread).

    ``stop`` ends every wait early; ``slice_`` bounds each wait when ``stop`` is an outside
    event that cannot notify the condition.
    """

    def __init__(self, stop: threading.Event, slice_: float | None) -> None:
        self.cond = threading.Condition()
        self.stop = stop
        self.slice = slice_
        self.transcript: list[TranscriptLine] = []
        #: agent messages (texts, quick replies, structured content, files) in arrival order
        self.agent_messages: list[Received] = []
        self.roles: set[str] = set()
        self.closed = False
        self.first_said: tuple[int, float] | None = None

    def on_message(self, event: MessagingEvent) -> None:
        """Client callback: keep a message in the transcript (and agents' apart)."""
        role = str(event.role or "")
        now = time.time()
        if role == Role.CONSUMER:
            body = event.event
            if not isinstance(body, ContentEvent) or event.sequence is None:
                return
            text = body.text if body.text is not None else (
                f"[file {body.file.file_type} {body.file.caption or ''!r}]"
                if body.file is not None else None)
            if text is None:
                return
            line = TranscriptLine(at=now, who="consumer", text=text, sequence=event.sequence)
            with self.cond:
                self.transcript.append(line)
                self.cond.notify_all()
            return
        message = received(event, now)
        if message is None:
            return
        who = "agent" if role == Role.ASSIGNED_AGENT else role.lower() or "unknown"
        with self.cond:
            self.transcript.append(TranscriptLine(at=now, who=who, text=message.describe(),
                                                  sequence=event.sequence))
            self.agent_messages.append(message)
            self.cond.notify_all()

    def note(self, text: str) -> None:
        """Add a ``system`` line (a click, a capture) to the transcript."""
        with self.cond:
            self.transcript.append(TranscriptLine(at=time.time(), who="system", text=text))

    def on_conversation(self, change: ConversationChange) -> None:
        """Client callback: note who joined and whether the conversation closed."""
        details = change.details
        if details is None:
            return
        now = time.time()
        with self.cond:
            for participant in details.participants:
                role = str(participant.role)
                if role not in self.roles and role != Role.CONSUMER:
                    self.transcript.append(TranscriptLine(
                        at=now, who="system", text=f"{participant.id} joined as {role}"))
                self.roles.add(role)
            if details.state == ConversationState.CLOSE and not self.closed:
                self.closed = True
                self.transcript.append(TranscriptLine(
                    at=now, who="system", text=f"conversation closed ({details.close_reason})"))
            self.cond.notify_all()

    def wake(self) -> None:
        """Wake every wait so that it sees ``stop``."""
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait on the condition until ``predicate()`` or the timeout or the runner stopping."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.stop.is_set():
                    return predicate()
                # an outside stop event cannot notify this condition: wait in slices then
                self.cond.wait(remaining if self.slice is None else min(remaining, self.slice))
        return True
