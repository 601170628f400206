r"""Auto-responder: reply to agents' messages by keyword, regular expression, or to anything.

Rules come from the plugin's table (``[[plugins.auto_responder.rules]]``) and from an optional
TOML rule file (``rules_file``, its own ``[[rules]]``). A rule has a ``name``, exactly one of
``keyword``, ``regex`` or ``any = true``, and a ``reply`` with placeholders: ``{nickname}`` (the
agent's public profile), ``{conversation_id}``, ``{time}``, and for a regex its groups
``{0}``, ``{1}``... or ``{name}``; ``{{`` and ``}}`` are literal braces. A rule that does not
parse (bad regex, unknown placeholder) fails at start-up with its key path and name.

Two bots answering each other must not loop forever: every conversation gets at most
``max_replies`` replies and waits ``cooldown`` seconds between two. The consumer's own messages,
echoed back by the server, are never answered. Optionally the agent's message is marked READ
and a COMPOSING state is shown for a human-like delay before the reply.

Example::

    [plugins.auto_responder]
    match = "first"          # or "all": every matching rule replies
    max_replies = 3
    cooldown = 2.0

    [[plugins.auto_responder.rules]]
    name = "greeting"
    regex = "^Hi, I'm (\\w+)"
    reply = "Hello {1}! Conversation {conversation_id}, it is {time}."
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
from typing import TYPE_CHECKING, Any, Final

import lpbot
from lpbot import ContentEvent

if TYPE_CHECKING:
    from lpbot import Bot, Conversation, MessagingEvent, PluginConfig

__all__ = [
    "PLACEHOLDERS",
    "AutoResponder",
    "Options",
    "Rule",
    "Template",
    "lpbot_configure",
]

log = logging.getLogger(__name__)

#: placeholders every reply may use, besides a regex rule's groups
PLACEHOLDERS: Final = ("nickname", "conversation_id", "time")
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_]\w*|\d+)\}|[{}]")

#: per conversation: (replies sent, monotonic time of the last one)
REPLIES = lpbot.StashKey[tuple[int, float]]()
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
    reply: Template

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
    def from_table(cls, table: Any, *, key: str, file: str | None, index: int) -> Rule:
        """Build a rule from its TOML table; ``ConfigError`` names ``key`` and the rule."""
        if not isinstance(table, Mapping):
            raise lpbot.ConfigError("expected a table", path=file, key=key)
        name = table.get("name", f"rule {index + 1}")
        label = f"{key} ({name})"
        if not isinstance(name, str):
            raise lpbot.ConfigError("expected a string", path=file, key=f"{key}.name")
        unknown = set(table) - {"name", "keyword", "regex", "any", "reply", "ignore_case"}
        if unknown:
            raise lpbot.ConfigError(f"unknown key {sorted(unknown)[0]!r} in rule {name!r}",
                                    path=file, key=label)
        kinds = [kind for kind in ("keyword", "regex", "any") if kind in table]
        if len(kinds) != 1:
            raise lpbot.ConfigError("a rule needs exactly one of keyword, regex, any = true",
                                    path=file, key=label)
        kind = kinds[0]
        value = table[kind]
        ignore_case = table.get("ignore_case", True)
        if not isinstance(ignore_case, bool):
            raise lpbot.ConfigError("expected true or false", path=file,
                                    key=f"{label}.ignore_case")
        flags = re.IGNORECASE if ignore_case else 0
        pattern: re.Pattern[str] | None = None
        if kind == "any":
            if value is not True:
                raise lpbot.ConfigError("expected true", path=file, key=f"{label}.any")
        elif not isinstance(value, str) or not value:
            raise lpbot.ConfigError("expected a non-empty string", path=file,
                                    key=f"{label}.{kind}")
        elif kind == "keyword":
            pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", flags)
        else:
            try:
                pattern = re.compile(value, flags)
            except re.error as exc:
                raise lpbot.ConfigError(f"bad regex {value!r}: {exc}", path=file,
                                        key=f"{label}.regex") from exc
        reply = table.get("reply")
        if not isinstance(reply, str):
            raise lpbot.ConfigError("expected the reply text (a string)", path=file,
                                    key=f"{label}.reply")
        allowed = [*PLACEHOLDERS, "0"]
        if pattern is not None:
            allowed += [str(i) for i in range(1, pattern.groups + 1)]
            allowed += list(pattern.groupindex)
        try:
            template = Template.parse(reply, allowed)
        except ValueError as exc:
            raise lpbot.ConfigError(str(exc), path=file, key=f"{label}.reply") from exc
        return cls(name=name, kind=kind, pattern=pattern, reply=template)


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


def _number(table: Mapping[str, Any], key: str, default: float, minimum: float,
            path: str, file: str | None) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise lpbot.ConfigError(f"expected a number >= {minimum}, got {value!r}", path=file,
                                key=f"{path}.{key}")
    return float(value)


def _flag(table: Mapping[str, Any], key: str, default: bool, path: str,
          file: str | None) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise lpbot.ConfigError("expected true or false", path=file, key=f"{path}.{key}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's ``[plugins.auto_responder]`` table, with every rule compiled."""

    rules: tuple[Rule, ...] = ()
    match: str = "first"
    max_replies: int = 5
    cooldown: float = 2.0
    read_receipt: bool = True
    typing: bool = True
    typing_delay: float = 0.5
    typing_per_char: float = 0.03
    typing_max: float = 3.0
    nickname_fallback: str = "there"
    time_format: str = "%H:%M"
    rules_file: Path | None = field(default=None)

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], *, path: str = "plugins.auto_responder",
        file: str | None = None, base: Path | None = None,
    ) -> Options:
        """Check ``table`` and compile its rules (and the rule file's, relative to ``base``)."""
        known = {"rules", "rules_file", "match", "max_replies", "cooldown", "read_receipt",
                 "typing", "typing_delay", "typing_per_char", "typing_max",
                 "nickname_fallback", "time_format"}
        for key in table:
            if key not in known:
                raise lpbot.ConfigError(f"unknown key (expected one of: "
                                        f"{', '.join(sorted(known))})", path=file,
                                        key=f"{path}.{key}")
        inline = table.get("rules", [])
        if not isinstance(inline, list):
            raise lpbot.ConfigError("expected an array of tables ([[...rules]])", path=file,
                                    key=f"{path}.rules")
        rules = [Rule.from_table(t, key=f"{path}.rules[{i}]", file=file, index=i)
                 for i, t in enumerate(inline)]
        rules_file: Path | None = None
        if "rules_file" in table:
            if not isinstance(table["rules_file"], str):
                raise lpbot.ConfigError("expected a path (string)", path=file,
                                        key=f"{path}.rules_file")
            rules_file = Path(table["rules_file"]).expanduser()
            if not rules_file.is_absolute() and base is not None:
                rules_file = base / rules_file
            rules += _rules_from_file(rules_file, start=len(rules))
        if not rules:
            raise lpbot.ConfigError("no rules: add [[plugins.auto_responder.rules]] tables "
                                    "or a rules_file", path=file, key=path)
        match = table.get("match", "first")
        if match not in ("first", "all"):
            raise lpbot.ConfigError(f"expected 'first' or 'all', got {match!r}", path=file,
                                    key=f"{path}.match")
        max_replies = table.get("max_replies", 5)
        if isinstance(max_replies, bool) or not isinstance(max_replies, int) or max_replies < 1:
            raise lpbot.ConfigError(f"expected an integer >= 1, got {max_replies!r}",
                                    path=file, key=f"{path}.max_replies")
        texts = {}
        for key, default in (("nickname_fallback", "there"), ("time_format", "%H:%M")):
            value = table.get(key, default)
            if not isinstance(value, str):
                raise lpbot.ConfigError("expected a string", path=file, key=f"{path}.{key}")
            texts[key] = value
        return cls(
            rules=tuple(rules), match=match, max_replies=max_replies,
            cooldown=_number(table, "cooldown", 2.0, 0, path, file),
            read_receipt=_flag(table, "read_receipt", True, path, file),
            typing=_flag(table, "typing", True, path, file),
            typing_delay=_number(table, "typing_delay", 0.5, 0, path, file),
            typing_per_char=_number(table, "typing_per_char", 0.03, 0, path, file),
            typing_max=_number(table, "typing_max", 3.0, 0, path, file),
            rules_file=rules_file, **texts,
        )

    def delay_for(self, reply: str) -> float:
        """The human-like typing time before ``reply``: base + per character, capped."""
        return min(self.typing_max, self.typing_delay + self.typing_per_char * len(reply))


