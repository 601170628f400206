"""CSAT submitter: rate every closed conversation once, as a consumer would (protocol.md §5.4.4).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import lpbot

if TYPE_CHECKING:
    from lpbot import Bot, Conversation, PluginConfig

__all__ = ["CsatSubmitter", "Options", "ScoreSource", "lpbot_configure"]

log = logging.getLogger(__name__)

#: the close reasons the server reports (protocol.md §6.1 ``closeReason``)
CLOSE_REASONS: Final = ("AGENT", "CONSUMER", "SYSTEM", "TIMEOUT")
_STATUSES: Final = ("FILLED", "PARTIALLY_FILLED", "SKIPPED")
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
    def from_value(cls, value: Any, *, key: str, file: str | None) -> ScoreSource:
        """Parse ``score``: 1-5, ``{min, max}``, or ``"pkg.mod:func"`` (imported now)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= 5:
                raise lpbot.ConfigError(f"expected a score from 1 to 5, got {value}", path=file,
                                        key=key)
            return cls(kind="fixed", low=value, high=value)
        if isinstance(value, Mapping):
            if set(value) != {"min", "max"}:
                raise lpbot.ConfigError("expected { min = 1..5, max = 1..5 }", path=file, key=key)
            low, high = value["min"], value["max"]
            for name, bound in (("min", low), ("max", high)):
                if isinstance(bound, bool) or not isinstance(bound, int) or not 1 <= bound <= 5:
                    raise lpbot.ConfigError(f"expected a score from 1 to 5, got {bound!r}",
                                            path=file, key=f"{key}.{name}")
            if low > high:
                raise lpbot.ConfigError(f"min ({low}) is above max ({high})", path=file, key=key)
            return cls(kind="random", low=low, high=high)
        if isinstance(value, str) and _REFERENCE.fullmatch(value):
            module_name, _, attribute = value.partition(":")
            try:
                function = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise lpbot.ConfigError(f"cannot import {value}: {exc}", path=file,
                                        key=key) from exc
            if not callable(function):
                raise lpbot.ConfigError(f"{value} is not callable", path=file, key=key)
            return cls(kind="function", function=function, reference=value)
        raise lpbot.ConfigError("expected a score 1-5, a table { min, max }, or a function "
                                f"reference 'package.module:function', got {value!r}",
                                path=file, key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's ``[plugins.csat_submitter]`` table, checked."""

    score: ScoreSource = field(default_factory=lambda: ScoreSource(kind="fixed"))
    resolved: bool = True
    status: str = "FILLED"
    closed_by: tuple[str, ...] = CLOSE_REASONS
    unknown_reason: bool = True

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], *, path: str = "plugins.csat_submitter",
        file: str | None = None,
    ) -> Options:
        """Check ``table``; ``ConfigError`` names ``path.key``."""
        known = {"score", "resolved", "status", "closed_by", "unknown_reason"}
        for key in table:
            if key not in known:
                raise lpbot.ConfigError(f"unknown key (expected one of: "
                                        f"{', '.join(sorted(known))})", path=file,
                                        key=f"{path}.{key}")
        score = ScoreSource.from_value(table.get("score", 5), key=f"{path}.score", file=file)
        flags = {}
        for key in ("resolved", "unknown_reason"):
            value = table.get(key, True)
            if not isinstance(value, bool):
                raise lpbot.ConfigError("expected true or false", path=file, key=f"{path}.{key}")
            flags[key] = value
        status = table.get("status", "FILLED")
        if status not in _STATUSES:
            raise lpbot.ConfigError(f"expected one of {', '.join(_STATUSES)}, got {status!r}",
                                    path=file, key=f"{path}.status")
        closed_by = table.get("closed_by", list(CLOSE_REASONS))
        if not isinstance(closed_by, list) or not all(isinstance(r, str) for r in closed_by):
            raise lpbot.ConfigError("expected an array of close reasons", path=file,
                                    key=f"{path}.closed_by")
        for index, reason in enumerate(closed_by):
            if reason.upper() not in CLOSE_REASONS:  # a typo would silently rate nothing
                raise lpbot.ConfigError(f"expected one of {', '.join(CLOSE_REASONS)}, got "
                                        f"{reason!r}", path=file, key=f"{path}.closed_by[{index}]")
        return cls(score=score, status=status, closed_by=tuple(r.upper() for r in closed_by),
                   **flags)


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
        stash = bot.conversation_stash(conversation)
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
    options = Options.from_table(config.table, path=config.path, file=config.file)
    bot.plugin_manager.register(CsatSubmitter(options), name=f"{config.name}.instance")
