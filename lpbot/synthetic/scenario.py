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
    Close,
    ExpectClosed,
    ExpectMessage,
    ExpectParticipant,
    OpenConversation,
    ReadReceipt,
    Say,
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
})

_META_KEYS: Final = ("name", "description", "skill", "campaign_id", "engagement_id", "context",
                     "client_properties", "ttr", "timeout", "sandbox")
_SANDBOX_KEYS: Final = ("agent_mode", "rules", "accept_delay", "reply_delay", "greeting")


def load_scenario(path: Path | str) -> Scenario:
    """Read and check the scenario file at ``path``; raises ``ConfigError``."""
    name = str(path)
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
        steps: list[Step] = []
        names: list[str] = []
        known = {*variables, *BUILTIN_VARIABLES}
        for index, item in enumerate(steps_data):
            step, label = self.step(item, f"steps[{index}]", timeout, routing, known)
            steps.append(step)
            names.append(f"steps[{index}] {step.kind}" + (f" ({label})" if label else ""))
        return Scenario(
            name=name, file=self.file,
            description=self.check(meta.get("description", ""), (str,), "scenario.description"),
            client_properties=MappingProxyType(properties) if properties is not None else None,
            variables=MappingProxyType(variables), sandbox=self.sandbox(meta.get("sandbox", {})),
            steps=tuple(steps), step_names=tuple(names))

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
        mode = self.check(table.get("agent_mode", "echo"), (str,), "scenario.sandbox.agent_mode")
        if mode not in ("echo", "rules", "silent"):
            raise self.error("scenario.sandbox.agent_mode", "expected echo, rules or silent")
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
                               **delays)

    def step(self, item: Any, path: str, timeout: float, routing: Mapping[str, Any],
             known: set[str]) -> tuple[Step, str | None]:
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
        params = self.check(item[kind], (dict,), where)
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
        return ReadReceipt() if kind == "read_receipt" else Close()

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
