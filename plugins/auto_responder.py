r"""Auto-responder: reply to agents' messages by keyword, regular expression, or to anything.

Rules come from the plugin's table (``[[plugins.auto_responder.rules]]``) and from an optional
TOML rule file (``rules_file``, its own ``[[rules]]``). A rule has a ``name``, exactly one of
``keyword``, ``regex`` or ``any = true``, and a ``reply`` with placeholders: ``{nickname}`` (the
agent's public profile), ``{conversation_id}``, ``{time}``, and for a regex its groups
``{0}``, ``{1}``... or ``{name}``; ``{{`` and ``}}`` are literal braces. A rule may also send
a file (``file``, a JPG, JPEG, PNG or GIF of at most 3 MB, relative to the config, with an
optional ``caption``) after its reply, or instead of one. A rule that does not parse (bad regex,
unknown placeholder, a file missing or beyond the limits) fails at start-up with its key path
and name.

Two bots answering each other must not loop forever: every conversation gets at most
``max_replies`` replies and waits ``cooldown`` seconds between two. The consumer's own messages,
echoed back by the server, are never answered. Optionally the agent's message is marked READ
and a COMPOSING state is shown for a human-like delay before the reply; the delay is waited out
with ``bot.call_later``, so it holds up only its own conversation, never the worker's others.

Example::

    [plugins.auto_responder]
    match = "first"          # or "all": every matching rule replies
    max_replies = 3
    cooldown = 2.0

    [[plugins.auto_responder.rules]]
    name = "greeting"
    regex = "^Hi, I'm (\\w+)"
    reply = "Hello {1}! Conversation {conversation_id}, it is {time}."

    [[plugins.auto_responder.rules]]
    name = "receipt"
    keyword = "receipt"
    reply = "Here it is."
    file = "receipt.png"
    caption = "your receipt"
"""

from __future__ import annotations

import logging
import re
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import lpbot
from lpbot import ContentEvent

if TYPE_CHECKING:
    from lpbot import Bot, Conversation, MessagingEvent, PluginConfig

__all__ = [
    "PLACEHOLDERS",
    "AutoResponder",
    "Options",
    "Rule",
    "RuleFile",
    "RuleSpec",
    "Settings",
    "Template",
    "lpbot_configure",
]

log = logging.getLogger(__name__)

#: placeholders every reply may use, besides a regex rule's groups
PLACEHOLDERS: Final = ("nickname", "conversation_id", "time")
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*|\d+)\}|[{}]")

