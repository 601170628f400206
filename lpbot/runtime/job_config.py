"""The ``[[jobs]]`` config schema: job kinds, their typed arguments, and the table checks.

Separate from :mod:`lpbot.runtime.jobs` (the job functions) so that reading a config imports no
job code. Each kind names its function by textual reference (APScheduler stores references, not
objects) and declares its arguments as a frozen dataclass, checked by the same type-hint
validator as every other table (passed in by :mod:`lpbot.runtime.config` as ``check``).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, get_type_hints

from lpbot.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

__all__ = [
    "JOB_KINDS",
    "MAX_INTERVAL",
    "MAX_JOB_ID",
    "Checker",
    "JobConfig",
    "OpenConversationArgs",
    "SetTtrArgs",
    "SyntheticConversationArgs",
    "UrgentWhenUnansweredArgs",
    "parse_jobs",
]

#: ``check(value, type hint, key path, file, environ, rules)`` from lpbot.runtime.config
Checker = Callable[..., Any]

#: the module of the built-in job functions, named here without importing it
_JOBS: Final = "lpbot.runtime.jobs"
_REFERENCE: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
#: longest job id: the SQLAlchemy job store keeps ids in a VARCHAR(191) column
MAX_JOB_ID: Final = 191
#: longest interval and grace time in seconds (366 days; rarer runs take a cron or at trigger)
MAX_INTERVAL: Final = 31_622_400


@dataclass(frozen=True, slots=True, kw_only=True)
class JobConfig:
    """One ``[[jobs]]`` table: what to run (``func``, plain ``kwargs``) and when (``trigger``)."""

    id: str
    kind: str
    func: str
    trigger: str  # "interval" | "cron" | "date"
    trigger_args: Mapping[str, Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    misfire_grace_time: int | None = None
    coalesce: bool | None = None
    start_now: bool = False
    path: str = ""

    def make_trigger(self, timezone: str) -> BaseTrigger:
        """Build the APScheduler trigger (config values were checked when loading)."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.trigger == "cron":
            return CronTrigger.from_crontab(self.trigger_args["cron"], timezone=timezone)
        if self.trigger == "date":
            return DateTrigger(run_date=self.trigger_args["at"], timezone=timezone)
        # APScheduler's first interval run is one interval after the job is added
        start = datetime.now(UTC) + timedelta(seconds=0.1) if self.start_now else None
        return IntervalTrigger(seconds=self.trigger_args["every"], start_date=start,
                               timezone=timezone)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenConversationArgs:
    """``kind = "open_conversation"``: open (or reuse) a conversation, optionally say something."""

    consumer: str | None = None
    skill: str | None = None
    campaign_id: int | str | None = None
    engagement_id: int | str | None = None
    context: Mapping[str, Any] | None = None
    first_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTtrArgs:
    """``kind = "set_ttr"``: set this TTR on the open conversations (of one consumer or all)."""

    ttr_type: str = field(metadata={"choices": ("CUSTOM", "NORMAL", "PRIORITIZED", "URGENT")})
    value: int = field(default=0, metadata={"min": 0})
    consumer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UrgentWhenUnansweredArgs:
    """``kind = "urgent_when_unanswered"``: set URGENT once a consumer waited this long."""

    after_minutes: float = field(metadata={"min": 0, "max": MAX_INTERVAL / 60})
    value: int = field(default=0, metadata={"min": 0})
    consumer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticConversationArgs:
    """``kind = "synthetic_conversation"``: open, talk, wait for replies, rate, close."""

    consumer: str | None = None
    skill: str | None = None
    messages: tuple[str, ...] = ("Hello!",)
    reply_timeout: float = field(default=10.0, metadata={"min": 0.1, "max": 3600})
    csat: int = field(default=5, metadata={"min": 0, "max": 5})  # 0: do not rate
    resolved: bool = True


#: kind -> (function reference, schema of its arguments); ``call`` takes ``ref`` and free args
JOB_KINDS: Final[Mapping[str, tuple[str, type]]] = types.MappingProxyType({
    "open_conversation": (f"{_JOBS}:open_conversation", OpenConversationArgs),
    "set_ttr": (f"{_JOBS}:set_ttr", SetTtrArgs),
    "urgent_when_unanswered": (f"{_JOBS}:urgent_when_unanswered", UrgentWhenUnansweredArgs),
    "synthetic_conversation": (f"{_JOBS}:synthetic_conversation", SyntheticConversationArgs),
})

_JOB_KEYS: Final = ("id", "kind", "ref", "every", "start_now", "cron", "at", "args",
                    "misfire_grace_time", "coalesce")


