"""Built-in scheduled jobs: their ``[[jobs]]`` config schema and their functions.

Jobs live in a persistent job store, so each is stored as a textual reference
(``"lpbot.runtime.jobs:open_conversation"``) with plain-data keyword arguments; a job finds its live
``Bot`` by name through :func:`get_bot` when it runs (APScheduler 3.x rule: no handle or bound
method may be pickled). Kinds: ``open_conversation``, ``set_ttr``, ``urgent_when_unanswered``,
``synthetic_conversation`` (the demo of the embedded default), and ``call`` for any function.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final, get_type_hints

from lpbot.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from lpbot.runtime.bot import Bot
    from lpbot.runtime.tracking import Activity

__all__ = [
    "JOB_KINDS",
    "JobConfig",
    "get_bot",
    "parse_jobs",
    "open_conversation",
    "register_bot",
    "set_ttr",
    "synthetic_conversation",
    "unregister_bot",
    "urgent_when_unanswered",
]

log = logging.getLogger(__name__)

#: ``check(value, type hint, key path, file, environ, rules)`` from lpbot.runtime.config
Checker = Callable[..., Any]

_REFERENCE: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")

# ---------------------------------------------------------------------------
# Bots by name: how a job run from the store finds the live bot
# ---------------------------------------------------------------------------

_bots: dict[str, Bot] = {}
_bots_lock = threading.Lock()


def register_bot(bot: Bot) -> None:
    """Make ``bot`` reachable by its name from jobs; a name serves one running bot at a time."""
    with _bots_lock:
        other = _bots.get(bot.name)
        if other is not None and other is not bot:
            raise ConfigError(f"another running bot is already named {bot.name!r}",
                              key="bot.name")
        _bots[bot.name] = bot


def unregister_bot(bot: Bot) -> None:
    """Forget ``bot`` (on stop)."""
    with _bots_lock:
        if _bots.get(bot.name) is bot:
            del _bots[bot.name]


def get_bot(name: str) -> Bot:
    """The running bot named ``name``; raises ``LookupError`` if none is running."""
    with _bots_lock:
        bot = _bots.get(name)
    if bot is None:
        raise LookupError(f"no running bot named {name!r}")
    return bot


# ---------------------------------------------------------------------------
# Config: [[jobs]] tables
# ---------------------------------------------------------------------------


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

    after_minutes: float = field(metadata={"min": 0})
    value: int = field(default=0, metadata={"min": 0})
    consumer: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyntheticConversationArgs:
    """``kind = "synthetic_conversation"``: open, talk, wait for replies, rate, close."""

    consumer: str | None = None
    skill: str | None = None
    messages: tuple[str, ...] = ("Hello!",)
    reply_timeout: float = field(default=10.0, metadata={"min": 0.1})
    csat: int = field(default=5, metadata={"min": 0, "max": 5})  # 0: do not rate
    resolved: bool = True


#: kind -> (function reference, schema of its arguments); ``call`` takes ``ref`` and free args
JOB_KINDS: Final[Mapping[str, tuple[str, type]]] = types.MappingProxyType({
    "open_conversation": (f"{__name__}:open_conversation", OpenConversationArgs),
    "set_ttr": (f"{__name__}:set_ttr", SetTtrArgs),
    "urgent_when_unanswered": (f"{__name__}:urgent_when_unanswered", UrgentWhenUnansweredArgs),
    "synthetic_conversation": (f"{__name__}:synthetic_conversation", SyntheticConversationArgs),
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
        value = check(item["every"], float, trigger_path, file, {}, {"min": 0.001})
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
            grace, int, f"{path}.misfire_grace_time", file, {}, {"min": 1}),
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


# ---------------------------------------------------------------------------
# Job functions: module-level, plain-data keyword arguments, run on lpbot-job threads
# ---------------------------------------------------------------------------


def open_conversation(
    *,
    bot: str,
    consumer: str | None = None,
    skill: str | None = None,
    campaign_id: int | str | None = None,
    engagement_id: int | str | None = None,
    context: Mapping[str, Any] | None = None,
    first_message: str | None = None,
) -> str:
    """Open (or reuse) ``consumer``'s conversation, optionally say ``first_message``.

    Returns:
        The conversation id.
    """
    conversation = get_bot(bot).open_conversation(
        consumer, skill=skill, campaign_id=campaign_id, engagement_id=engagement_id,
        context=context, first_message=first_message)
    return conversation.id


def set_ttr(*, bot: str, ttr_type: str, value: int = 0, consumer: str | None = None) -> int:
    """Set this TTR on every open conversation (of ``consumer``, or of all consumers).

    Returns:
        How many conversations were changed.
    """
    running = get_bot(bot)
    changed = 0
    for conversation_id, activity in running.tracker.open_conversations():
        if consumer is not None and activity.consumer != consumer:
            continue
        ttr = activity.details.ttr if activity.details is not None else None
        if ttr is not None and (ttr.ttr_type, ttr.value) == (ttr_type, value):
            continue
        running.client(activity.consumer).conversation(conversation_id).set_ttr(ttr_type, value)
        changed += 1
    return changed


def urgent_when_unanswered(
    *, bot: str, after_minutes: float, value: int = 0, consumer: str | None = None
) -> int:
    """Set URGENT on conversations whose consumer waited ``after_minutes`` for an agent's reply.

    Returns:
        How many conversations were made urgent.
    """
    running = get_bot(bot)
    cutoff = time.time() - after_minutes * 60
    changed = 0
    for conversation_id, activity in running.tracker.waiting(cutoff):
        if consumer is not None and activity.consumer != consumer:
            continue
        ttr = activity.details.ttr if activity.details is not None else None
        if ttr is not None and ttr.ttr_type == "URGENT":
            continue
        log.info("conversation %s waited over %g min for an agent: setting URGENT",
                 conversation_id, after_minutes)
        running.client(activity.consumer).conversation(conversation_id).set_ttr("URGENT", value)
        changed += 1
    return changed


def synthetic_conversation(
    *,
    bot: str,
    consumer: str | None = None,
    skill: str | None = None,
    messages: Sequence[str] = ("Hello!",),
    reply_timeout: float = 10.0,
    csat: int = 5,
    resolved: bool = True,
) -> str:
    """One scripted conversation: open, agent joins, talk, close, rate.

    Waits for an agent, says each message and waits for an agent reply after it, closes, then
    rates: ``lpbot_csat_score``'s answer if a plugin gives one, else ``csat`` (0: no rating).
    Raises ``TimeoutError`` naming the step that got no answer, so the run is reported as
    failed (``lpbot_job_failed``).

    Returns:
        The conversation id.
    """
    running = get_bot(bot)
    conversation = running.open_conversation(consumer, skill=skill)
    activity = running.tracker.activity(conversation.id)

    def wait(step: str, predicate: Callable[[], bool]) -> None:
        if not running.wait_until(predicate, reply_timeout):
            if running.stopping.is_set():
                raise _Interrupted(step)
            raise TimeoutError(f"conversation {conversation.id}: {step} "
                               f"within {reply_timeout:g} s")

    try:
        wait("no agent joined", lambda: activity.agent_joined)
        for text in messages:
            sent = conversation.send_text(text)
            wait(f"no agent reply to {text!r}", partial(_answered, activity, sent))
        conversation.close()
        wait("the conversation was not seen closed", lambda: activity.closed)
        if csat:
            # a plugin's lpbot_csat_score answer wins over the configured score
            answers = running.dispatcher.call(
                "lpbot_csat_score", {"bot": running, "conversation": conversation}, strict=False)
            score = answers[0] if answers and isinstance(answers[0], int) else csat
            conversation.rate(score, resolved=resolved)
            wait("the CSAT was not seen",
                 lambda: activity.details is not None and activity.details.csat is not None)
    except _Interrupted as interrupted:
        log.info("synthetic conversation %s interrupted by shutdown (%s)", conversation.id,
                 interrupted)
    return conversation.id


def _answered(activity: Activity, sequence: int) -> bool:
    return activity.last_agent_sequence > sequence


class _Interrupted(Exception):
    """The bot began stopping while a synthetic conversation waited."""
