r"""Scenario files: TOML read with ``tomllib`` into a frozen :class:`Scenario` of typed steps.

A scenario is checked whole before anything connects: a file that does not parse, a step kind
nobody knows or a bad value raises :class:`~lpbot.errors.ConfigError` naming the file and the
key path (``steps[3].expect_message.pattern``). The file's shape::

    [scenario]
    name = "order-status"
    skill = "sales"                  # optional routing: skill, campaign_id, engagement_id
    context = { type = "SharkContext", lang = "en-US" }
    client_properties = { appId = "synthetic", features = ["RICH_CONTENT"] }
    timeout = 10                     # default seconds for expect_* steps

    [scenario.sandbox]               # only for an in-process sandbox (no --config)
    agent_mode = "echo"

    [variables]
    order = ["A-1001", "A-1002"]     # a list: one value picked at random per run

    [[steps]]
    open_conversation = {}
    [[steps]]
    say = { text = "Where is order {order}?" }
    [[steps]]
    expect_message = { pattern = 'order A-\d+', timeout = 5 }

Steps for bots (docs/bot-testing.md): ``expect_quick_replies``, ``expect_rich_content``,
``click``, ``capture``, ``branch`` (an array of cases, each an expectation and its ``steps``),
``repeat`` (``times``, ``steps``, optional ``until``), ``send_file``, ``expect_file`` and
``answer_survey``. Steps inside branches and repeats are named by their path
(``steps[3].branch[1].steps[0] click``). A BotiumScript convo (``*.convo.txt``) is read as a
scenario by :mod:`lpbot.synthetic.botium`.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from lpbot.errors import ConfigError
from lpbot.protocol.names import ChatState, Role, TTRType
from lpbot.synthetic.steps import (
    DEFAULT_TIMEOUT,
    AnswerSurvey,
    Branch,
    BranchCase,
    Capture,
    Click,
    Close,
    Expectation,
    ExpectClosed,
    ExpectFile,
    ExpectMessage,
    ExpectParticipant,
    ExpectQuickReplies,
    ExpectRichContent,
    OpenConversation,
    ReadReceipt,
    Repeat,
    Say,
    SendFile,
    SetTtr,
    Step,
    SubmitCsat,
    Typing,
    Wait,
)

__all__ = [
    "BUILTIN_VARIABLES",
    "STEP_KINDS",
    "Close",
    "ExpectClosed",
    "ExpectMessage",
    "ExpectParticipant",
    "OpenConversation",
    "ReadReceipt",
    "Say",
    "Scenario",
    "SandboxSettings",
    "SetTtr",
    "Step",
    "SubmitCsat",
    "Typing",
    "Wait",
    "load_scenario",
    "parse_scenario",
    "scenario_from_data",
    "walk_steps",
]

#: variables every scenario may use in ``say`` texts without declaring them
BUILTIN_VARIABLES: Final = ("run", "scenario")

_DEFAULT_TIMEOUT: Final = DEFAULT_TIMEOUT
_DEFAULT_GREETING: Final = "Hi, I'm {nickname}. How can I help you?"


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSettings:
    """``[scenario.sandbox]``: how the agents of an in-process sandbox behave for this file."""

    agent_mode: str = "echo"
    #: ``(regex, reply)`` pairs for ``agent_mode = "rules"``; a reply may use ``\\1`` groups
    rules: tuple[tuple[str, str], ...] = ()
    accept_delay: float = 0.05
    reply_delay: float = 0.05
    greeting: str | None = _DEFAULT_GREETING
    #: the flow file ``agent_mode = "flow"`` agents follow (absolute, or as written)
    flow: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A whole scenario: metadata, variables, and the steps each run performs in order."""

    name: str
    file: str
    description: str = ""
    client_properties: Mapping[str, Any] | None = None
    variables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    steps: tuple[Step, ...] = ()
    #: display name of each step: ``steps[i] kind``, then the step's own ``name`` in brackets
    step_names: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