#: per conversation: (replies sent, monotonic time of the last one)
REPLIES = lpbot.StashKey[tuple[int, float]]()
#: file types a consumer may upload, and their size limit (protocol notes §5.9)
FILE_TYPES: Final = ("JPG", "JPEG", "PNG", "GIF")
MAX_FILE_SIZE: Final = 3 * 1024 * 1024
#: per conversation: (agent id, nickname) last looked up
NICKNAME = lpbot.StashKey[tuple[str, str]]()


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A reply text split into literal text and placeholder names; checked once at start-up."""

    parts: tuple[tuple[bool, str], ...]  # (is a placeholder, text or name)

    @classmethod
    def parse(cls, text: str, allowed: Sequence[str]) -> Template:
        """Parse ``text``; ``ValueError`` names an unknown placeholder or a stray brace."""
        parts: list[tuple[bool, str]] = []
        position = 0
        for match in _TOKEN.finditer(text):
            if match.start() > position:
                parts.append((False, text[position:match.start()]))
            token = match.group(0)
            if token in ("{{", "}}"):
                parts.append((False, token[0]))
            elif match.group(1) is None:
                raise ValueError(f"stray {token!r} at {match.start()} (write {token * 2} "
                                 "for a literal brace)")
            elif match.group(1) not in allowed:
                raise ValueError(f"unknown placeholder {token} (known: "
                                 f"{', '.join('{' + a + '}' for a in allowed)})")
            else:
                parts.append((True, match.group(1)))
            position = match.end()
        if position < len(text):
            parts.append((False, text[position:]))
        return cls(tuple(parts))

    @property
    def names(self) -> frozenset[str]:
        """The placeholders this template uses."""
        return frozenset(text for is_name, text in self.parts if is_name)

    def render(self, values: Mapping[str, str]) -> str:
        """The reply with each placeholder replaced by ``values[name]``."""
        return "".join(values.get(text, "") if is_name else text for is_name, text in self.parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule: what it matches (keyword, regex or anything) and its reply."""

    name: str
    kind: str  # "keyword" | "regex" | "any"
    pattern: re.Pattern[str] | None
    reply: Template | None
    #: a file sent after the reply, and its caption
    file: Path | None = None
    caption: str = ""

    def match(self, text: str | None) -> dict[str, str] | None:
        """The placeholder values from the text's match (groups), or None if it does not match."""
        if self.kind == "any":
            return {"0": text or ""}
        if text is None or self.pattern is None:
            return None
        found = self.pattern.search(text)
        if found is None:
            return None
        values = {str(i): group or "" for i, group in enumerate((found.group(0), *found.groups()))}
        values.update({k: v or "" for k, v in found.groupdict().items()})
        return values

    @classmethod
    def compile(cls, spec: RuleSpec, *, key: str, file: str, index: int,
                base: Path | None = None) -> Rule:
        """Compile a checked rule table; ``ConfigError`` names ``key`` and the rule's name.

        A relative ``file`` is read from ``base`` (the config's folder).
        """
        name = spec.name if spec.name is not None else f"rule {index + 1}"
        label = f"{key} ({name})"
        kinds = [kind for kind in ("keyword", "regex", "any")
                 if getattr(spec, kind) not in (None, False)]
        if len(kinds) != 1:
            raise lpbot.ConfigError("a rule needs exactly one of keyword, regex, any = true",
                                    path=file, key=label)
        kind = kinds[0]
        flags = re.IGNORECASE if spec.ignore_case else 0
        pattern: re.Pattern[str] | None = None
        if kind == "keyword" and spec.keyword:
            pattern = re.compile(rf"(?<!\w){re.escape(spec.keyword)}(?!\w)", flags)
        elif kind == "regex" and spec.regex:
            try:
                pattern = re.compile(spec.regex, flags)
            except re.error as exc:
                raise lpbot.ConfigError(f"bad regex {spec.regex!r}: {exc}", path=file,
                                        key=f"{label}.regex") from exc
        elif kind != "any":
            raise lpbot.ConfigError("expected a non-empty string", path=file,
                                    key=f"{label}.{kind}")
        attachment = _attachment(spec, label=label, file=file, base=base)
        if spec.reply is None:
            if attachment is None:
                raise lpbot.ConfigError("a rule needs a reply, a file or both", path=file,
                                        key=f"{label}.reply")
            return cls(name=name, kind=kind, pattern=pattern, reply=None, file=attachment,
                       caption=spec.caption)
        allowed = [*PLACEHOLDERS, "0"]
        if pattern is not None:
            allowed += [str(i) for i in range(1, pattern.groups + 1)]
            allowed += list(pattern.groupindex)
        try:
            template = Template.parse(spec.reply, allowed)
        except ValueError as exc:
            raise lpbot.ConfigError(str(exc), path=file, key=f"{label}.reply") from exc
        return cls(name=name, kind=kind, pattern=pattern, reply=template, file=attachment,
                   caption=spec.caption)


def _attachment(spec: RuleSpec, *, label: str, file: str, base: Path | None) -> Path | None:
    """The rule's ``file``, checked against the upload limits now (protocol notes §5.9)."""
    if spec.file is None:
        if spec.caption:
            raise lpbot.ConfigError("a caption goes with a file", path=file,
                                    key=f"{label}.caption")
        return None
    path = spec.file.expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if path.suffix.lstrip(".").upper() not in FILE_TYPES:
        raise lpbot.ConfigError(f"a consumer can send {', '.join(FILE_TYPES)} files only",
                                path=file, key=f"{label}.file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise lpbot.ConfigError(f"cannot read {path}: {exc.strerror or exc}", path=file,
                                key=f"{label}.file") from exc
    if not 0 < size <= MAX_FILE_SIZE:
        raise lpbot.ConfigError(f"{path} has {size} bytes; a shared file has 1 byte to 3 MB",
                                path=file, key=f"{label}.file")
    return path