def parse_jobs(items: Sequence[Any], *, file: str, check: Checker) -> tuple[JobConfig, ...]:
    """Validate the ``[[jobs]]`` array; every error names ``jobs[i].key``."""
    jobs: list[JobConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"jobs[{index}]"
        if not isinstance(item, dict):
            raise ConfigError("expected a table", path=file, key=path)
        jobs.append(_parse_job(item, path, file, check))
        if jobs[-1].id in seen:
            raise ConfigError(f"duplicate job id {jobs[-1].id!r}", path=file, key=f"{path}.id")
        seen.add(jobs[-1].id)
    return tuple(jobs)


def _parse_job(item: Mapping[str, Any], path: str, file: str, check: Checker) -> JobConfig:
    for key in item:
        if key not in _JOB_KEYS:
            raise ConfigError(f"unknown key (expected one of: {', '.join(_JOB_KEYS)})",
                              path=file, key=f"{path}.{key}")
    for key in ("id", "kind"):
        if key not in item:
            raise ConfigError("missing required key", path=file, key=f"{path}.{key}")
    job_id = check(item["id"], str, f"{path}.id", file, {})
    if not job_id.strip() or len(job_id) > MAX_JOB_ID or not job_id.isprintable():
        raise ConfigError(f"expected a job id of 1 to {MAX_JOB_ID} printable characters, "
                          f"got {job_id!r}", path=file, key=f"{path}.id")
    kinds = (*JOB_KINDS, "call")
    kind = check(item["kind"], str, f"{path}.kind", file, {}, {"choices": kinds})
    args = check(item.get("args", {}), Mapping[str, Any], f"{path}.args", file, {})
    if kind == "call":
        ref = check(item.get("ref", ""), str, f"{path}.ref", file, {})
        if not _REFERENCE.fullmatch(ref):
            raise ConfigError("expected a function reference such as 'mypackage.jobs:nightly'",
                              path=file, key=f"{path}.ref")
        kwargs = dict(args)
    else:
        if "ref" in item:
            raise ConfigError(f"only kind 'call' takes a ref; kind {kind!r} runs "
                              f"{JOB_KINDS[kind][0]}", path=file, key=f"{path}.ref")
        ref, schema = JOB_KINDS[kind]
        kwargs = _check_args(schema, args, f"{path}.args", file, check)
    triggers = [key for key in ("every", "cron", "at") if key in item]
    if len(triggers) != 1:
        raise ConfigError("give exactly one of every (seconds), cron (crontab) or at (date-time)",
                          path=file, key=path)
    trigger_key = triggers[0]
    trigger_path = f"{path}.{trigger_key}"
    if trigger_key == "every":
        value = check(item["every"], float, trigger_path, file, {},
                      {"min": 0.001, "max": MAX_INTERVAL})
        trigger, trigger_args = "interval", {"every": value}
    elif trigger_key == "cron":
        expression = check(item["cron"], str, trigger_path, file, {})
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(expression, timezone="UTC")
        except ValueError as exc:
            raise ConfigError(f"not a valid crontab expression: {exc}", path=file,
                              key=trigger_path) from exc
        trigger, trigger_args = "cron", {"cron": expression}
    else:
        when = item["at"]
        if isinstance(when, str):
            try:
                when = datetime.fromisoformat(when)
            except ValueError as exc:
                raise ConfigError("expected a date-time such as 2030-01-01T09:00:00Z",
                                  path=file, key=trigger_path) from exc
        if not isinstance(when, datetime):
            raise ConfigError("expected a date-time such as 2030-01-01T09:00:00Z",
                              path=file, key=trigger_path)
        trigger, trigger_args = "date", {"at": when}
    start_now = check(item.get("start_now", False), bool, f"{path}.start_now", file, {})
    if start_now and trigger != "interval":
        raise ConfigError("start_now applies to interval jobs (every = ...) only", path=file,
                          key=f"{path}.start_now")
    grace = item.get("misfire_grace_time")
    coalesce = item.get("coalesce")
    return JobConfig(
        id=job_id, kind=kind, func=ref, trigger=trigger,
        trigger_args=types.MappingProxyType(trigger_args),
        kwargs=types.MappingProxyType(kwargs),
        misfire_grace_time=None if grace is None else check(
            grace, int, f"{path}.misfire_grace_time", file, {}, {"min": 1, "max": MAX_INTERVAL}),
        coalesce=None if coalesce is None else check(coalesce, bool, f"{path}.coalesce", file, {}),
        start_now=start_now,
        path=path,
    )


def _check_args(schema: type, args: Mapping[str, Any], path: str, file: str,
                check: Checker) -> dict[str, Any]:
    hints = get_type_hints(schema)
    known = {f.name: f for f in fields(schema)}
    for key in args:
        if key not in known:
            raise ConfigError(f"unknown argument (expected one of: {', '.join(known)})",
                              path=file, key=f"{path}.{key}")
    values = {key: check(value, hints[key], f"{path}.{key}", file, {}, dict(known[key].metadata))
              for key, value in args.items()}
    try:
        built = schema(**values)
    except TypeError as exc:  # a required argument is missing
        missing = [f.name for f in fields(schema) if f.name not in values
                   and f.default is MISSING and f.default_factory is MISSING]
        raise ConfigError(f"missing required argument {', '.join(missing)}", path=file,
                          key=path) from exc
    # plain data only: tuples become lists, mappings become dicts, None values are left out
    plain: dict[str, Any] = {}
    for f in fields(schema):
        value = getattr(built, f.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        plain[f.name] = value
    return plain