#: step kind -> allowed parameters (key -> accepted types); required ones are checked below
STEP_KINDS: Final[Mapping[str, Mapping[str, tuple[type, ...]]]] = MappingProxyType({
    "open_conversation": {"skill": (str,), "campaign_id": (str, int), "engagement_id": (str, int),
                          "context": (dict,), "ttr": (str,), "timeout": (int, float)},
    "say": {"text": (str,), "choices": (list,)},
    "expect_message": {"text": (str,), "contains": (str,), "pattern": (str,),
                       "timeout": (int, float)},
    "expect_participant": {"role": (str,), "timeout": (int, float)},
    "wait": {"seconds": (int, float)},
    "read_receipt": {},
    "typing": {"state": (str,)},
    "set_ttr": {"type": (str,), "value": (int,)},
    "submit_csat": {"rate": (int,), "resolved": (bool,), "status": (str,)},
    "close": {},
    "expect_closed": {"timeout": (int, float)},
    "expect_quick_replies": {"replies": (list,), "match": (str,), "text": (str,),
                             "contains": (str,), "pattern": (str,), "timeout": (int, float)},
    "expect_rich_content": {"types": (list,), "titles": (list,), "buttons": (list,),
                            "match": (str,), "text": (str,), "contains": (str,),
                            "pattern": (str,), "timeout": (int, float)},
    "expect_file": {"type": (str,), "caption": (str,), "download": (bool,),
                    "timeout": (int, float)},
    "click": {"text": (str,), "position": (int,)},
    "capture": {"pattern": (str,), "timeout": (int, float)},
    "send_file": {"path": (str,), "type": (str,), "caption": (str,), "size": (int,)},
    "answer_survey": {"answers": (list,), "timeout": (int, float)},
    "branch": {},   # an array of cases: [[steps.branch]] expect_... = {...}, steps = [...]
    "repeat": {"times": (int,), "until": (dict,), "steps": (list,)},
})

#: step kinds a branch case or a repeat's ``until`` may wait for
EXPECTATIONS: Final = ("expect_message", "expect_quick_replies", "expect_rich_content",
                       "expect_file", "expect_closed")
_FILE_TYPES: Final = ("JPG", "JPEG", "PNG", "GIF", "PDF", "TXT")
#: what a consumer may upload (protocol notes §5.9)
_UPLOAD_TYPES: Final = ("JPG", "JPEG", "PNG", "GIF")
_MAX_FILE: Final = 3 * 1024 * 1024
#: how deep branches and repeats may nest
_MAX_DEPTH: Final = 8


def walk_steps(steps: tuple[Step, ...], names: tuple[str, ...]) -> list[tuple[Step, str]]:
    """Every step with its display name, those inside branches and repeats after their own."""
    out: list[tuple[Step, str]] = []
    for step, name in zip(steps, names, strict=True):
        out.append((step, name))
        if isinstance(step, Branch):
            for case in step.cases:
                out += walk_steps(case.steps, case.names)
        elif isinstance(step, Repeat):
            out += walk_steps(step.steps, step.names)
    return out

_META_KEYS: Final = ("name", "description", "skill", "campaign_id", "engagement_id", "context",
                     "client_properties", "ttr", "timeout", "sandbox")
_SANDBOX_KEYS: Final = ("agent_mode", "rules", "accept_delay", "reply_delay", "greeting",
                         "flow")


