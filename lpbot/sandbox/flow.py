"""A bot agent for the sandbox: simulated agents that follow a flow file of states.

A flow file (TOML) names states; entering a state the agent sends its content in order (a
text, quick replies on that text, a card, a carousel, a file), then transfers the conversation
to another skill, closes it, goes on to another state at once (``goto``), or waits for the
consumer. A consumer's message moves the conversation on by the first matching ``on`` rule:
``text`` (a regular expression searched in what the consumer typed), ``button`` (a click on
that quick reply or card button: the ``ExternalId`` metadata the button carried, sent back
with the ACTION receipt and the text as protocol notes §5.8.6 shows), ``file`` (a file the
consumer sent) or ``any``. Nothing matching: the agent says ``fallback`` and sends the state
again. An optional ``[survey]`` replaces the sandbox's one-question survey for multi-dialog
consumers with the flow's questions, answered as in LivePerson's PCS tutorial.

Flow files are checked whole when loaded: a mistake raises :class:`FlowError` naming the file
and the key path (``states.menu.on[1].goto``). All behaviour runs on the sandbox's event loop.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from lpbot.protocol.names import ChatState, Role

from .model import Conversation, Dialog, StoredEvent
from .survey import SurveyBot
from .world import World

if TYPE_CHECKING:
    from .agents import AgentPool
    from .files import FileStore

__all__ = [
    "Button",
    "Card",
    "button_content",
    "Flow",
    "FlowAgent",
    "FlowError",
    "FlowFile",
    "FlowSurvey",
    "Rule",
    "State",
    "SurveyQuestion",
    "card_content",
    "load_flow",
    "parse_flow",
]

DEFAULT_FALLBACK: Final = "Sorry, I did not get that."
#: bytes of a file a flow sends when it names no ``path``: tiny but real files of each type
_PLACEHOLDERS: Final = {
    "PDF": b"%PDF-1.4\n% lpbot sandbox placeholder\n%%EOF\n",
    "TXT": b"lpbot sandbox placeholder file\n",
    "PNG": bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                         "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"),
}
_FILE_TYPES: Final = ("JPG", "JPEG", "PNG", "GIF", "PDF", "TXT")
_MAX_FILE: Final = 3 * 1024 * 1024
_AGENT: Final = Role.ASSIGNED_AGENT.value


class FlowError(ValueError):
    """A flow file is wrong; the message names the file and the key path."""

    def __init__(self, message: str, *, file: str, key: str | None = None) -> None:
        self.file = file
        self.key = key
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """A quick reply or card button: its title, the text a click publishes, or a link."""

    title: str
    text: str | None = None
    url: str | None = None

    @property
    def publishes(self) -> str | None:
        """The text a click sends (``None`` for a link button)."""
        return None if self.url is not None else (self.text or self.title)


@dataclass(frozen=True, slots=True, kw_only=True)
class Card:
    """A card: optional image, title (bold), text and buttons, in a vertical container."""

    title: str | None = None
    text: str | None = None
    image: str | None = None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowFile:
    """A file the agent sends as a hosted file (protocol notes §5.8.2)."""

    caption: str
    file_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One ``on`` rule: what the consumer's message must be, and the state it leads to."""

    goto: str
    text: re.Pattern[str] | None = None
    button: str | None = None
    file: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    """One state of a flow: what the agent sends on entering it, and where it goes next."""

    name: str
    text: str | None = None
    quick_replies: tuple[Button, ...] = ()
    card: Card | None = None
    carousel: tuple[Card, ...] = ()
    file: FlowFile | None = None
    transfer: str | None = None
    close: bool = False
    goto: str | None = None
    on: tuple[Rule, ...] = ()
    fallback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SurveyQuestion:
    """A post-conversation survey question and its quick-reply answers."""

    text: str
    replies: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """A checked flow file."""

    name: str
    file: str
    start: str
    states: Mapping[str, State]
    fallback: str = DEFAULT_FALLBACK
    survey: tuple[SurveyQuestion, ...] = ()
    survey_thanks: str = "Thank you!"


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_flow(path: Path | str) -> Flow:
    """Read and check the flow file at ``path``; raises :class:`FlowError`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError(f"cannot read the flow: {exc.strerror or exc}", file=name) from exc
    except UnicodeDecodeError as exc:
        raise FlowError("the flow is not UTF-8 text", file=name) from exc
    return parse_flow(text, file=name, base=Path(path).parent)


def parse_flow(text: str, *, file: str = "<flow>", base: Path | None = None) -> Flow:
    """Check TOML ``text`` and build the :class:`Flow`; file paths are relative to ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(f"not valid TOML: {exc}", file=file) from exc
    return _FlowParser(file, base or Path(".")).flow(data)


