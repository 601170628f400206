"""The steps of a scenario: one frozen value per step kind, built by :mod:`.scenario`.

Each step's ``kind`` is its key in the scenario file (``[[steps]] expect_message = {...}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from lpbot.protocol.names import ChatState, Role

__all__ = [
    "DEFAULT_TIMEOUT",
    "Close",
    "ExpectClosed",
    "ExpectMessage",
    "ExpectParticipant",
    "OpenConversation",
    "ReadReceipt",
    "Say",
    "SetTtr",
    "Step",
    "SubmitCsat",
    "Typing",
    "Wait",
]

#: seconds an expect step waits when neither it nor ``[scenario] timeout`` says
DEFAULT_TIMEOUT: Final = 10.0
_DEFAULT_TIMEOUT: Final = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenConversation:
    """Open (or reuse) the consumer's conversation, routed by skill or campaign (§5.3)."""

    kind: str = field(default="open_conversation", init=False)
    skill: str | None = None
    campaign_id: str | int | None = None
    engagement_id: str | int | None = None
    context: Mapping[str, Any] | None = None
    ttr: str | None = None
    timeout: float = _DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True, kw_only=True)
class Say:
    """Send a text: ``text``, or one of ``choices`` at random; ``{name}`` takes a variable."""

    kind: str = field(default="say", init=False)
    choices: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectMessage:
    """Wait for an agent message equal to ``text``, containing ``contains``, matching ``pattern``.

    ``text`` and ``contains`` take ``{variables}`` like ``say`` (``{{`` for a brace); a
    ``pattern`` is a regular expression as written. Messages are consumed in order: each
    expect step looks only at agent messages after the one the previous expect step matched;
    the ones it skips do not count again.
    """

    kind: str = field(default="expect_message", init=False)
    text: str | None = None
    contains: str | None = None
    pattern: re.Pattern[str] | None = None
    timeout: float = _DEFAULT_TIMEOUT

    def bind(self, values: Mapping[str, str]) -> ExpectMessage:
        """This step with the run's variable ``values`` put into ``text`` and ``contains``."""
        return replace(
            self, text=None if self.text is None else self.text.format_map(values),
            contains=None if self.contains is None else self.contains.format_map(values))

    def matches(self, message: str) -> bool:
        """True if ``message`` satisfies this step (no condition: any agent message does)."""
        if self.text is not None and message != self.text:
            return False
        if self.contains is not None and self.contains not in message:
            return False
        return self.pattern is None or self.pattern.search(message) is not None

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        parts = []
        if self.text is not None:
            parts.append(f"equal to {self.text!r}")
        if self.contains is not None:
            parts.append(f"containing {self.contains!r}")
        if self.pattern is not None:
            parts.append(f"matching /{self.pattern.pattern}/")
        return "agent message" + (" " + " and ".join(parts) if parts else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectParticipant:
    """Wait until a participant with ``role`` is in the conversation (an agent accepted)."""

    kind: str = field(default="expect_participant", init=False)
    role: str = Role.ASSIGNED_AGENT.value
    timeout: float = _DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """Pause the run for ``seconds`` (interrupted at once when the runner stops)."""

    kind: str = field(default="wait", init=False)
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadReceipt:
    """Mark every agent message received so far and not yet marked as READ (§5.8.4)."""

    kind: str = field(default="read_receipt", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Typing:
    """Publish a chat state (§5.8.5): ``COMPOSING`` while typing, ``ACTIVE`` after."""

    kind: str = field(default="typing", init=False)
    state: str = ChatState.COMPOSING.value


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTtr:
    """Change the conversation's time to respond (§5.4.5)."""

    kind: str = field(default="set_ttr", init=False)
    ttr_type: str
    value: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitCsat:
    """Rate the closed conversation (legacy CSAT, §5.4.4, 1-5)."""

    kind: str = field(default="submit_csat", init=False)
    rate: int
    resolved: bool = True
    status: str = "FILLED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Close:
    """Close the conversation as the consumer (§5.4.1)."""

    kind: str = field(default="close", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectClosed:
    """Wait until the conversation is reported CLOSE (by either side)."""

    kind: str = field(default="expect_closed", init=False)
    timeout: float = _DEFAULT_TIMEOUT


Step = (OpenConversation | Say | ExpectMessage | ExpectParticipant | Wait | ReadReceipt | Typing
        | SetTtr | SubmitCsat | Close | ExpectClosed)