def load_scenario(path: Path | str) -> Scenario:
    """Read and check the scenario file at ``path``; raises ``ConfigError``.

    A BotiumScript convo (``*.convo.txt``) is converted (:mod:`lpbot.synthetic.botium`).
    """
    name = str(path)
    if name.endswith(".convo.txt"):
        from lpbot.synthetic.botium import load_convo

        return load_convo(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the scenario: {exc.strerror or exc}", path=name) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError("the scenario is not UTF-8 text", path=name) from exc
    return parse_scenario(text, file=name)


def parse_scenario(text: str, *, file: str = "<scenario>") -> Scenario:
    """Check TOML ``text`` and build the :class:`Scenario`; ``file`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=file) from exc
    return scenario_from_data(data, file=file)


def scenario_from_data(data: Mapping[str, Any], *, file: str) -> Scenario:
    """Check parsed scenario ``data`` (TOML tables) and build the :class:`Scenario`."""
    return _Parser(file).scenario(data)


class _Parser:
    """Builds a Scenario from parsed TOML; every error names ``file`` and the key path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.file, key=key)

    def check(self, value: Any, types: tuple[type, ...], key: str) -> Any:
        # bool is an int in Python; a TOML true is never a number here
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            words = {"str": "a string", "int": "an integer", "float": "a number",
                     "bool": "true or false", "dict": "a table", "list": "an array"}
            names = " or ".join(words[t.__name__] for t in types
                                if not (t is int and float in types))
            raise self.error(key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, value: Any, key: str) -> float:
        number = float(self.check(value, (int, float), key))
        if number <= 0:
            raise self.error(key, f"must be positive, got {value!r}")
        return number

    def scenario(self, data: Mapping[str, Any]) -> Scenario:
        for key in data:
            if key not in ("scenario", "variables", "steps"):
                raise self.error(key, "unknown section (expected scenario, variables, steps)")
        meta = self.check(data.get("scenario", {}), (dict,), "scenario")
        for key in meta:
            if key not in _META_KEYS:
                raise self.error(f"scenario.{key}",
                                 f"unknown key (expected one of: {', '.join(_META_KEYS)})")
        name = self.check(meta.get("name", Path(self.file).stem), (str,), "scenario.name")
        if not name:
            raise self.error("scenario.name", "must not be empty")
        timeout = self.positive(meta.get("timeout", _DEFAULT_TIMEOUT), "scenario.timeout")
        routing = {key: meta[key] for key in ("skill", "campaign_id", "engagement_id", "context",
                                              "ttr") if key in meta}
        for key, value in routing.items():
            self.check(value, STEP_KINDS["open_conversation"][key], f"scenario.{key}")
        properties = meta.get("client_properties")
        if properties is not None:
            self.check(properties, (dict,), "scenario.client_properties")
        variables = self.variables(data.get("variables", {}))
        steps_data = self.check(data.get("steps", []), (list,), "steps")
        if not steps_data:
            raise self.error("steps", "a scenario needs at least one [[steps]] table")
        known = {*variables, *BUILTIN_VARIABLES}
        steps, names = self.block(steps_data, "steps", timeout, routing, known, 0)
        return Scenario(
            name=name, file=self.file,
            description=self.check(meta.get("description", ""), (str,), "scenario.description"),
            client_properties=MappingProxyType(properties) if properties is not None else None,
            variables=MappingProxyType(variables), sandbox=self.sandbox(meta.get("sandbox", {})),
            steps=steps, step_names=names)

    def block(self, items: list[Any], path: str, timeout: float, routing: Mapping[str, Any],
              known: set[str], depth: int) -> tuple[tuple[Step, ...], tuple[str, ...]]:
        """The steps of ``path`` (top level, a branch case, a repeat) with their names."""
        if depth > _MAX_DEPTH:
            raise self.error(path, f"branches and repeats nest at most {_MAX_DEPTH} deep")
        steps: list[Step] = []
        names: list[str] = []
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            step, label = self.step(item, where, timeout, routing, known, depth)
            steps.append(step)
            names.append(f"{where} {step.kind}" + (f" ({label})" if label else ""))
        return tuple(steps), tuple(names)

    def variables(self, table: Any) -> dict[str, tuple[str, ...]]:
        self.check(table, (dict,), "variables")
        result: dict[str, tuple[str, ...]] = {}
        for key, value in table.items():
            path = f"variables.{key}"
            if not key.isidentifier() or key in BUILTIN_VARIABLES:
                raise self.error(path, "a variable name is an identifier other than "
                                       f"{', '.join(BUILTIN_VARIABLES)}")
            values = [value] if not isinstance(value, list) else value
            if not values:
                raise self.error(path, "an empty list has nothing to choose from")
            for position, item in enumerate(values):
                self.check(item, (str, int, float), f"{path}[{position}]"
                           if isinstance(value, list) else path)
            result[key] = tuple(str(item) for item in values)
        return result

    def sandbox(self, table: Any) -> SandboxSettings:
        self.check(table, (dict,), "scenario.sandbox")
        for key in table:
            if key not in _SANDBOX_KEYS:
                raise self.error(f"scenario.sandbox.{key}",
                                 f"unknown key (expected one of: {', '.join(_SANDBOX_KEYS)})")
        flow = table.get("flow")
        if flow is not None:
            flow = str(Path(self.file).parent / self.check(flow, (str,), "scenario.sandbox.flow"))
        mode = self.check(table.get("agent_mode", "flow" if flow else "echo"), (str,),
                          "scenario.sandbox.agent_mode")
        if mode not in ("echo", "rules", "silent", "flow"):
            raise self.error("scenario.sandbox.agent_mode", "expected echo, rules, silent or flow")
        if (mode == "flow") != (flow is not None):
            raise self.error("scenario.sandbox.flow", "agent_mode flow goes with a flow file")
        delays = {}
        for key in ("accept_delay", "reply_delay"):
            if key in table:
                delays[key] = float(self.check(table[key], (int, float),
                                               f"scenario.sandbox.{key}"))
                if delays[key] < 0:
                    raise self.error(f"scenario.sandbox.{key}", "must not be negative")
        greeting = table.get("greeting", _DEFAULT_GREETING)
        self.check(greeting, (str,), "scenario.sandbox.greeting")
        rules = []
        for index, rule in enumerate(self.check(table.get("rules", []), (list,),
                                                "scenario.sandbox.rules")):
            key = f"scenario.sandbox.rules[{index}]"
            if not (isinstance(rule, list) and len(rule) == 2
                    and all(isinstance(part, str) for part in rule)):
                raise self.error(key, "expected [\"regex\", \"reply\"]")
            try:
                re.compile(rule[0])
            except re.error as exc:
                raise self.error(key, f"not a valid regular expression: {exc}") from exc
            rules.append((rule[0], rule[1]))
        return SandboxSettings(agent_mode=mode, rules=tuple(rules), greeting=greeting or None,
                               flow=flow, **delays)

    def step(self, item: Any, path: str, timeout: float, routing: Mapping[str, Any],
             known: set[str], depth: int = 0) -> tuple[Step, str | None]:
        self.check(item, (dict,), path)
        label = item.get("name")
        if label is not None:
            self.check(label, (str,), f"{path}.name")
        kinds = [key for key in item if key != "name"]
        if len(kinds) != 1:
            raise self.error(path, "a step has exactly one step key (one of: "
                                   f"{', '.join(STEP_KINDS)}), found {kinds or 'none'}")
        kind = kinds[0]
        where = f"{path}.{kind}"
        if kind not in STEP_KINDS:
            raise self.error(where, f"unknown step {kind!r} (expected one of: "
                                    f"{', '.join(STEP_KINDS)})")
        if kind == "branch":
            return self.branch(item[kind], where, timeout, routing, known, depth), label
        params = self.check(item[kind], (dict,), where)
        if kind == "repeat":
            return self.repeat(params, where, timeout, routing, known, depth), label
        allowed = STEP_KINDS[kind]
        for key, value in params.items():
            if key not in allowed:
                raise self.error(f"{where}.{key}", "unknown key" + (
                    f" (expected one of: {', '.join(allowed)})" if allowed else
                    f" ({kind} takes none)"))
            self.check(value, allowed[key], f"{where}.{key}")
        return self.build(kind, params, where, timeout, routing, known), label

    def build(self, kind: str, params: Mapping[str, Any], where: str, timeout: float,
              routing: Mapping[str, Any], known: set[str]) -> Step:
        limit = self.positive(params["timeout"], f"{where}.timeout") \
            if "timeout" in params else timeout
        if kind == "open_conversation":
            merged = {**routing, **params}
            context = merged.get("context")
            return OpenConversation(
                skill=merged.get("skill"), campaign_id=merged.get("campaign_id"),
                engagement_id=merged.get("engagement_id"),
                context=MappingProxyType(context) if context is not None else None,
                ttr=self.choice(merged.get("ttr"), TTRType, f"{where}.ttr"), timeout=limit)
        if kind == "say":
            return Say(choices=self.texts(params, where, known))
        if kind == "expect_message":
            pattern = None
            if "pattern" in params:
                try:
                    pattern = re.compile(params["pattern"])
                except re.error as exc:
                    raise self.error(f"{where}.pattern",
                                     f"not a valid regular expression: {exc}") from exc
            for key in ("text", "contains"):
                if key in params:
                    self.variables_in(params[key], f"{where}.{key}", known)
            return ExpectMessage(text=params.get("text"), contains=params.get("contains"),
                                 pattern=pattern, timeout=limit)
        if kind == "expect_participant":
            role = self.choice(params.get("role", Role.ASSIGNED_AGENT.value), Role,
                               f"{where}.role")
            return ExpectParticipant(role=role or Role.ASSIGNED_AGENT.value, timeout=limit)
        if kind == "wait":
            if "seconds" not in params:
                raise self.error(f"{where}.seconds", "missing required key")
            seconds = float(params["seconds"])
            if seconds < 0:
                raise self.error(f"{where}.seconds", "must not be negative")
            return Wait(seconds=seconds)
        if kind == "typing":
            state = self.choice(params.get("state", "COMPOSING"), ChatState, f"{where}.state")
            return Typing(state=state or "COMPOSING")
        if kind == "set_ttr":
            if "type" not in params:
                raise self.error(f"{where}.type", "missing required key")
            value = params.get("value", 0)
            if value < 0:
                raise self.error(f"{where}.value", "must not be negative")
            return SetTtr(ttr_type=self.choice(params["type"], TTRType, f"{where}.type") or "",
                          value=value)
        if kind == "submit_csat":
            if "rate" not in params:
                raise self.error(f"{where}.rate", "missing required key")
            if not 1 <= params["rate"] <= 5:
                raise self.error(f"{where}.rate", f"must be 1 to 5, got {params['rate']}")
            status = params.get("status", "FILLED")
            if status not in ("FILLED", "PARTIALLY_FILLED", "SKIPPED"):
                raise self.error(f"{where}.status", "expected FILLED, PARTIALLY_FILLED or SKIPPED")
            return SubmitCsat(rate=params["rate"], resolved=params.get("resolved", True),
                              status=status)
        if kind == "expect_closed":
            return ExpectClosed(timeout=limit)
        built = self.build_rich(kind, params, where, limit, known)
        if built is not None:
            return built
        return ReadReceipt() if kind == "read_receipt" else Close()

    def texts_in(self, params: Mapping[str, Any], where: str,
                 known: set[str]) -> dict[str, Any]:
        """``text``, ``contains`` (checked for variables) and ``pattern`` (compiled)."""
        out: dict[str, Any] = {}
        for key in ("text", "contains"):
            if key in params:
                self.variables_in(params[key], f"{where}.{key}", known)
                out[key] = params[key]
        if "pattern" in params:
            out["pattern"] = self.regex(params["pattern"], f"{where}.pattern")
        return out

    def regex(self, text: str, key: str) -> re.Pattern[str]:
        try:
            return re.compile(text)
        except re.error as exc:
            raise self.error(key, f"not a valid regular expression: {exc}") from exc

    def strings(self, params: Mapping[str, Any], key: str, where: str,
                known: set[str]) -> tuple[str, ...]:
        values = params.get(key, [])
        for index, value in enumerate(values):
            self.check(value, (str,), f"{where}.{key}[{index}]")
            self.variables_in(value, f"{where}.{key}[{index}]", known)
        return tuple(values)

    def match_mode(self, params: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> str:
        mode = params.get("match", "all")
        if mode not in allowed:
            raise self.error(f"{where}.match", f"expected one of: {', '.join(allowed)}, "
                                               f"got {mode!r}")
        return str(mode)

    def build_rich(self, kind: str, params: Mapping[str, Any], where: str, limit: float,
                   known: set[str]) -> Step | None:
        """The step kinds of structured content, files, captures and surveys."""
        if kind == "expect_quick_replies":
            return ExpectQuickReplies(
                replies=self.strings(params, "replies", where, known),
                match=self.match_mode(params, where, ("all", "any", "exact")),
                timeout=limit, **self.texts_in(params, where, known))
        if kind == "expect_rich_content":
            return ExpectRichContent(
                types=self.strings(params, "types", where, set()),
                titles=self.strings(params, "titles", where, known),
                buttons=self.strings(params, "buttons", where, known),
                match=self.match_mode(params, where, ("all", "any")),
                timeout=limit, **self.texts_in(params, where, known))
        if kind == "expect_file":
            file_type = params.get("type")
            if file_type is not None and file_type.upper() not in _FILE_TYPES:
                raise self.error(f"{where}.type", f"expected one of: {', '.join(_FILE_TYPES)}")
            if "caption" in params:
                self.variables_in(params["caption"], f"{where}.caption", known)
            return ExpectFile(file_type=file_type.upper() if file_type else None,
                              caption=params.get("caption"),
                              download=params.get("download", False), timeout=limit)
        if kind == "click":
            if ("text" in params) == ("position" in params):
                raise self.error(where, "give exactly one of text or position")
            if "position" in params and params["position"] < 1:
                raise self.error(f"{where}.position", "positions start at 1")
            if "text" in params:
                self.variables_in(params["text"], f"{where}.text", known)
            return Click(text=params.get("text"), position=params.get("position"))
        if kind == "capture":
            if "pattern" not in params:
                raise self.error(f"{where}.pattern", "missing required key")
            pattern = self.regex(params["pattern"], f"{where}.pattern")
            if not pattern.groupindex:
                raise self.error(f"{where}.pattern", "capture needs named groups: (?P<name>...)")
            for name in pattern.groupindex:
                if name in BUILTIN_VARIABLES:
                    raise self.error(f"{where}.pattern", f"{name!r} is a built-in variable")
            known.update(pattern.groupindex)
            return Capture(pattern=pattern, timeout=limit)
        if kind == "send_file":
            return self.send_file(params, where, known)
        if kind == "answer_survey":
            answers = params.get("answers")
            if not answers:
                raise self.error(f"{where}.answers", "give the answers, one per question")
            for index, answer in enumerate(answers):
                self.check(answer, (str, int), f"{where}.answers[{index}]")
                if isinstance(answer, int) and answer < 1:
                    raise self.error(f"{where}.answers[{index}]", "positions start at 1")
            return AnswerSurvey(answers=tuple(answers), timeout=limit)
        return None

    def send_file(self, params: Mapping[str, Any], where: str, known: set[str]) -> SendFile:
        file_type = str(params.get("type", "")).upper()
        path = params.get("path")
        if path is not None:
            full = Path(self.file).parent / path
            if not full.is_file():
                raise self.error(f"{where}.path", f"no such file: {full}")
            size = full.stat().st_size
            if not file_type:
                file_type = full.suffix.lstrip(".").upper()
            path = str(full)
        else:
            size = params.get("size", 1024)
        if file_type not in _UPLOAD_TYPES:
            raise self.error(f"{where}.type", f"expected one of: {', '.join(_UPLOAD_TYPES)}")
        if not 0 < size <= _MAX_FILE:
            raise self.error(f"{where}.size" if path is None else f"{where}.path",
                             "a file has 1 byte to 3 MB")
        caption = params.get("caption", "")
        self.variables_in(caption, f"{where}.caption", known)
        return SendFile(file_type=file_type, caption=caption, path=path, size=size)

    def expectation(self, item: Any, where: str, timeout: float,
                    known: set[str]) -> Expectation:
        """The one ``expect_*`` key of a branch case or an ``until``."""
        self.check(item, (dict,), where)
        kinds = [key for key in item if key in EXPECTATIONS]
        if len(kinds) != 1:
            raise self.error(where, "give exactly one of: " + ", ".join(EXPECTATIONS))
        kind = kinds[0]
        step, _ = self.step({kind: item[kind]}, where, timeout, {}, known)
        return step  # type: ignore[return-value]  # one of EXPECTATIONS by construction

    def branch(self, value: Any, where: str, timeout: float, routing: Mapping[str, Any],
               known: set[str], depth: int) -> Branch:
        cases_data = self.check(value, (list,), where)
        if len(cases_data) < 2:
            raise self.error(where, "a branch has at least two cases ([[steps.branch]] tables)")
        cases = []
        added: set[str] = set()
        for index, case in enumerate(cases_data):
            path = f"{where}[{index}]"
            self.check(case, (dict,), path)
            for key in case:
                if key not in (*EXPECTATIONS, "steps"):
                    raise self.error(f"{path}.{key}", "unknown key (a case has one of "
                                                      f"{', '.join(EXPECTATIONS)} and steps)")
            expect = self.expectation({k: v for k, v in case.items() if k != "steps"}, path,
                                      timeout, known)
            inner = set(known)
            steps, names = self.block(self.check(case.get("steps", []), (list,),
                                                 f"{path}.steps"),
                                      f"{path}.steps", timeout, routing, inner, depth + 1)
            added |= inner - known
            cases.append(BranchCase(expect=expect, steps=steps, names=names))
        known |= added
        return Branch(cases=tuple(cases))

    def repeat(self, params: Mapping[str, Any], where: str, timeout: float,
               routing: Mapping[str, Any], known: set[str], depth: int) -> Repeat:
        for key, value in params.items():
            allowed = STEP_KINDS["repeat"]
            if key not in allowed:
                raise self.error(f"{where}.{key}",
                                 f"unknown key (expected one of: {', '.join(allowed)})")
            self.check(value, allowed[key], f"{where}.{key}")
        if "times" not in params:
            raise self.error(f"{where}.times", "missing required key (repeats are bounded)")
        if not 1 <= params["times"] <= 1000:
            raise self.error(f"{where}.times", "must be 1 to 1000")
        if not params.get("steps"):
            raise self.error(f"{where}.steps", "a repeat needs steps")
        steps, names = self.block(params["steps"], f"{where}.steps", timeout, routing, known,
                                  depth + 1)
        until = self.expectation(params["until"], f"{where}.until", timeout, known) \
            if "until" in params else None
        return Repeat(times=params["times"], steps=steps, names=names, until=until)

    def choice(self, value: str | None, enum: Any, key: str) -> str | None:
        if value is None:
            return None
        allowed = [member.value for member in enum]
        if value not in allowed:
            raise self.error(key, f"expected one of: {', '.join(allowed)}, got {value!r}")
        return value

    def texts(self, params: Mapping[str, Any], where: str, known: set[str]) -> tuple[str, ...]:
        if ("text" in params) == ("choices" in params):
            raise self.error(where, "give exactly one of text or choices")
        if "text" in params:
            texts, keys = [params["text"]], [f"{where}.text"]
        else:
            texts = params["choices"]
            keys = [f"{where}.choices[{index}]" for index in range(len(texts))]
            if not texts:
                raise self.error(f"{where}.choices", "an empty list has nothing to choose from")
        for text, key in zip(texts, keys, strict=True):
            self.check(text, (str,), key)
            self.variables_in(text, key, known)
        return tuple(texts)

    def variables_in(self, text: str, key: str, known: set[str]) -> None:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(text)
                      if name is not None]
        except ValueError as exc:
            raise self.error(key, f"bad {{variable}} syntax: {exc}") from exc
        for name in fields:
            if name not in known:
                raise self.error(key, f"unknown variable {{{name}}} (declared: "
                                      f"{', '.join(sorted(known))})")