_STATE_KEYS: Final = ("text", "quick_replies", "card", "carousel", "file", "transfer", "close",
                      "goto", "on", "fallback")
_RULE_KEYS: Final = ("text", "button", "file", "any", "goto")


class _FlowParser:
    def __init__(self, file: str, base: Path) -> None:
        self.file = file
        self.base = base

    def error(self, key: str, message: str) -> FlowError:
        return FlowError(message, file=self.file, key=key)

    def typed(self, value: Any, kind: type, key: str) -> Any:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            words = {str: "a string", bool: "true or false", dict: "a table", list: "an array"}
            raise self.error(key, f"expected {words.get(kind, kind.__name__)}, "
                                  f"got {type(value).__name__} {value!r}")
        return value

    def keys(self, table: Mapping[str, Any], allowed: tuple[str, ...], key: str) -> None:
        for name in table:
            if name not in allowed:
                raise self.error(f"{key}.{name}" if key else name,
                                 f"unknown key (expected one of: {', '.join(allowed)})")

    def flow(self, data: Mapping[str, Any]) -> Flow:
        self.keys(data, ("flow", "states", "survey"), "")
        meta = self.typed(data.get("flow", {}), dict, "flow")
        self.keys(meta, ("name", "start", "fallback"), "flow")
        states_data = self.typed(data.get("states", {}), dict, "states")
        if not states_data:
            raise self.error("states", "a flow needs at least one [states.NAME] table")
        start = self.typed(meta.get("start", next(iter(states_data))), str, "flow.start")
        states = {name: self.state(name, value) for name, value in states_data.items()}
        if start not in states:
            raise self.error("flow.start", f"unknown state {start!r} "
                                           f"(states: {', '.join(states)})")
        for state in states.values():
            where = f"states.{state.name}"
            for key, target in [("goto", state.goto)] + [
                    (f"on[{i}].goto", rule.goto) for i, rule in enumerate(state.on)]:
                if target is not None and target not in states:
                    raise self.error(f"{where}.{key}", f"unknown state {target!r} "
                                                       f"(states: {', '.join(states)})")
        questions, thanks = self.survey(data.get("survey"))
        return Flow(name=self.typed(meta.get("name", Path(self.file).stem), str, "flow.name"),
                    file=self.file, start=start, states=states,
                    fallback=self.typed(meta.get("fallback", DEFAULT_FALLBACK), str,
                                        "flow.fallback"),
                    survey=questions, survey_thanks=thanks)

    def state(self, name: str, value: Any) -> State:
        where = f"states.{name}"
        table = self.typed(value, dict, where)
        self.keys(table, _STATE_KEYS, where)
        text = table.get("text")
        if text is not None:
            self.typed(text, str, f"{where}.text")
        quick = self.buttons(table.get("quick_replies", []), f"{where}.quick_replies")
        if quick and text is None:
            raise self.error(f"{where}.quick_replies", "quick replies come with a text")
        card = self.card(table["card"], f"{where}.card") if "card" in table else None
        carousel = tuple(self.card(item, f"{where}.carousel[{i}]") for i, item in
                         enumerate(self.typed(table.get("carousel", []), list,
                                              f"{where}.carousel")))
        rules = tuple(self.rule(item, f"{where}.on[{i}]") for i, item in
                      enumerate(self.typed(table.get("on", []), list, f"{where}.on")))
        state = State(
            name=name, text=text, quick_replies=quick, card=card, carousel=carousel,
            file=self.flow_file(table["file"], f"{where}.file") if "file" in table else None,
            transfer=self.typed(table["transfer"], str, f"{where}.transfer")
            if "transfer" in table else None,
            close=self.typed(table.get("close", False), bool, f"{where}.close"),
            goto=self.typed(table["goto"], str, f"{where}.goto") if "goto" in table else None,
            on=rules,
            fallback=self.typed(table["fallback"], str, f"{where}.fallback")
            if "fallback" in table else None)
        if state.close and (state.goto or state.on):
            raise self.error(f"{where}.close", "a state that closes has no goto or on rules")
        if state.transfer is not None and state.goto is None:
            raise self.error(f"{where}.transfer", "a transfer needs goto: the state the agent "
                                                  "of the new skill starts in")
        if state.goto is not None and state.on:
            raise self.error(f"{where}.goto", "a state goes on at once (goto) or waits (on), "
                                              "not both")
        names = {b.title for b in self.clickable(state)}
        for index, rule in enumerate(rules):
            if rule.button is not None and rule.button not in names:
                raise self.error(f"{where}.on[{index}].button",
                                 f"no button {rule.button!r} in this state (buttons: "
                                 f"{', '.join(sorted(names)) or 'none'})")
        return state

    @staticmethod
    def clickable(state: State) -> list[Button]:
        cards = ([state.card] if state.card else []) + list(state.carousel)
        return [*state.quick_replies, *(b for c in cards for b in c.buttons)]

    def buttons(self, value: Any, key: str) -> tuple[Button, ...]:
        out = []
        for index, item in enumerate(self.typed(value, list, key)):
            where = f"{key}[{index}]"
            if isinstance(item, str):
                out.append(Button(title=item))
                continue
            table = self.typed(item, dict, where)
            self.keys(table, ("title", "text", "url"), where)
            if "title" not in table:
                raise self.error(f"{where}.title", "missing required key")
            if "text" in table and "url" in table:
                raise self.error(where, "a button publishes a text or opens a url, not both")
            out.append(Button(title=self.typed(table["title"], str, f"{where}.title"),
                              text=self.typed(table.get("text", ""), str, f"{where}.text")
                              or None,
                              url=self.typed(table["url"], str, f"{where}.url")
                              if "url" in table else None))
        return tuple(out)

    def card(self, value: Any, key: str) -> Card:
        table = self.typed(value, dict, key)
        self.keys(table, ("title", "text", "image", "buttons"), key)
        strings = {name: self.typed(table[name], str, f"{key}.{name}")
                   for name in ("title", "text", "image") if name in table}
        return Card(**strings, buttons=self.buttons(table.get("buttons", []), f"{key}.buttons"))

    def flow_file(self, value: Any, key: str) -> FlowFile:
        table = self.typed(value, dict, key)
        self.keys(table, ("caption", "type", "path"), key)
        kind = self.typed(table.get("type", "PDF"), str, f"{key}.type").upper()
        if kind not in _FILE_TYPES:
            raise self.error(f"{key}.type", f"expected one of: {', '.join(_FILE_TYPES)}")
        if "path" in table:
            path = self.base / self.typed(table["path"], str, f"{key}.path")
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise self.error(f"{key}.path", f"cannot read {path}: "
                                                f"{exc.strerror or exc}") from exc
            if not 0 < len(data) <= _MAX_FILE:
                raise self.error(f"{key}.path", "a file has 1 byte to 3 MB")
        else:
            data = _PLACEHOLDERS.get(kind, _PLACEHOLDERS["TXT"])
        caption = self.typed(table.get("caption", ""), str, f"{key}.caption")
        return FlowFile(caption=caption, file_type=kind, data=data)

    def rule(self, value: Any, key: str) -> Rule:
        table = self.typed(value, dict, key)
        self.keys(table, _RULE_KEYS, key)
        if "goto" not in table:
            raise self.error(f"{key}.goto", "missing required key")
        kinds = [name for name in ("text", "button", "file", "any") if name in table]
        if len(kinds) != 1:
            raise self.error(key, "a rule has exactly one of text, button, file, any")
        pattern = None
        if "text" in table:
            try:
                pattern = re.compile(self.typed(table["text"], str, f"{key}.text"))
            except re.error as exc:
                raise self.error(f"{key}.text", f"not a valid regular expression: "
                                                f"{exc}") from exc
        for flag in ("file", "any"):
            if flag in table and self.typed(table[flag], bool, f"{key}.{flag}") is not True:
                raise self.error(f"{key}.{flag}", "only true makes sense here")
        return Rule(goto=self.typed(table["goto"], str, f"{key}.goto"), text=pattern,
                    button=self.typed(table["button"], str, f"{key}.button")
                    if "button" in table else None, file="file" in table)

    def survey(self, value: Any) -> tuple[tuple[SurveyQuestion, ...], str]:
        if value is None:
            return (), "Thank you!"
        table = self.typed(value, dict, "survey")
        self.keys(table, ("questions", "thanks"), "survey")
        questions = []
        for index, item in enumerate(self.typed(table.get("questions", []), list,
                                                "survey.questions")):
            where = f"survey.questions[{index}]"
            question = self.typed(item, dict, where)
            self.keys(question, ("text", "replies"), where)
            if "text" not in question:
                raise self.error(f"{where}.text", "missing required key")
            replies = self.typed(question.get("replies", []), list, f"{where}.replies")
            if not replies:
                raise self.error(f"{where}.replies", "a question needs quick-reply answers")
            questions.append(SurveyQuestion(
                text=self.typed(question["text"], str, f"{where}.text"),
                replies=tuple(self.typed(r, str, f"{where}.replies[{i}]")
                              for i, r in enumerate(replies))))
        if not questions:
            raise self.error("survey.questions", "a survey needs at least one question")
        return tuple(questions), self.typed(table.get("thanks", "Thank you!"), str,
                                            "survey.thanks")


