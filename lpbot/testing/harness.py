"""BotHarness and EventRecorder: run a real Bot against a sandbox in a test, and watch its hooks.

``BotHarness`` builds the config for a running :class:`~lpbot.sandbox.Sandbox`, starts the bot
with the plugins under test, and on exit stops it and checks that no ``lpbot-`` thread was left
behind. ``EventRecorder`` records every hook call the dispatcher makes (pytester's
``HookRecorder``), so a test waits for what it expects instead of sleeping.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from lpbot.backoff import Backoff
from lpbot.bot import Bot
from lpbot.config import Config

if TYPE_CHECKING:
    from lpbot.client import Conversation
    from lpbot.sandbox import Sandbox

__all__ = ["BotHarness", "EventRecorder", "RecordedCall"]

_names = itertools.count()


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One hook call: its name and arguments (``call.kwargs["conversation"]``)."""

    name: str
    kwargs: Mapping[str, Any] = field(repr=False)
    at: float = field(default_factory=time.monotonic, repr=False, compare=False)

    def __getitem__(self, argument: str) -> Any:
        return self.kwargs[argument]


class EventRecorder:
    """Records hook calls (a dispatcher tracer); thread-safe, with waits that need no sleeps."""

    def __init__(self) -> None:
        self._calls: list[RecordedCall] = []
        self._condition = threading.Condition()

    def __call__(self, hook_name: str, kwargs: Mapping[str, object]) -> None:
        """Record one call (the dispatcher calls this just before the implementations)."""
        with self._condition:
            self._calls.append(RecordedCall(hook_name, dict(kwargs)))
            self._condition.notify_all()

    def calls(
        self, name: str | None = None, where: Callable[[RecordedCall], bool] | None = None
    ) -> list[RecordedCall]:
        """The calls so far, optionally only of hook ``name`` and matching ``where``."""
        with self._condition:
            return [
                call
                for call in self._calls
                if (name is None or call.name == name) and (where is None or where(call))
            ]

    def names(self) -> list[str]:
        """The hook names called so far, in order."""
        with self._condition:
            return [call.name for call in self._calls]

    def wait_for(
        self,
        name: str,
        where: Callable[[RecordedCall], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[RecordedCall]:
        """Wait until hook ``name`` was called ``count`` times (matching ``where``).

        Raises:
            AssertionError: on timeout, naming the hook and what was seen.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                found = self.calls(name, where)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout} s waiting for {count} call(s) of {name}; "
                        f"saw {len(found)} (all hooks seen: {sorted(set(self.names()))})"
                    )
                self._condition.wait(remaining)

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        with self._condition:
            self._calls.clear()


class BotHarness:
    """A started :class:`~lpbot.bot.Bot` on a running sandbox, as a context manager.

    Args:
        sandbox: The running sandbox to connect to.
        state_dir: The bot's state directory (a test's ``tmp_path``).
        plugins: Plugins under test: module paths (``"mypackage.myplugin"``) or objects with
            ``@lpbot.hookimpl`` methods.
        config: Extra config tables, merged over the harness's (``{"plugins": {...}}``...).
        consumers: Consumer names to connect at start.

    Example::

        with BotHarness(sandbox, state_dir=tmp_path, plugins=["mypackage.thanks"]) as harness:
            conversation = harness.bot.open_conversation()
            harness.events.wait_for("lpbot_participant_joined")
    """

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        state_dir: Path,
        plugins: Sequence[str | object] = (),
        config: Mapping[str, Any] | None = None,
        consumers: Sequence[str] = ("default",),
    ) -> None:
        self.sandbox = sandbox
        modules: dict[str, str] = {}
        extra: list[tuple[str, object]] = []
        for plugin in plugins:
            if isinstance(plugin, str):
                modules[plugin.rpartition(".")[2]] = plugin
            else:
                extra.append((f"{type(plugin).__name__.lower()}-{len(extra)}", plugin))
        data: dict[str, Any] = {
            "bot": {
                "name": f"harness-{next(_names)}",
                "consumers": list(consumers),
                "stop_timeout": 5.0,
            },
            "account": {"id": sandbox.account, "csds_domain": sandbox.csds_domain, "tls": False},
            "plugins": {"modules": modules},
        }
        for section, table in (config or {}).items():
            if isinstance(table, Mapping) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **table}
            else:
                data[section] = table
        self.config = Config.from_mapping(data, file="<BotHarness>", environ={})
        self.events = EventRecorder()
        self.bot = Bot(
            self.config,
            state_dir=state_dir,
            plugins=extra,
            client_options={"backoff": Backoff.immediate()},
        )
        self.bot.dispatcher.add_tracer(self.events)

    def __enter__(self) -> Self:
        self.bot.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        clean = self.bot.stop()
        if kind is None:
            leftover = [
                t.name
                for t in threading.enumerate()
                if t.name.startswith("lpbot-") and not t.name.startswith("lpbot-sandbox")
            ]
            assert clean, "the bot did not stop cleanly within its stop_timeout"  # noqa: S101
            assert not leftover, f"threads left behind: {leftover}"  # noqa: S101

    def open_conversation(self, consumer: str | None = None, **options: Any) -> Conversation:
        """Open a conversation through the bot (see :meth:`Bot.open_conversation`)."""
        return self.bot.open_conversation(consumer, **options)
