"""Configuration: TOML plus ``LPBOT_<SECTION>_<KEY>`` environment overrides, as frozen objects.

``Config.load(path, environ)`` reads a file with the standard library's ``tomllib``, rejects
unknown keys and wrong types with a ``ConfigError`` naming the file and the key path
(``lpbot.toml: scheduler.misfire_grace_time: expected an integer, got a string ('soon')``),
and returns frozen dataclasses. ``lpbot check-config`` runs exactly this code. Secrets are
``{ env = "NAME" }`` tables, read from the environment and never printed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime, time
from pathlib import Path
from typing import (
    Any,
    Final,
    Literal,
    Self,
    TypeVar,
    Union,
    final,
    get_args,
    get_origin,
    get_type_hints,
)

from lpbot.errors import ConfigError
from lpbot.runtime.job_config import MAX_INTERVAL, JobConfig, parse_jobs

__all__ = [
    "AccountSection",
    "BotSection",
    "Config",
    "JobConfig",
    "LoggingSection",
    "PluginConfig",
    "PluginsSection",
    "SandboxSection",
    "SchedulerSection",
    "Secret",
    "default_state_dir",
]

#: what ``file`` says for the embedded default configuration
EMBEDDED: Final = "<embedded default>"

_T = TypeVar("_T")


@final
class Secret:
    """A secret config value: kept out of ``repr``, logs and ``check-config`` output."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, *, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('***', source={self.source!r})"


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The state directory when none is configured.

    ``$XDG_STATE_HOME/lpbot``, or ``~/.local/state/lpbot`` when that variable is not set.
    """
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lpbot"


# ---------------------------------------------------------------------------
# Sections: one frozen dataclass per TOML table; field metadata carries the checks
# ---------------------------------------------------------------------------


def _choice(*values: str) -> dict[str, object]:
    return {"choices": values}


def _between(minimum: float, maximum: float) -> dict[str, object]:
    return {"min": minimum, "max": maximum}


#: upper bound of every duration in seconds that lpbot waits on (an hour); longer waits are
#: mistakes, and unbounded ones (``inf``, ``1e300``) overflow the timeouts of threads and queues
MAX_WAIT: Final = 3600.0
#: upper bound of thread counts: each worker is a thread started before the bot serves
MAX_THREADS: Final = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class BotSection:
    """``[bot]``: identity of this bot, its consumers, and dispatcher sizes.

    ``gc_threshold``: ``lpbot run`` and ``lpbot synth`` raise the garbage collector's first
    threshold (Python's 700) to it, so events in flight between threads do not set off
    collections; 0 leaves it. A ``Bot`` used as a library does not touch the collector.
    """

    name: str = "main"
    consumers: tuple[str, ...] = ("default",)
    workers: int = field(default=4, metadata=_between(1, MAX_THREADS))
    queue_size: int = field(default=10_000, metadata=_between(1, 10_000_000))
    put_timeout: float = field(default=1.0, metadata=_between(0.001, MAX_WAIT))
    commit_batch: int = field(default=1000, metadata=_between(1, 10_000_000))
    commit_interval: float = field(default=0.25, metadata=_between(0.001, MAX_WAIT))
    stop_timeout: float = field(default=5.0, metadata=_between(0.1, MAX_WAIT))
    connect_timeout: float = field(default=15.0, metadata=_between(0.1, MAX_WAIT))
    gc_threshold: int = field(default=10_000, metadata=_between(0, 10_000_000))
    state_dir: Path | None = None
    #: PostgreSQL instead of the state directory: daemons of one bot name share the work
    state_url: Secret | None = None
    max_consumers: int = field(default=0, metadata=_between(0, 1_000_000))  # 0: no limit
    lease_ttl: float = field(default=15.0, metadata=_between(0.5, MAX_WAIT))
    lease_renew_interval: float | None = field(default=None, metadata=_between(0.05, MAX_WAIT))


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountSection:
    """``[account]``: the LivePerson account and how consumers authenticate.

    ``auth`` is ``"unauthenticated"`` (the demo signup), ``"anonymous"`` (the production
    unauthenticated ACR0 flow through ``connector_id``), ``"authenticated"`` (the implicit flow)
    or ``"code"`` (the OAuth code flow, sending ``redirect_uri``). The last two need exactly one
    token source: ``token_function`` (``"package.module:function"``), ``token_command`` (its
    output is the token) or ``brand_token`` (``{ env = "VARIABLE" }``); for ``"code"`` the
    source gives an OAuth code, a new one each time it is asked.
    """

    id: str = ""
    csds_domain: str = "api.liveperson.net"  # = lpbot.client.discovery.DEFAULT_CSDS_DOMAIN
    tls: bool = True
    ca_file: Path | None = None
    auth: str = field(default="unauthenticated",
                      metadata=_choice("unauthenticated", "anonymous", "authenticated", "code"))
    auth_mode: str = field(default="header", metadata=_choice("header", "init"))
    token_function: str | None = None
    token_command: str | None = None
    brand_token: Secret | None = None
    connector_id: str | None = None
    redirect_uri: str = "https://liveperson.net"  # = lpbot.client.identity.DEFAULT_REDIRECT_URI
    client_properties: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSection:
    """``[sandbox]``: run lpbot's sandbox in-process and connect to it instead of LivePerson.

    ``tls`` (on by default, as LivePerson is ``https``/``wss`` only) serves it with a
    certificate of a throw-away CA that the bot's client trusts.
    """

    enabled: bool = False
    account: str = "sandbox"
    agents: int = field(default=3, metadata=_between(1, 10_000))
    agent_mode: str = field(default="echo",
                            metadata=_choice("echo", "rules", "silent", "flow"))
    #: the flow file of ``agent_mode = "flow"`` (docs/bot-testing.md)
    flow: Path | None = None
    rules: tuple[tuple[str, str], ...] = ()
    accept_delay: float = field(default=0.3, metadata=_between(0, MAX_WAIT))
    reply_delay: float = field(default=0.2, metadata=_between(0, MAX_WAIT))
    greeting: str | None = "Hi, I'm {nickname}. How can I help you?"
    receipts: bool = True
    typing: bool = True
    tls: bool = True
    lenient: bool = False
    wire_variants: str = field(default="random",
                               metadata=_choice("canonical", "legacy", "random"))
    seed: int | None = None
    #: seconds a closed conversation is kept (then forgotten, as the client forgets it)
    closed_retention: float = field(default=300.0, metadata=_between(0, MAX_INTERVAL))


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSection:
    """``[logging]``: level, format, and extra patterns to redact."""

    level: str = field(default="INFO",
                       metadata=_choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    format: str = field(default="human", metadata=_choice("human", "json"))
    redact: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerSection:
    """``[scheduler]``: job store and the job defaults (never APScheduler's 1 s grace)."""

    url: str | None = None
    misfire_grace_time: int = field(default=60, metadata=_between(1, MAX_INTERVAL))
    coalesce: bool = True
    max_instances: int = field(default=1, metadata=_between(1, 1000))
    timezone: str = "UTC"
    max_workers: int = field(default=10, metadata=_between(1, MAX_THREADS))


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginConfig:
    """One plugin's config table, with where it came from for error messages."""

    name: str
    table: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    file: str = ""

    def error(self, key: str, message: str) -> ConfigError:
        """A ``ConfigError`` for ``key`` of this table, naming the file and the full key path."""
        return ConfigError(message, path=self.file, key=_join(self.path, key))

    def parse(self, options_type: type[_T]) -> _T:
        """Check this table against the frozen dataclass ``options_type`` and build one.

        The same validator as lpbot's own tables, driven by the fields' type hints: ``str``,
        ``int``, ``float``, ``bool``, ``Path``, ``X | None``, ``Literal["a", "b"]``,
        ``tuple[X, ...]``, ``Mapping[str, Any]``, a ``Secret`` (``{ env = "NAME" }``), and
        nested dataclasses for sub-tables and arrays of tables (``tuple[Rule, ...]``). Field
        metadata adds bounds: ``field(default=1, metadata={"min": 1, "max": 10})``, or
        ``{"choices": (...)}``. Hints must be importable at run time (not only under
        ``TYPE_CHECKING``).

        Raises:
            ConfigError: an unknown key, a missing required key, a wrong type or a value out of
                bounds; the message names the file and the key path
                (``bot.toml: plugins.metrics.port: must be at most 65535, got 70000``). Raised
                from ``lpbot_configure``, it stops start-up with exit code 2.
        """
        if not dataclasses.is_dataclass(options_type):
            raise TypeError(f"{options_type!r} is not a dataclass")  # a bug, not input
        built: _T = _build(options_type, _table(self.table, self.path, self.file), self.path,
                           self.file, os.environ)
        return built


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginsSection:
    """``[plugins]``: which plugins run, extra plugin modules, and each plugin's table."""

    enabled: tuple[str, ...] = ()
    modules: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_SECTIONS: Final[dict[str, type]] = {
    "bot": BotSection,
    "account": AccountSection,
    "sandbox": SandboxSection,
    "logging": LoggingSection,
    "scheduler": SchedulerSection,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A whole, validated configuration. Build it with :meth:`load` or :meth:`from_text`."""

    file: str = EMBEDDED
    bot: BotSection = field(default_factory=BotSection)
    account: AccountSection = field(default_factory=AccountSection)
    sandbox: SandboxSection = field(default_factory=SandboxSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    scheduler: SchedulerSection = field(default_factory=SchedulerSection)
    jobs: tuple[JobConfig, ...] = ()
    plugins: PluginsSection = field(default_factory=PluginsSection)

    @classmethod
    def load(cls, path: Path | str, environ: Mapping[str, str] | None = None) -> Self:
        """Read and validate the TOML file at ``path``; raises ``ConfigError``."""
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the file: {exc.strerror or exc}", path=name) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError("the file is not UTF-8 text", path=name) from exc
        return cls.from_text(text, file=name, environ=environ)

    @classmethod
    def from_text(
        cls, text: str, *, file: str = EMBEDDED, environ: Mapping[str, str] | None = None
    ) -> Self:
        """Validate TOML ``text``; ``file`` is what error messages call it."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", path=file) from exc
        return cls.from_mapping(data, file=file, environ=environ)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        *,
        file: str = EMBEDDED,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """Validate already-parsed TOML data (tests build configs this way)."""
        env = os.environ if environ is None else environ
        known = {*_SECTIONS, "jobs", "plugins"}
        for key in data:
            if key not in known:
                raise ConfigError(f"unknown section (expected one of: {', '.join(sorted(known))})",
                                  path=file, key=key)
        sections = {
            name: _build(section_type, _table(data.get(name, {}), name, file), name, file, env)
            for name, section_type in _SECTIONS.items()
        }
        _apply_env(sections, env)
        _check_account(sections["account"], sections["sandbox"], file)
        _check_patterns(sections["logging"], sections["sandbox"], file)
        _check_timezone(sections["scheduler"], file)
        renew, ttl = sections["bot"].lease_renew_interval, sections["bot"].lease_ttl
        if renew is not None and renew > ttl / 2:
            raise ConfigError(f"renew well before the lease lapses: at most lease_ttl / 2 "
                              f"({ttl / 2:g} s)", path=file, key="bot.lease_renew_interval")
        jobs_data = data.get("jobs", [])
        if not isinstance(jobs_data, list):
            raise ConfigError("expected an array of tables ([[jobs]])", path=file, key="jobs")
        return cls(
            file=file,
            jobs=parse_jobs(jobs_data, file=file, check=_check_value),
            plugins=_plugins(_table(data.get("plugins", {}), "plugins", file), file),
            **sections,
        )

    def plugin_config(self, name: str) -> PluginConfig:
        """The config table of plugin ``name`` (empty if the file has none)."""
        return PluginConfig(name=name, table=self.plugins.tables.get(name, {}),
                            path=f"plugins.{name}", file=self.file)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in this config, for the log redaction filter."""
        found = [secret.reveal() for secret in (self.account.brand_token, self.bot.state_url)
                 if secret is not None and secret.reveal()]
        url = self.bot.state_url.reveal() if self.bot.state_url is not None else ""
        if "@" in url and ":" in url.partition("://")[2].partition("@")[0]:
            found.append(url.partition("://")[2].partition("@")[0].partition(":")[2])
        return tuple(found)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _table(value: object, key: str, file: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a table, got {_describe(value)}", path=file, key=key)
    return value


def _join(path: str, key: str) -> str:
    """``path.key``, or either alone when the other is empty (the top of a file)."""
    return f"{path}.{key}" if path and key else path or key


def _build(cls: type, table: Mapping[str, Any], path: str, file: str,
           env: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    names = {f.name: f for f in fields(cls)}
    for key in table:
        if key not in names:
            raise ConfigError(
                f"unknown key (expected one of: {', '.join(names)})", path=file,
                key=_join(path, key))
    missing = [name for name, f in names.items() if name not in table
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ConfigError("missing required key", path=file,
                          key=_join(path, missing[0]))
    values = {
        key: _check_value(table[key], hints[key], _join(path, key), file, env,
                          dict(names[key].metadata))
        for key in table
    }
    return cls(**values)


def _check_value(value: Any, hint: Any, key: str, file: str, env: Mapping[str, str],
                 rules: Mapping[str, object] | None = None) -> Any:
    """Check ``value`` against type ``hint`` and ``rules`` (choices, min); return it converted."""
    result = _convert(value, hint, key, file, env)
    rules = rules or {}
    choices = rules.get("choices")
    if isinstance(choices, tuple) and result not in choices:
        raise ConfigError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}",
                          path=file, key=key)
    minimum = rules.get("min")
    if isinstance(minimum, int | float) and result < minimum:
        raise ConfigError(f"must be at least {_plain(minimum)}, got {value!r}", path=file,
                          key=key)
    maximum = rules.get("max")
    if isinstance(maximum, int | float) and result > maximum:
        raise ConfigError(f"must be at most {_plain(maximum)}, got {value!r}", path=file,
                          key=key)
    return result


def _plain(number: float) -> float:
    """``3600`` rather than ``3600.0`` in messages."""
    return int(number) if float(number).is_integer() else number


def _convert(value: Any, hint: Any, key: str, file: str, env: Mapping[str, str]) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        arms = [arm for arm in get_args(hint) if arm is not type(None)]
        errors: list[ConfigError] = []
        for arm in arms:
            try:
                return _convert(value, arm, key, file, env)
            except ConfigError as exc:
                errors.append(exc)
        # An arm whose shape fit (a table for a dataclass) failed deeper down: that error says most.
        raise next((e for e in errors if e.key != key), errors[0])
    if hint is Any:
        return value
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices or type(value) not in {type(c) for c in choices}:
            raise ConfigError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}",
                              path=file, key=key)
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, _table(value, key, file), key, file, env)
    if hint is Secret:
        return _secret(value, key, file, env)
    if origin is tuple:
        items = _expect(value, list, "an array", key, file)
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{key}[{i}]", file, env)
                         for i, v in enumerate(items))
        if len(items) != len(args):
            raise ConfigError(f"expected an array of {len(args)} items, got {len(items)}",
                              path=file, key=key)
        return tuple(_convert(v, a, f"{key}[{i}]", file, env)
                     for i, (v, a) in enumerate(zip(items, args, strict=True)))
    if origin is Mapping:
        return types.MappingProxyType(dict(_expect(value, dict, "a table", key, file)))
    if hint is bool:
        return _expect(value, bool, "true or false", key, file)
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"expected an integer, got {_describe(value)}", path=file, key=key)
        return _expect(value, int, "an integer", key, file)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {_describe(value)}", path=file, key=key)
        if not math.isfinite(value):
            raise ConfigError(f"expected a finite number, got {value!r}", path=file, key=key)
        return float(value)
    if hint is str:
        return _expect(value, str, "a string", key, file)
    if hint is Path:
        return Path(_expect(value, str, "a path (string)", key, file)).expanduser()
    raise TypeError(f"config field {key} has an unsupported type {hint!r}")  # a bug, not input


def _expect(value: Any, kind: type, what: str, key: str, file: str) -> Any:
    if not isinstance(value, kind):
        raise ConfigError(f"expected {what}, got {_describe(value)}", path=file, key=key)
    return value


def _describe(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table", datetime: "a date-time", date: "a date",
             time: "a time"}
    what = kinds.get(type(value), type(value).__name__)
    return f"{what} ({value!r})" if isinstance(value, str | int | float) else what


def _secret(value: Any, key: str, file: str, env: Mapping[str, str]) -> Secret:
    if isinstance(value, str):
        return Secret(value, source=f"{file}: {key}")
    table = _expect(value, dict, 'a table { env = "VARIABLE" } or a string', key, file)
    if set(table) != {"env"} or not isinstance(table["env"], str):
        raise ConfigError('expected { env = "VARIABLE" }: the name of an environment variable',
                          path=file, key=key)
    name = table["env"]
    if not env.get(name):
        raise ConfigError(f"environment variable {name} is not set", path=file, key=key)
    return Secret(env[name], source=f"env:{name}")


def _apply_env(sections: dict[str, Any], env: Mapping[str, str]) -> None:
    """Replace section values from ``LPBOT_<SECTION>_<KEY>`` variables; unknown ones are errors."""
    for variable in env:
        _check_env_name(variable, tuple(sections))
    for section_name, section in sections.items():
        prefix = f"LPBOT_{section_name.upper()}_"
        names = {f.name.upper(): f for f in fields(section)}
        hints = get_type_hints(type(section))
        changes: dict[str, Any] = {}
        for variable, text in env.items():
            if not variable.startswith(prefix):
                continue
            key = variable[len(prefix):]
            if key not in names:
                raise ConfigError(f"unknown setting {section_name}.{key.lower()}",
                                  path="environment", key=variable)
            f = names[key]
            changes[f.name] = _check_value(_from_env_text(text, hints[f.name]), hints[f.name],
                                           variable, "environment", env, dict(f.metadata))
        if changes:
            sections[section_name] = type(section)(
                **{f.name: changes.get(f.name, getattr(section, f.name)) for f in fields(section)})


def _check_env_name(variable: str, sections: tuple[str, ...]) -> None:
    """Refuse a variable meant as an override that cannot be one.

    That is ``LPBOT_`` followed by a table that cannot be set from the environment (``JOBS``,
    ``PLUGINS``), by a misspelt section (``BOTT``, ``LOG``), or a known section in lower case.
    Other ``LPBOT_`` variables (``LPBOT_TRACE_HOOKS``) are not config and are left alone.
    """
    if not variable.upper().startswith("LPBOT_"):
        return
    rest = variable[len("LPBOT_"):]
    head = rest.split("_", 1)[0].lower()
    if variable != variable.upper() and head in sections:
        raise ConfigError(f"environment variable names are upper case: {variable.upper()}",
                          path="environment", key=variable)
    if not variable.startswith("LPBOT_") or head in sections:
        return
    if head in ("jobs", "job", "plugins", "plugin"):
        raise ConfigError("[[jobs]] and [plugins] cannot be set from the environment "
                          "(only the keys of " + ", ".join(f"[{name}]" for name in sections)
                          + ")", path="environment", key=variable)
    close = [name for name in sections if len(head) >= 3 and name.startswith(head)]
    close = close or difflib.get_close_matches(head, sections, n=1, cutoff=0.75)
    if close:
        raise ConfigError(f"unknown section {head!r} (did you mean "
                          f"LPBOT_{close[0].upper()}_{rest.partition('_')[2] or '<KEY>'}?)",
                          path="environment", key=variable)


def _from_env_text(text: str, hint: Any) -> Any:
    """Turn an environment string into the TOML value a field of type ``hint`` expects."""
    kind = hint
    if get_origin(hint) in (Union, types.UnionType):
        kind = next(arm for arm in get_args(hint) if arm is not type(None))
    if kind is bool:
        lowered = text.strip().lower()
        return {"1": True, "true": True, "yes": True, "on": True,
                "0": False, "false": False, "no": False, "off": False}.get(lowered, text)
    if kind in (int, float):
        try:
            return int(text) if kind is int else float(text)
        except ValueError:
            return text
    if get_origin(kind) is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _check_account(account: AccountSection, sandbox: SandboxSection, file: str) -> None:
    sources = [name for name in ("token_function", "token_command", "brand_token")
               if getattr(account, name) is not None]
    with_source = ("authenticated", "code")
    if account.auth in with_source and len(sources) != 1:
        who = "authenticated" if account.auth == "authenticated" else "code-flow"
        raise ConfigError(f"{who} consumers need exactly one of token_function, "
                          f"token_command or brand_token (got {', '.join(sources) or 'none'})",
                          path=file, key="account.auth")
    if account.auth not in with_source and sources:
        raise ConfigError(f"{sources[0]} is only used with auth = \"authenticated\" or "
                          "\"code\"", path=file, key=f"account.{sources[0]}")
    if account.auth == "anonymous" and not (account.connector_id or "").strip():
        raise ConfigError("auth = \"anonymous\" needs connector_id: the id of the brand's "
                          "unauthenticated (ACR0) connector", path=file, key="account.connector_id")
    if account.auth != "anonymous" and account.connector_id is not None:
        raise ConfigError("connector_id is only used with auth = \"anonymous\"", path=file,
                          key="account.connector_id")
    if account.token_function is not None and not re.fullmatch(
            r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", account.token_function):
        raise ConfigError("expected a function reference such as 'mypackage.auth:brand_token'",
                          path=file, key="account.token_function")
    if not sandbox.enabled and not account.id:
        raise ConfigError("the account id is required unless [sandbox] enabled = true",
                          path=file, key="account.id")


def _check_patterns(logging_section: LoggingSection, sandbox: SandboxSection, file: str) -> None:
    """Compile every regular expression now, so a bad one never surfaces at run time."""
    patterns = [(f"logging.redact[{index}]", pattern)
                for index, pattern in enumerate(logging_section.redact)]
    patterns += [(f"sandbox.rules[{index}][0]", rule[0])
                 for index, rule in enumerate(sandbox.rules)]
    for key, pattern in patterns:
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ConfigError(f"not a valid regular expression: {exc}", path=file,
                              key=key) from exc


def _check_timezone(scheduler: SchedulerSection, file: str) -> None:
    """The scheduler's time zone must be an IANA name the system knows (``Europe/Paris``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(scheduler.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {scheduler.timezone!r} (expected an IANA name "
                          "such as 'UTC' or 'Europe/Paris')", path=file,
                          key="scheduler.timezone") from exc


def _plugins(table: Mapping[str, Any], file: str) -> PluginsSection:
    enabled = _check_value(table.get("enabled", []), tuple[str, ...], "plugins.enabled", file, {})
    modules = dict(_check_value(table.get("modules", {}), Mapping[str, Any], "plugins.modules",
                                file, {}))
    for name, module in modules.items():
        if not isinstance(module, str) or not re.fullmatch(r"[\w.]+", module):
            raise ConfigError("expected a module path such as 'mypackage.myplugin'",
                              path=file, key=f"plugins.modules.{name}")
    active = [*enabled, *(name for name in modules if name not in enabled)]
    tables: dict[str, Mapping[str, Any]] = {}
    for key, value in table.items():
        if key in ("enabled", "modules"):
            continue
        if key not in active:
            enabled_names = ", ".join(active) or "none"
            raise ConfigError("a table for a plugin that is not enabled "
                              f"(enabled: {enabled_names})", path=file, key=f"plugins.{key}")
        tables[key] = types.MappingProxyType(dict(_table(value, f"plugins.{key}", file)))
    return PluginsSection(enabled=tuple(active), modules=types.MappingProxyType(modules),
                          tables=types.MappingProxyType(tables))
