"""CSAT submitter: rate every closed conversation once, as a consumer would (protocol notes §5.4.4).

When a conversation closes (by the agent, the consumer or the system) the plugin sends
``cm.UpdateConversationField`` with a ``CSATRate`` field: the score (1-5), the resolution
confirmation and the status. The score comes from the ``lpbot_csat_score`` hook, so another
plugin may decide it; this plugin answers last with its configured source: a fixed score, a
random one in a range, or a function ``"pkg.mod:func"`` called with the conversation.

A conversation is rated once: not again when its details already carry a CSAT (after a restart
the server reports it), nor twice in one run. The server's refusals (conversation not found,
already rated, closed too long ago) are logged, never raised.

Example::

    [plugins.csat_submitter]
    score = 5                     # or { min = 3, max = 5 }, or "mypackage.scores:score"
    resolved = true
    status = "FILLED"             # or "PARTIALLY_FILLED", "SKIPPED"
    closed_by = ["AGENT", "CONSUMER", "SYSTEM", "TIMEOUT"]
"""

from __future__ import annotations

import importlib
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import lpbot

if TYPE_CHECKING:
    from lpbot import Bot, Conversation, PluginConfig

__all__ = ["CsatSubmitter", "Options", "ScoreRange", "ScoreSource", "Settings", "lpbot_configure"]

log = logging.getLogger(__name__)

#: the close reasons the server reports (protocol notes §6.1 ``closeReason``)
CLOSE_REASONS: Final = ("AGENT", "CONSUMER", "SYSTEM", "TIMEOUT")
_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")

#: per conversation: CSAT already sent in this run
SUBMITTED = lpbot.StashKey[bool]()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreSource:
    """Where a score comes from: ``fixed``, ``random`` in [low, high], or a ``function``."""

    kind: str
    low: int = 5
    high: int = 5
    function: Callable[[Conversation], int] | None = field(default=None, compare=False)
    reference: str | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def score(self, conversation: Conversation) -> int:
        """A score for ``conversation``; ``ValueError`` if a function returns no 1-5 integer."""
        if self.kind == "fixed":
            return self.low
        if self.kind == "random":
            return self.rng.randint(self.low, self.high)
        if self.function is None:
            raise ValueError("a function score source without a function")
        value = self.function(conversation)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"{self.reference} returned {value!r}, not a score from 1 to 5")
        return value

    @classmethod
    def from_setting(cls, value: int | ScoreRange | str, config: PluginConfig) -> ScoreSource:
        """The source a checked ``score`` setting names (a function is imported now)."""
        if isinstance(value, int):
            if not 1 <= value <= 5:
                raise config.error("score", f"expected a score from 1 to 5, got {value}")
            return cls(kind="fixed", low=value, high=value)
        if isinstance(value, ScoreRange):
            if value.min > value.max:
                raise config.error("score", f"min ({value.min}) is above max ({value.max})")
            return cls(kind="random", low=value.min, high=value.max)
        if not _REFERENCE.fullmatch(value):
            raise config.error("score", "expected a score 1-5, a table { min, max }, or a "
                                        f"function reference 'package.module:function', got "
                                        f"{value!r}")
        module_name, _, attribute = value.partition(":")
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise config.error("score", f"cannot import {value}: {exc}") from exc
        if not callable(function):
            raise config.error("score", f"{value} is not callable")
        return cls(kind="function", function=function, reference=value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoreRange:
    """``score = { min = 3, max = 5 }``: a random score in the range, both ends included."""

    min: int = field(metadata={"min": 1, "max": 5})
    max: int = field(metadata={"min": 1, "max": 5})


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The ``[plugins.csat_submitter]`` table as written."""

    score: int | ScoreRange | str = 5
    resolved: bool = True
    status: Literal["FILLED", "PARTIALLY_FILLED", "SKIPPED"] = "FILLED"
    closed_by: tuple[str, ...] = CLOSE_REASONS
    unknown_reason: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's ``[plugins.csat_submitter]`` table, checked, with its score source."""

    score: ScoreSource = field(default_factory=lambda: ScoreSource(kind="fixed"))
    resolved: bool = True
    status: str = "FILLED"
    closed_by: tuple[str, ...] = CLOSE_REASONS
    unknown_reason: bool = True

    @classmethod
    def from_config(cls, config: PluginConfig) -> Options:
        """Check the table; ``ConfigError`` names the key path of a wrong value."""
        settings = config.parse(Settings)
        for index, reason in enumerate(settings.closed_by):
            if reason.upper() not in CLOSE_REASONS:  # a typo would silently rate nothing
                raise config.error(f"closed_by[{index}]", f"expected one of "
                                   f"{', '.join(CLOSE_REASONS)}, got {reason!r}")
        return cls(score=ScoreSource.from_setting(settings.score, config),
                   resolved=settings.resolved, status=settings.status,
                   closed_by=tuple(r.upper() for r in settings.closed_by),
                   unknown_reason=settings.unknown_reason)


class CsatSubmitter:
    """The per-bot instance: rates each closed conversation once."""

    def __init__(self, options: Options) -> None:
        self.options = options

    @lpbot.hookimpl(trylast=True)
    def lpbot_csat_score(self, conversation: Conversation) -> int | None:
        """The configured score, after every other plugin had its say."""
        return self.options.score.score(conversation)

    def wants(self, closed_by: str | None) -> bool:
        """Whether a conversation closed for this reason gets a rating."""
        if closed_by is None:
            return self.options.unknown_reason
        return closed_by.upper() in self.options.closed_by

    @lpbot.hookimpl
    def lpbot_conversation_closed(
        self, bot: Bot, conversation: Conversation, closed_by: str | None
    ) -> None:
        """Submit CSAT for the closed conversation, once; log a refusal instead of raising."""
        if not self.wants(closed_by):
            log.debug("conversation %s closed by %s: no CSAT", conversation.id, closed_by)
            return
        details = conversation.state
        if details is not None and details.csat is not None:
            log.debug("conversation %s already rated", conversation.id)
            return
        if details is not None and any(d.dialog_type == "POST_SURVEY" for d in details.dialogs):
            # protocol notes §7.7: a post-conversation survey replaces CSAT, never both.
            log.debug("conversation %s ran a survey: no CSAT", conversation.id)
            return
        stash = conversation.stash
        if stash.get(SUBMITTED, False):
            return
        stash[SUBMITTED] = True
        try:
            score = bot.plugin_manager.hook.lpbot_csat_score(bot=bot, conversation=conversation)
        except Exception:  # a scoring plugin's bug must not stop the rating of others
            log.exception("conversation %s: choosing the CSAT score failed", conversation.id)
            return
        if score is None:
            return
        try:
            conversation.rate(int(score), resolved=self.options.resolved,
                              status=self.options.status)
        except lpbot.RequestRejected as exc:
            log.warning("conversation %s: CSAT %s refused by the server (code %s): %s",
                        conversation.id, score, exc.code, exc.body)
        except lpbot.LpError as exc:
            log.warning("conversation %s: CSAT %s not sent: %s", conversation.id, score, exc)
        else:
            log.info("conversation %s closed by %s: CSAT %s sent", conversation.id,
                     closed_by or "unknown", score)


@lpbot.hookimpl
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Check the config and register this bot's :class:`CsatSubmitter`."""
    options = Options.from_config(config)
    bot.plugin_manager.register(CsatSubmitter(options), name=f"{config.name}.instance")