# ---------------------------------------------------------------------------
# Wire shapes
# ---------------------------------------------------------------------------


def button_content(button: Button, external_id: str) -> dict[str, Any]:
    """A quick reply or card button: ``publishText`` (or ``link``) with ``ExternalId`` metadata."""
    action: dict[str, Any] = (
        {"type": "link", "name": button.title, "uri": button.url} if button.url is not None
        else {"type": "publishText", "text": button.publishes})
    return {"type": "button", "tooltip": button.title, "title": button.title,
            "click": {"metadata": [{"type": "ExternalId", "id": external_id}],
                      "actions": [action]}}


def card_content(card: Card, ids: list[str]) -> dict[str, Any]:
    """The structured content of ``card``: a vertical container (§5.8.3).

    ``ids`` holds the ``ExternalId`` of each button, in order; they are consumed.
    """
    elements: list[dict[str, Any]] = []
    if card.image is not None:
        elements.append({"type": "image", "url": card.image, "tooltip": card.title or "image"})
    if card.title is not None:
        elements.append({"type": "text", "text": card.title, "tooltip": card.title,
                         "style": {"bold": True, "size": "large"}})
    if card.text is not None:
        elements.append({"type": "text", "text": card.text, "tooltip": card.text})
    elements += [button_content(b, ids.pop(0)) for b in card.buttons]
    return {"type": "vertical", "elements": elements}