# ---------------------------------------------------------------------------
# Options: the tables as written (checked by lpbot.PluginConfig.parse), then compiled
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One ``[[rules]]`` table as written: a reply and/or a file, and what it matches.

    Exactly one of keyword, regex, any = true.
    """

    reply: str | None = None
    file: Path | None = None
    caption: str = ""
    name: str | None = None
    keyword: str | None = None
    regex: str | None = None
    any: bool = False
    ignore_case: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The ``[plugins.auto_responder]`` table as written."""

    rules: tuple[RuleSpec, ...] = ()
    rules_file: Path | None = None
    match: Literal["first", "all"] = "first"
    max_replies: int = field(default=5, metadata={"min": 1})
    cooldown: float = field(default=2.0, metadata={"min": 0})
    read_receipt: bool = True
    typing: bool = True
    typing_delay: float = field(default=0.5, metadata={"min": 0})
    typing_per_char: float = field(default=0.03, metadata={"min": 0})
    typing_max: float = field(default=3.0, metadata={"min": 0})
    nickname_fallback: str = "there"
    time_format: str = "%H:%M"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFile:
    """A rule file (``rules_file``): only ``[[rules]]`` tables."""

    rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's settings with every rule compiled (inline rules first, then the file's)."""

    settings: Settings
    rules: tuple[Rule, ...]

    @classmethod
    def from_config(cls, config: PluginConfig, *, base: Path | None = None) -> Options:
        """Check the table, read the rule file (relative to ``base``), compile every rule."""
        settings = config.parse(Settings)
        rules = [Rule.compile(spec, key=f"{config.path}.rules[{i}]", file=config.file, index=i,
                              base=base)
                 for i, spec in enumerate(settings.rules)]
        rules_file = settings.rules_file
        if rules_file is not None:
            if not rules_file.is_absolute() and base is not None:
                rules_file = base / rules_file
            rules += _rules_from_file(rules_file, start=len(rules))
        if not rules:
            raise config.error("", "no rules: add [[plugins.auto_responder.rules]] tables "
                                   "or a rules_file")
        return cls(settings=settings, rules=tuple(rules))

    def delay_for(self, reply: str) -> float:
        """The human-like typing time before ``reply``: base + per character, capped."""
        settings = self.settings
        return min(settings.typing_max,
                   settings.typing_delay + settings.typing_per_char * len(reply))


def _rules_from_file(path: Path, *, start: int) -> list[Rule]:
    """The ``[[rules]]`` of a TOML rule file; ConfigError names the file and the rule."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise lpbot.ConfigError(f"cannot read the rule file: {exc.strerror or exc}",
                                path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise lpbot.ConfigError(f"not valid TOML: {exc}", path=str(path)) from exc
    specs = lpbot.PluginConfig(name="auto_responder", table=data, file=str(path)).parse(RuleFile)
    return [Rule.compile(spec, key=f"rules[{i}]", file=str(path), index=start + i,
                         base=path.parent)
            for i, spec in enumerate(specs.rules)]


# ---------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------


