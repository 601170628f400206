"""The steps of a scenario: one frozen value per step kind, built by :mod:`.scenario`.

Each step's ``kind`` is its key in the scenario file (``[[steps]] expect_message = {...}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from lpbot.protocol.names import ChatState, Role
from lpbot.synthetic.content import Received

__all__ = [
    "DEFAULT_TIMEOUT",
    "AnswerSurvey",
    "Branch",
    "BranchCase",
    "Capture",
    "Click",
    "Close",
    "ExpectClosed",
    "ExpectFile",
    "ExpectMessage",
    "ExpectParticipant",
    "ExpectQuickReplies",
    "ExpectRichContent",
    "Expectation",
    "OpenConversation",
    "ReadReceipt",
    "Repeat",
    "Say",
    "SendFile",
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
        return "agent message" + _text_conditions(self, lead="")

    def accepts(self, message: Received) -> bool:
        """True if the agent ``message`` (a text, with or without quick replies) matches."""
        return message.kind == "text" and self.matches(message.text)


def _text_conditions(step: ExpectMessage | ExpectQuickReplies | ExpectRichContent,
                     lead: str = " with text") -> str:
    parts = []
    if step.text is not None:
        parts.append(f"equal to {step.text!r}")
    if step.contains is not None:
        parts.append(f"containing {step.contains!r}")
    if step.pattern is not None:
        parts.append(f"matching /{step.pattern.pattern}/")
    return f"{lead} " + " and ".join(parts) if parts else ""


def _text_ok(step: ExpectMessage | ExpectQuickReplies | ExpectRichContent, text: str) -> bool:
    if step.text is not None and text != step.text:
        return False
    if step.contains is not None and step.contains not in text:
        return False
    return step.pattern is None or step.pattern.search(text) is not None


def _found(wanted: tuple[str, ...], present: tuple[str, ...], match: str) -> bool:
    """``all``: every wanted item is present; ``any``: one is; ``exact``: the same, in order."""
    if not wanted:
        return True
    if match == "exact":
        return wanted == present
    hits = [item in present for item in wanted]
    return all(hits) if match == "all" else any(hits)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectQuickReplies:
    """Wait for an agent text offering quick replies (§5.8.6): ``replies`` by title.

    ``match`` is ``all`` (every listed reply is offered), ``any`` (one is) or ``exact`` (the
    replies are these, in this order); no ``replies``: any quick replies. ``text``,
    ``contains`` and ``pattern`` check the text they come with, as ``expect_message`` does.
    """

    kind: str = field(default="expect_quick_replies", init=False)
    replies: tuple[str, ...] = ()
    match: str = "all"
    text: str | None = None
    contains: str | None = None
    pattern: re.Pattern[str] | None = None
    timeout: float = _DEFAULT_TIMEOUT

    def bind(self, values: Mapping[str, str]) -> ExpectQuickReplies:
        """This step with the run's variables put into its texts."""
        return replace(self, replies=tuple(r.format_map(values) for r in self.replies),
                       text=None if self.text is None else self.text.format_map(values),
                       contains=None if self.contains is None
                       else self.contains.format_map(values))

    def accepts(self, message: Received) -> bool:
        """True if ``message`` is a text with quick replies that satisfy this step."""
        return (message.kind == "text" and bool(message.quick_replies)
                and _text_ok(self, message.text)
                and _found(self.replies, tuple(b.title for b in message.quick_replies),
                           self.match))

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        what = (f"{self.match} of {list(self.replies)}" if self.replies else "any")
        return f"quick replies ({what}){_text_conditions(self)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectRichContent:
    """Wait for structured content (§5.8.3): element ``types``, ``titles``, ``buttons``.

    ``titles`` are the texts of ``text`` elements and the titles of other titled elements;
    ``buttons`` the titles of buttons. ``match`` ``all`` wants every listed item, ``any`` one
    of them. ``text``/``contains``/``pattern`` check the content's texts joined by newlines.
    """

    kind: str = field(default="expect_rich_content", init=False)
    types: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    match: str = "all"
    text: str | None = None
    contains: str | None = None
    pattern: re.Pattern[str] | None = None
    timeout: float = _DEFAULT_TIMEOUT

    def bind(self, values: Mapping[str, str]) -> ExpectRichContent:
        """This step with the run's variables put into titles, buttons and texts."""
        return replace(self, titles=tuple(t.format_map(values) for t in self.titles),
                       buttons=tuple(b.format_map(values) for b in self.buttons),
                       text=None if self.text is None else self.text.format_map(values),
                       contains=None if self.contains is None
                       else self.contains.format_map(values))

    def accepts(self, message: Received) -> bool:
        """True if ``message`` is structured content that satisfies this step."""
        if message.kind != "rich" or not _text_ok(self, message.text):
            return False
        buttons = tuple(b.title for b in message.buttons)
        if self.match == "any":
            wanted = [*self.types, *self.titles, *self.buttons]
            present = {*message.types, *message.titles, *buttons}
            return not wanted or any(item in present for item in wanted)
        return (_found(self.types, message.types, "all")
                and _found(self.titles, message.titles, "all")
                and _found(self.buttons, buttons, "all"))

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        parts = [f"{name} {list(values)}" for name, values in
                 (("types", self.types), ("titles", self.titles), ("buttons", self.buttons))
                 if values]
        what = f" ({self.match} of " + ", ".join(parts) + ")" if parts else ""
        return f"structured content{what}{_text_conditions(self)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectFile:
    """Wait for a file from the agent (§5.8.2) of ``file_type`` with ``caption``.

    With ``download`` the file is fetched through a download URL (§5.9) and must not be empty.
    """

    kind: str = field(default="expect_file", init=False)
    file_type: str | None = None
    caption: str | None = None
    download: bool = False
    timeout: float = _DEFAULT_TIMEOUT

    def bind(self, values: Mapping[str, str]) -> ExpectFile:
        """This step with the run's variables put into the caption."""
        return replace(self, caption=None if self.caption is None
                       else self.caption.format_map(values))

    def accepts(self, message: Received) -> bool:
        """True if ``message`` is a file of the type and caption wanted."""
        file = message.file
        return (file is not None
                and (self.file_type is None or file.file_type.upper() == self.file_type)
                and (self.caption is None or file.caption == self.caption))

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        parts = [f"type {self.file_type}" if self.file_type else "",
                 f"caption {self.caption!r}" if self.caption is not None else ""]
        return "file" + (" (" + ", ".join(p for p in parts if p) + ")" if any(parts) else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Click:
    """Press a quick reply or button of the last message that offered some (§5.8.6).

    By ``text`` (its title) or ``position`` (1 = the first offered). Sends an ``ACTION``
    receipt for that message with the button's metadata, then the button's text with the same
    metadata; a link button sends the receipt only.
    """

    kind: str = field(default="click", init=False)
    text: str | None = None
    position: int | None = None

    def describe(self) -> str:
        """Which button, for failure messages."""
        return f"button {self.text!r}" if self.text is not None else f"button #{self.position}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Capture:
    """Wait for an agent message matching ``pattern``; its named groups become variables."""

    kind: str = field(default="capture", init=False)
    pattern: re.Pattern[str]
    timeout: float = _DEFAULT_TIMEOUT

    def accepts(self, message: Received) -> bool:
        """True if the message's text matches the pattern."""
        return self.pattern.search(message.text) is not None

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        return f"agent message matching /{self.pattern.pattern}/ to capture from"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendFile:
    """Upload a file (§5.9) and send it as a hosted file (§5.8.2).

    ``path`` is read (relative to the scenario file); without it ``size`` bytes are made up.
    """

    kind: str = field(default="send_file", init=False)
    file_type: str
    caption: str = ""
    path: str | None = None
    size: int = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerSurvey:
    """Answer a post-conversation survey (§5.8.6), one answer per question.

    For each of ``answers`` wait for the next question in the survey dialog and click the
    reply with that title (or at that position, for an int).
    """

    kind: str = field(default="answer_survey", init=False)
    answers: tuple[str | int, ...]
    timeout: float = _DEFAULT_TIMEOUT


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

    def bind(self, values: Mapping[str, str]) -> ExpectClosed:
        """This step (it has no texts)."""
        return self

    def accepts(self, message: Received) -> bool:
        """No message meets it: the conversation's state does."""
        return False

    def describe(self) -> str:
        """What the step waits for, for failure messages."""
        return "the conversation closing"


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchCase:
    """One way a branch can go: the expectation that picks it and the steps that follow."""

    expect: Expectation
    steps: tuple[Step, ...]
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Branch:
    """Wait for whichever case's expectation is met first; run that case's steps.

    Agent messages are looked at in arrival order, and for each message the cases in the
    order written; the message that picks a case is consumed like an expect step's.
    """

    kind: str = field(default="branch", init=False)
    cases: tuple[BranchCase, ...]

    @property
    def timeout(self) -> float:
        """The longest of the cases' timeouts."""
        return max(case.expect.timeout for case in self.cases)


@dataclass(frozen=True, slots=True, kw_only=True)
class Repeat:
    """Run ``steps`` ``times`` times; with ``until``, at most that often until it is met.

    After each round the next agent message is held against ``until``: a match is consumed and
    ends the repeat; after ``times`` rounds without one the repeat fails.
    """

    kind: str = field(default="repeat", init=False)
    times: int
    steps: tuple[Step, ...]
    names: tuple[str, ...]
    until: Expectation | None = None


Expectation = ExpectMessage | ExpectQuickReplies | ExpectRichContent | ExpectFile | ExpectClosed
Step = (OpenConversation | Say | ExpectMessage | ExpectParticipant | Wait | ReadReceipt | Typing
        | SetTtr | SubmitCsat | Close | ExpectClosed | ExpectQuickReplies | ExpectRichContent
        | ExpectFile | Click | Capture | SendFile | AnswerSurvey | Branch | Repeat)
