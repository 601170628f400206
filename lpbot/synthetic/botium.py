r"""BotiumScript convos (``.convo.txt``) read as lpbot scenarios.

The documented core of Botium's text format is understood: the first line names the convo
(lines up to the first section describe it); ``#me`` sections are what the consumer sends,
``#bot`` sections what the bot must answer, one message each; ``#include NAME`` and the
``INCLUDE NAME`` logic hook insert a partial convo (``*.pconvo.txt``); a line that is the name
of an utterance list (``*.utterances.txt``) stands for its utterances. Partial convos and
utterance files are looked up in the convo's folder.

In ``#me``: text lines (sent as one message), ``BUTTON text`` (a click on that button or quick
reply), ``MEDIA file`` (send a file, relative to the convo). In ``#bot``: text lines, matched as
Botium's ``wildcardIgnoreCase`` matching mode does (the text appears, ``*`` for anything,
case ignored), and the asserters ``BUTTONS``, ``CARDS``, ``MEDIA``, ``TEXT_CONTAINS_ANY``,
``TEXT_CONTAINS_ALL``, ``TEXT_REGEXP_ANY``, ``TEXT_REGEXP_ALL`` (and their ``_IC`` forms),
arguments split by ``|``. A ``#bot`` section with ``BUTTONS`` alone expects quick replies; with
``CARDS`` or ``MEDIA`` it expects structured content; ``MEDIA`` alone expects a file.

Anything else (other asserters and logic hooks, negated ``!`` and optional ``?`` bot lines,
channels, ``#begin``/``#end`` hooks other than ``INCLUDE``) is refused with one :class:`ConfigError`
naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import tomli_w

from lpbot.errors import ConfigError
from lpbot.synthetic.scenario import Scenario, scenario_from_data

__all__ = ["CONVO_SUFFIX", "convert_convo", "convo_data", "is_convo", "load_convo"]

CONVO_SUFFIX: Final = ".convo.txt"
PARTIAL_SUFFIX: Final = ".pconvo.txt"
UTTERANCES_SUFFIX: Final = ".utterances.txt"

_ME: Final = ("BUTTON", "MEDIA", "INCLUDE")
_BOT: Final = ("BUTTONS", "CARDS", "MEDIA", "INCLUDE", "TEXT_CONTAINS_ANY", "TEXT_CONTAINS_ALL",
               "TEXT_REGEXP_ANY", "TEXT_REGEXP_ALL", "TEXT_CONTAINS_ANY_IC",
               "TEXT_CONTAINS_ALL_IC", "TEXT_REGEXP_ANY_IC", "TEXT_REGEXP_ALL_IC")
#: Botium's other asserters and logic hooks: recognised, so that they are refused by name
_OTHER: Final = frozenset({
    "BUTTONS_COUNT", "BUTTONS_COUNT_REC", "MEDIA_COUNT", "MEDIA_COUNT_REC", "CARDS_COUNT",
    "CARDS_COUNT_REC", "PAUSE_ASSERTER", "JSON_PATH", "JSON_PATH_COUNT", "RESPONSE_LENGTH",
    "FORMS", "ENTITIES", "ENTITY_VALUES", "ENTITY_CONTENT", "INTENT", "INTENT_UNIQUE",
    "INTENT_CONFIDENCE", "TEXT", "TEXT_IC", "TEXT_EQUALS", "TEXT_EQUALS_IC", "TEXT_WER",
    "PAUSE", "WAITFORBOT", "SET_SCENARIO_MEMORY", "CLEAR_SCENARIO_MEMORY", "SKIP_BOT_UNCONSUMED",
    "CONDITIONAL_STEP_TIME_BASED", "CONDITIONAL_STEP_BUSINESS_HOURS", "CONDITIONAL_STEP_JSON_PATH",
    "UPDATE_CUSTOM", "VOIP_IGNORE_SILENCE_DURATION", "ORDERED_LISTS_TO_BUTTONS",
    "FORM", "SWITCH_CHANNEL", "SET_ACTIVITY_VALUE", "SET_TEXT_VALUE", "LOGICHOOK",
})
_WORD: Final = re.compile(r"[A-Z][A-Z0-9_]*")


def is_convo(path: Path | str) -> bool:
    """True for a Botium convo file (``*.convo.txt``)."""
    return str(path).endswith(CONVO_SUFFIX)


@dataclass(slots=True)
class _Section:
    who: str  # "me" or "bot"
    line: int
    texts: list[str] = field(default_factory=list)
    hooks: list[tuple[int, str, list[str]]] = field(default_factory=list)


@dataclass(slots=True)
class _Script:
    file: str
    name: str
    description: str
    #: sections and includes ("include", line, name) in order
    items: list[_Section | tuple[str, int, str]]


def _read(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the convo: {exc.strerror or exc}", path=str(path)) \
            from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("the convo is not UTF-8 text", path=str(path)) from exc


def _parse(path: Path) -> _Script:
    """The sections of one convo or partial convo file, with their line numbers."""
    file = str(path)
    lines = _read(path)
    numbered = [(n, line.rstrip()) for n, line in enumerate(lines, start=1)]
    body = [(n, text) for n, text in numbered if text.strip()]
    if not body or body[0][1].startswith("#"):
        raise ConfigError("the first line names the convo", path=file, key="line 1")
    name = body[0][1].strip()
    description: list[str] = []
    items: list[_Section | tuple[str, int, str]] = []
    current: _Section | None = None
    pending_include: int | None = None
    for number, text in numbered[body[0][0]:]:
        stripped = text.strip()
        where = f"line {number}"
        if pending_include is not None and stripped:
            items.append(("include", pending_include, stripped))
            pending_include = None
            continue
        if stripped.startswith("#"):
            head, _, rest = stripped.partition(" ")
            tag = head[1:].lower()
            if tag in ("me", "bot"):
                if rest.strip():
                    raise ConfigError(f"channels ({stripped!r}) are not supported", path=file,
                                      key=where)
                current = _Section(who=tag, line=number)
                items.append(current)
            elif tag == "include":
                current = None
                if rest.strip():
                    items.append(("include", number, rest.strip()))
                else:
                    pending_include = number
            elif tag in ("begin", "end"):
                current = _Section(who=tag, line=number)
                items.append(current)
            else:
                raise ConfigError(f"unknown section {head!r} (expected #me, #bot, #include, "
                                  "#begin, #end)", path=file, key=where)
            continue
        if current is None:
            if not items and stripped:
                description.append(stripped)
            elif stripped:
                raise ConfigError("text outside a #me or #bot section", path=file, key=where)
            continue
        if not stripped:
            if current.texts:
                current.texts.append("")
            continue
        word = stripped.split(" ", 1)[0]
        if current.who == "bot" and stripped[0] in "!?" and len(stripped) > 1:
            raise ConfigError(f"negated (!) and optional (?) steps are not supported: "
                              f"{stripped!r}", path=file, key=where)
        if _WORD.fullmatch(word) and (word in _ME or word in _BOT or word in _OTHER):
            args = [a.strip() for a in stripped[len(word):].split("|")] \
                if stripped[len(word):].strip() else []
            current.hooks.append((number, word, args))
        else:
            current.texts.append(text)
    if pending_include is not None:
        raise ConfigError("#include without a partial convo name", path=file,
                          key=f"line {pending_include}")
    return _Script(file=file, name=name, description="\n".join(description), items=items)


class _Converter:
    """Turns a convo and what it includes into scenario steps."""

    def __init__(self, convo: Path) -> None:
        self.folder = convo.parent
        self.partials: dict[str, Path] | None = None
        self.utterances: dict[str, tuple[str, ...]] | None = None

    def partial(self, name: str, file: str, number: int) -> Path:
        if self.partials is None:
            self.partials = {}
            for path in sorted(self.folder.glob(f"*{PARTIAL_SUFFIX}")):
                self.partials[_parse(path).name] = path
        found = self.partials.get(name)
        if found is None:
            raise ConfigError(f"no partial convo {name!r} (in {self.folder}/*{PARTIAL_SUFFIX}; "
                              f"found: {', '.join(sorted(self.partials)) or 'none'})",
                              path=file, key=f"line {number}")
        return found

    def utterance(self, text: str) -> tuple[str, ...] | None:
        if self.utterances is None:
            self.utterances = {}
            for path in sorted(self.folder.glob(f"*{UTTERANCES_SUFFIX}")):
                lines = [line.strip() for line in _read(path) if line.strip()]
                if len(lines) < 2:
                    raise ConfigError("an utterances file has a name line and at least one "
                                      "utterance", path=str(path), key="line 1")
                self.utterances[lines[0]] = tuple(lines[1:])
        return self.utterances.get(text.strip())

    def steps(self, script: _Script, seen: tuple[str, ...] = ()) -> Iterator[dict[str, Any]]:
        for item in script.items:
            if isinstance(item, tuple):
                _, number, name = item
                yield from self.include(name, script.file, number, seen)
                continue
            if item.who in ("begin", "end"):
                for number, word, args in item.hooks:
                    if word != "INCLUDE":
                        raise ConfigError(f"{word} in #{item.who} is not supported (only "
                                          "INCLUDE)", path=script.file, key=f"line {number}")
                    yield from self.include(args[0] if args else "", script.file, number, seen)
                if any(t.strip() for t in item.texts):
                    raise ConfigError(f"text in #{item.who} is not supported", path=script.file,
                                      key=f"line {item.line}")
                continue
            yield from (self.me(item, script.file, seen) if item.who == "me"
                        else self.bot(item, script.file, seen))

    def include(self, name: str, file: str, number: int,
                seen: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        if not name:
            raise ConfigError("INCLUDE needs the name of a partial convo", path=file,
                              key=f"line {number}")
        if name in seen:
            raise ConfigError(f"partial convo {name!r} includes itself "
                              f"({' -> '.join((*seen, name))})", path=file, key=f"line {number}")
        script = _parse(self.partial(name, file, number))
        yield from self.steps(script, (*seen, name))

    def me(self, section: _Section, file: str,
           seen: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        text = "\n".join(section.texts).strip("\n")
        if text:
            choices = self.utterance(text)
            yield {"say": {"choices": [_literal(c) for c in choices]} if choices
                   else {"text": _literal(text)}}
        for number, word, args in section.hooks:
            where = f"line {number}"
            if word not in _ME:
                raise ConfigError(f"{word} is not supported in #me (supported: "
                                  f"{', '.join(_ME)})", path=file, key=where)
            if not args or not args[0]:
                raise ConfigError(f"{word} needs an argument", path=file, key=where)
            if word == "BUTTON":
                yield {"click": {"text": _literal(args[0])}}
            elif word == "MEDIA":
                media = self.folder / args[0]
                if not media.is_file():
                    raise ConfigError(f"MEDIA file {args[0]!r} not found (relative to the "
                                      "convo)", path=file, key=where)
                yield {"send_file": {"path": str(media.resolve())}}
            else:
                yield from self.include(args[0], file, number, seen)
        if not text and not section.hooks:
            raise ConfigError("an empty #me section", path=file, key=f"line {section.line}")

    def bot(self, section: _Section, file: str,
            seen: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        conditions: list[str] = []
        text = "\n".join(section.texts).strip("\n")
        if text:
            choices = self.utterance(text) or (text,)
            conditions.append("(?i:" + "|".join(_wildcard(c) for c in choices) + ")")
        asserts: dict[str, list[str]] = {}
        includes: list[tuple[int, str]] = []
        for number, word, args in section.hooks:
            where = f"line {number}"
            if word not in _BOT:
                raise ConfigError(f"{word} is not supported in #bot (supported: "
                                  f"{', '.join(_BOT)})", path=file, key=where)
            if word == "INCLUDE":
                includes.append((number, args[0] if args else ""))
                continue
            if not args or not all(args):
                raise ConfigError(f"{word} needs arguments separated by |", path=file, key=where)
            if word.startswith("TEXT_"):
                conditions.append(_text_condition(word, args, file, where))
            else:
                asserts.setdefault(word, []).extend(args)
        step = _bot_step(conditions, asserts)
        if step is not None:
            yield step
        elif not includes:
            raise ConfigError("an empty #bot section", path=file, key=f"line {section.line}")
        for number, name in includes:
            yield from self.include(name, file, number, seen)


def _literal(text: str) -> str:
    """A text as a scenario writes it: braces doubled (they would name variables)."""
    return text.replace("{", "{{").replace("}", "}}")


def _wildcard(text: str) -> str:
    return ".*".join(re.escape(part) for part in text.split("*"))


def _text_condition(word: str, args: list[str], file: str, where: str) -> str:
    """The regular expression of a ``TEXT_*`` asserter, as one group."""
    if "REGEXP" in word:
        for arg in args:
            try:
                re.compile(arg)
            except re.error as exc:
                raise ConfigError(f"{word}: {arg!r} is not a valid regular expression: {exc}",
                                  path=file, key=where) from exc
        parts = [f"(?:{arg})" for arg in args]
    else:
        parts = [re.escape(arg) for arg in args]
    body = "|".join(parts) if "_ANY" in word else "".join(f"(?=.*{part})" for part in parts)
    return f"(?i:{body})" if word.endswith("_IC") else f"(?:{body})"


def _pattern(conditions: list[str]) -> str:
    """One regular expression all ``conditions`` (groups) must match, anywhere in the text."""
    if len(conditions) == 1:
        return "(?s)" + conditions[0]
    return "(?s)\\A" + "".join(f"(?=.*{condition})" for condition in conditions)


def _bot_step(conditions: list[str], asserts: dict[str, list[str]]) -> dict[str, Any] | None:
    params: dict[str, Any] = {"pattern": _pattern(conditions)} if conditions else {}
    buttons, cards, media = (asserts.get(k, []) for k in ("BUTTONS", "CARDS", "MEDIA"))
    if cards or (media and buttons):
        types = ["image"] if media else []
        return {"expect_rich_content": {**params, "titles": [_literal(c) for c in cards],
                                        "buttons": [_literal(b) for b in buttons],
                                        **({"types": types} if types else {})}}
    if buttons:
        return {"expect_quick_replies": {**params, "replies": [_literal(b) for b in buttons]}}
    if media:
        kinds = {Path(m).suffix.lstrip(".").upper() for m in media} - {""}
        step: dict[str, Any] = {}
        if len(kinds) == 1:
            step["type"] = kinds.pop()
        return {"expect_file": step}
    if params:
        return {"expect_message": params}
    return None


def convo_data(path: Path | str) -> dict[str, Any]:
    """The scenario (as TOML data) of the convo at ``path``; ``ConfigError`` naming the line."""
    convo = Path(path)
    script = _parse(convo)
    steps = [{"open_conversation": {}}, *_Converter(convo).steps(script)]
    meta: dict[str, Any] = {"name": script.name}
    if script.description:
        meta["description"] = script.description
    return {"scenario": meta, "steps": steps}


def convert_convo(path: Path | str) -> str:
    """The scenario TOML of the convo at ``path`` (``lpbot synth --convert``)."""
    data = convo_data(path)
    header = (f"# converted from the BotiumScript convo {Path(path).name} by "
              f"lpbot synth --convert\n\n")
    return header + tomli_w.dumps(data)


def load_convo(path: Path | str) -> Scenario:
    """The checked scenario of the convo at ``path``; ``ConfigError`` naming file and line."""
    return scenario_from_data(convo_data(path), file=str(path))
