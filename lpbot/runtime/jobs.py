"""Built-in scheduled jobs: the functions that ``[[jobs]]`` tables run, and the bot registry.

Jobs live in a persistent job store, so each is stored as a textual reference
(``"lpbot.runtime.jobs:open_conversation"``) with plain-data keyword arguments; a job finds its live
``Bot`` by name through :func:`get_bot` when it runs (APScheduler 3.x rule: no handle or bound
method may be pickled). Kinds: ``open_conversation``, ``set_ttr``, ``urgent_when_unanswered``,
``synthetic_conversation`` (the demo of the embedded default), and ``call`` for any function.
The ``[[jobs]]`` schema lives in :mod:`lpbot.runtime.job_config`, so reading a config loads
none of this module.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from lpbot.errors import ConfigError

if TYPE_CHECKING:

    from lpbot.runtime.bot import Bot
    from lpbot.runtime.tracking import Activity

#: Job stores written before the package had layers refer to this module as ``lpbot.jobs``
#: (APScheduler keeps ``"lpbot.jobs:set_ttr"`` in each stored job). The alias lets those jobs
#: load instead of being dropped with a traceback; the next ``ensure_job`` of the config stores
#: them under this module's name.
sys.modules.setdefault("lpbot.jobs", sys.modules[__name__])

__all__ = [
    "get_bot",
    "open_conversation",
    "register_bot",
    "set_ttr",
    "synthetic_conversation",
    "unregister_bot",
    "urgent_when_unanswered",
]

log = logging.getLogger(__name__)

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