class AutoResponder:
    """The per-bot instance: matches agents' messages and replies within the caps."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.settings = options.settings
        self._uses_nickname = any("nickname" in rule.reply.names for rule in options.rules
                                  if rule.reply is not None)

    def matches(self, text: str | None) -> list[tuple[Rule, dict[str, str]]]:
        """The rules that match ``text`` with their group values (only the first, if "first")."""
        found: list[tuple[Rule, dict[str, str]]] = []
        for rule in self.options.rules:
            values = rule.match(text)
            if values is not None:
                found.append((rule, values))
                if self.settings.match == "first":
                    break
        return found

    def _reserve(self, stash: lpbot.Stash, wanted: int) -> int:
        """How many replies may go out now (cap and cooldown), counted as sent."""
        now = time.monotonic()
        allowed = 0

        def take(state: tuple[int, float]) -> tuple[int, float]:
            nonlocal allowed
            sent, last = state
            if sent and now - last < self.settings.cooldown:
                return state
            allowed = max(0, min(wanted, self.settings.max_replies - sent))
            return (sent + allowed, now) if allowed else state

        stash.update(REPLIES, take, (0, 0.0))
        return allowed

    def _nickname(self, conversation: Conversation, stash: lpbot.Stash) -> str:
        details = conversation.state
        agent_id = details.assigned_agent_id if details is not None else None
        if agent_id is None:
            return self.settings.nickname_fallback
        cached = stash.get(NICKNAME, None)
        if cached is not None and cached[0] == agent_id:
            return cached[1]
        try:
            profile = conversation.agent_profile()
        except (lpbot.LpError, OSError) as exc:  # refused, or the profile service unreachable
            log.warning("conversation %s: no profile of agent %s: %s", conversation.id,
                        agent_id, exc)
            return self.settings.nickname_fallback
        nickname = (profile.nickname if profile is not None else None) or \
            self.settings.nickname_fallback
        stash[NICKNAME] = (agent_id, nickname)
        return nickname

    @lpbot.hookimpl
    def lpbot_message_received(
        self, bot: Bot, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Answer an agent's message with the matching rules' replies, within the caps."""
        details = conversation.state
        if message.role == lpbot.Role.CONSUMER or (
                details is not None and message.originator_id == details.consumer_id):
            return  # our own message, echoed back by the server
        event = message.event
        text = event.text if isinstance(event, ContentEvent) else None
        found = self.matches(text)
        if not found:
            return
        stash = conversation.stash
        count = self._reserve(stash, len(found))
        if count == 0:
            log.debug("conversation %s: reply cap or cooldown reached", conversation.id)
            return
        values = {"conversation_id": conversation.id,
                  "time": datetime.now().astimezone().strftime(self.settings.time_format)}
        if self._uses_nickname:
            values["nickname"] = self._nickname(conversation, stash)
        replies = [(rule, rule.reply.render({**values, **groups})
                    if rule.reply is not None else "")
                   for rule, groups in found[:count]]
        if self.settings.read_receipt and message.sequence is not None:
            conversation.mark_read([message.sequence])
        self._reply(bot, conversation, replies)

    def _reply(self, bot: Bot, conversation: Conversation,
               replies: list[tuple[Rule, str]]) -> None:
        """Send the first reply, after its typing delay if typing is on, then the next ones.

        The delay is waited out by ``bot.call_later``, not on the worker, so other
        conversations go on meanwhile; this conversation's next events wait for the reply.
        """
        if not replies:
            if self.settings.typing:
                conversation.set_chat_state(lpbot.ChatState.ACTIVE)
            return
        (rule, reply), rest = replies[0], replies[1:]

        def send() -> None:
            if rule.reply is not None:
                conversation.send_text(reply)
            if rule.file is not None:
                conversation.send_file(rule.file, caption=rule.caption)
            log.info("conversation %s: rule %r replied", conversation.id, rule.name)
            self._reply(bot, conversation, rest)

        if not self.settings.typing:
            send()
            return
        conversation.set_chat_state(lpbot.ChatState.COMPOSING)
        bot.call_later(self.options.delay_for(reply), send, conversation)


@lpbot.hookimpl
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Check the rules and register this bot's :class:`AutoResponder`."""
    base = Path(config.file).parent if config.file and not config.file.startswith("<") else None
    options = Options.from_config(config, base=base)
    bot.plugin_manager.register(AutoResponder(options), name=f"{config.name}.instance")