def _rules_from_file(path: Path, *, start: int) -> list[Rule]:
    """The ``[[rules]]`` of a TOML rule file; ConfigError names the file and the rule."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise lpbot.ConfigError(f"cannot read the rule file: {exc.strerror or exc}",
                                path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise lpbot.ConfigError(f"not valid TOML: {exc}", path=str(path)) from exc
    rules = data.get("rules", [])
    if not isinstance(rules, list) or set(data) - {"rules"}:
        raise lpbot.ConfigError("expected only [[rules]] tables", path=str(path))
    return [Rule.from_table(t, key=f"rules[{i}]", file=str(path), index=start + i)
            for i, t in enumerate(rules)]


# ---------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------


class AutoResponder:
    """The per-bot instance: matches agents' messages and replies within the caps."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._uses_nickname = any("nickname" in rule.reply.names for rule in options.rules)

    def matches(self, text: str | None) -> list[tuple[Rule, dict[str, str]]]:
        """The rules that match ``text`` with their group values (only the first, if "first")."""
        found: list[tuple[Rule, dict[str, str]]] = []
        for rule in self.options.rules:
            values = rule.match(text)
            if values is not None:
                found.append((rule, values))
                if self.options.match == "first":
                    break
        return found

    def _reserve(self, stash: lpbot.Stash, wanted: int) -> int:
        """How many replies may go out now (cap and cooldown), counted as sent."""
        now = time.monotonic()
        allowed = 0

        def take(state: tuple[int, float]) -> tuple[int, float]:
            nonlocal allowed
            sent, last = state
            if sent and now - last < self.options.cooldown:
                return state
            allowed = max(0, min(wanted, self.options.max_replies - sent))
            return (sent + allowed, now) if allowed else state

        stash.update(REPLIES, take, (0, 0.0))
        return allowed

    def _nickname(self, conversation: Conversation, stash: lpbot.Stash) -> str:
        details = conversation.state
        agent_id = details.assigned_agent_id if details is not None else None
        if agent_id is None:
            return self.options.nickname_fallback
        cached = stash.get(NICKNAME, None)
        if cached is not None and cached[0] == agent_id:
            return cached[1]
        try:
            profile = conversation.agent_profile()
        except (lpbot.LpError, OSError) as exc:  # refused, or the profile service unreachable
            log.warning("conversation %s: no profile of agent %s: %s", conversation.id,
                        agent_id, exc)
            return self.options.nickname_fallback
        nickname = (profile.nickname if profile is not None else None) or \
            self.options.nickname_fallback
        stash[NICKNAME] = (agent_id, nickname)
        return nickname

    @lpbot.hookimpl
    def lpbot_message_received(
        self, bot: Bot, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Answer an agent's message with the matching rules' replies, within the caps."""
        details = conversation.state
        if str(message.role) == "CONSUMER" or (
                details is not None and message.originator_id == details.consumer_id):
            return  # our own message, echoed back by the server
        event = message.event
        text = event.text if isinstance(event, ContentEvent) else None
        found = self.matches(text)
        if not found:
            return
        stash = bot.conversation_stash(conversation)
        count = self._reserve(stash, len(found))
        if count == 0:
            log.debug("conversation %s: reply cap or cooldown reached", conversation.id)
            return
        values = {"conversation_id": conversation.id,
                  "time": datetime.now().astimezone().strftime(self.options.time_format)}
        if self._uses_nickname:
            values["nickname"] = self._nickname(conversation, stash)
        replies = [(rule, rule.reply.render({**values, **groups}))
                   for rule, groups in found[:count]]
        if self.options.read_receipt and message.sequence is not None:
            conversation.mark_read([message.sequence])
        self._reply(bot, conversation, replies)

    def _reply(self, bot: Bot, conversation: Conversation,
               replies: list[tuple[Rule, str]]) -> None:
        """Send the first reply, after its typing delay if typing is on, then the next ones.

        The delay is waited out by ``bot.call_later``, not on the worker, so other
        conversations go on meanwhile; this conversation's next events wait for the reply.
        """
        if not replies:
            if self.options.typing:
                conversation.set_chat_state("ACTIVE")
            return
        (rule, reply), rest = replies[0], replies[1:]

        def send() -> None:
            conversation.send_text(reply)
            log.info("conversation %s: rule %r replied", conversation.id, rule.name)
            self._reply(bot, conversation, rest)

        if not self.options.typing:
            send()
            return
        conversation.set_chat_state("COMPOSING")
        bot.call_later(self.options.delay_for(reply), send, conversation)


@lpbot.hookimpl
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Check the rules and register this bot's :class:`AutoResponder`."""
    base = Path(config.file).parent if config.file and not config.file.startswith("<") else None
    options = Options.from_table(config.table, path=config.path, file=config.file, base=base)
    bot.plugin_manager.register(AutoResponder(options), name=f"{config.name}.instance")