def _text(text: str) -> dict[str, Any]:
    return {"type": "ContentEvent", "contentType": "text/plain", "message": text}


# ---------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------


class FlowAgent:
    """Plays a :class:`Flow` in every conversation the simulated agents take (loop thread).

    The agent pool calls :meth:`joined` when an agent joins (accept or transfer) and
    :meth:`respond` with each consumer message; the agent keeps one current state per
    conversation and the button ids it offered there.
    """

    def __init__(self, flow: Flow, pool: AgentPool, files: FileStore) -> None:
        self.flow = flow
        self.pool = pool
        self.files = files
        #: conversation id -> its current state
        self.current: dict[str, str] = {}
        #: conversation id -> ExternalId of each button offered in the current state -> button
        self.offered: dict[str, dict[str, Button]] = {}
        pool.world.listeners.append(self._on_change)

    def _later(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        loop = self.pool.loop
        if loop is not None:
            loop.call_later(max(0.0, delay), fn, *args)

    def _on_change(self, kind: str, conversation: Conversation, stored: StoredEvent | None) -> None:
        if kind == "closed":
            self.current.pop(conversation.conversation_id, None)
            self.offered.pop(conversation.conversation_id, None)

    def joined(self, conversation: Conversation) -> None:
        """An agent joined: start (or, after a transfer, go on) at the conversation's state."""
        cid = conversation.conversation_id
        self.enter(conversation, self.current.get(cid, self.flow.start))

    def enter(self, conversation: Conversation, name: str) -> None:
        """Enter state ``name``: type, then send its content after the reply delay."""
        cid = conversation.conversation_id
        self.current[cid] = name
        agent_id = conversation.agent_id
        if agent_id is None:
            return
        if self.pool.options.typing:
            self.pool.publish(conversation, agent_id,
                              {"type": "ChatStateEvent", "chatState": ChatState.COMPOSING.value})
        self._later(self.pool.options.reply_delay, self._send_state, cid, name)

    def _live(self, cid: str) -> Conversation | None:
        conversation = self.pool.world.conversations.get(cid)
        if (conversation is None or not conversation.is_open or conversation.agent_id is None
                or cid in self.pool.manual):
            return None
        return conversation

    def _send_state(self, cid: str, name: str, prefix: str | None = None) -> None:
        conversation = self._live(cid)
        if conversation is None:
            return  # (a state the consumer's answer already left is still sent: it was said)
        state = self.flow.states[name]
        agent_id = conversation.agent_id
        assert agent_id is not None  # noqa: S101 - _live checked it
        offered: dict[str, Button] = {}
        self.offered[cid] = offered

        def ids(buttons: tuple[Button, ...]) -> list[str]:
            out = []
            for button in buttons:
                external = f"{name}:{len(offered)}:{uuid.uuid4().hex[:8]}"
                offered[external] = button
                out.append(external)
            return out

        if prefix is not None:
            self.pool.publish(conversation, agent_id, _text(prefix))
        if state.text is not None:
            event = _text(state.text)
            if state.quick_replies:
                replies = [button_content(b, i) for b, i in
                           zip(state.quick_replies, ids(state.quick_replies), strict=True)]
                event["quickReplies"] = {"type": "quickReplies", "itemsPerRow": 8,
                                         "replies": replies}
            self.pool.publish(conversation, agent_id, event)
        if state.card is not None:
            content = card_content(state.card, ids(state.card.buttons))
            self.pool.publish(conversation, agent_id, {"type": "RichContentEvent",
                                                       "content": content})
        if state.carousel:
            cards = [card_content(card, ids(card.buttons)) for card in state.carousel]
            self.pool.publish(conversation, agent_id, {
                "type": "RichContentEvent",
                "content": {"type": "carousel", "padding": 10, "elements": cards}})
        if state.file is not None:
            path = self.files.store(conversation.account, conversation.consumer_id,
                                    state.file.data, state.file.file_type)
            self.pool.publish(conversation, agent_id, {
                "type": "ContentEvent", "contentType": "hosted/file",
                "message": {"caption": state.file.caption, "relativePath": path,
                            "fileType": state.file.file_type}})
        if self.pool.options.typing:
            self.pool.publish(conversation, agent_id,
                              {"type": "ChatStateEvent", "chatState": ChatState.ACTIVE.value})
        if state.close:
            self.pool.close(conversation, survey=conversation.multi_dialog)
        elif state.transfer is not None and state.goto is not None:
            self.current[cid] = state.goto
            with self.pool.world.lock:
                conversation.skill_id = state.transfer
                try:
                    self.pool.transfer(conversation)  # the new agent joins, goes on at goto
                except ValueError:  # one agent only: it stays, in the new skill
                    self.pool.world.conversation_changed(conversation)
                    self.enter(conversation, state.goto)
        elif state.goto is not None:
            self.enter(conversation, state.goto)

    def respond(self, conversation: Conversation, stored: StoredEvent) -> None:
        """A consumer message in the main dialog: follow the first matching rule."""
        cid = conversation.conversation_id
        name = self.current.get(cid)
        if name is None:
            return
        state = self.flow.states[name]
        if not state.on:
            return
        event = stored.event
        text = event.get("message") if event.get("contentType") == "text/plain" else None
        is_file = event.get("contentType") in ("hosted/file", "HostedFile")
        clicked = self._clicked(cid, stored.metadata)
        for rule in state.on:
            if (rule.button is not None and clicked is not None
                    and clicked.title == rule.button) \
                    or (rule.text is not None and isinstance(text, str)
                        and rule.text.search(text) is not None) \
                    or (rule.file and is_file) \
                    or (rule.button is None and rule.text is None and not rule.file):
                self.enter(conversation, rule.goto)
                return
        self.current[cid] = name
        self._later(self.pool.options.reply_delay, self._send_state, cid, name,
                         state.fallback or self.flow.fallback)

    def _clicked(self, cid: str, metadata: list[dict[str, Any]]) -> Button | None:
        offered = self.offered.get(cid, {})
        for item in metadata:
            if item.get("type") == "ExternalId" and item.get("id") in offered:
                return offered[item["id"]]
        return None


class FlowSurvey(SurveyBot):
    """The flow's post-conversation survey: its questions one by one, as the PCS tutorial.

    Each question is a text with quick replies whose click metadata is an ``Answer`` (and the
    event's metadata a ``Question``); the consumer answers with an ACTION receipt and the
    reply's text, both carrying that metadata (protocol notes §5.8.6). A text that is no answer
    gets the question again; after the last answer the bot thanks and closes the dialog.
    """

    def __init__(self, world: World, flow: Flow) -> None:
        self.flow = flow
        #: survey dialog id -> (index of the question asked, its id, answer id -> reply)
        self.asked: dict[str, tuple[int, str, dict[str, str]]] = {}
        #: survey dialog id -> the answers given so far (reply texts)
        self.answers: dict[str, list[str]] = {}
        super().__init__(world)

    def ask(self, dialog: Dialog) -> None:
        """Ask the flow's first question in the new survey ``dialog``."""
        self.answers[dialog.dialog_id] = []
        self._ask(dialog, 0)

    def _ask(self, dialog: Dialog, index: int) -> None:
        question = self.flow.survey[index]
        question_id = str(uuid.uuid4())
        answers = {str(uuid.uuid4()): reply for reply in question.replies}
        self.asked[dialog.dialog_id] = (index, question_id, answers)
        replies = [{"type": "button", "tooltip": reply, "title": reply,
                    "click": {"metadata": [{"type": "Answer", "questionId": question_id,
                                            "id": answer, "provider": "AC"}],
                              "actions": [{"type": "publishText", "text": reply}]}}
                   for answer, reply in answers.items()]
        event = {"type": "ContentEvent", "message": question.text, "contentType": "text/plain",
                 "quickReplies": {"type": "quickReplies", "itemsPerRow": 8, "replies": replies}}
        metadata = [{"type": "Question", "id": question_id, "groupId": str(uuid.uuid4()),
                     "surveyId": self.survey_id, "provider": "AC", "replies": list(answers)}]
        self.world.publish(dialog, self.bot_id, Role.AGENT.value, event, metadata)

    def _on_change(self, kind: str, conversation: Conversation, stored: StoredEvent | None) -> None:
        if kind != "event" or stored is None or stored.role != Role.CONSUMER.value:
            return
        dialog = conversation.dialogs.get(stored.dialog_id)
        if dialog is None or not dialog.is_open or dialog.dialog_id not in self.asked:
            return
        if stored.event.get("type") == "ContentEvent":
            self.world.defer(self._answer, conversation, dialog, stored)

    def _answer(self, conversation: Conversation, dialog: Dialog, stored: StoredEvent) -> None:
        if not dialog.is_open or dialog.dialog_id not in self.asked:
            return
        index, question_id, answers = self.asked[dialog.dialog_id]
        reply = None
        for item in stored.metadata:
            if item.get("type") == "Answer" and item.get("questionId") == question_id:
                reply = answers.get(str(item.get("id")))
        if reply is None and stored.event.get("message") in answers.values():
            reply = stored.event.get("message")  # typed instead of clicked: still an answer
        if reply is None:
            self._ask(dialog, index)
            return
        self.answers[dialog.dialog_id].append(reply)
        if index + 1 < len(self.flow.survey):
            self._ask(dialog, index + 1)
            return
        del self.asked[dialog.dialog_id]
        self.world.publish(dialog, self.bot_id, Role.AGENT.value,
                           _text(self.flow.survey_thanks))
        self.world.close_dialog(dialog, closed_by="AGENT", cause="Completed")
        if not any(d.is_open for d in conversation.dialogs.values()):
            self.world.close_conversation(
                conversation, reason=conversation.close_reason or "CONSUMER")
        else:
            self.world.conversation_changed(conversation)
