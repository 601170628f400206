"""``lpbot run``: the bot in the foreground, stopped in order by SIGTERM or SIGINT.

Systemd-friendly: logs go to stderr (human lines, or JSON lines with ``--log-format json``),
nothing forks, and the exit code says how it ended:

====  ========================================================================
code  meaning
====  ========================================================================
0     stopped cleanly (signal, ``--duration`` or ``--max-conversations``)
1     an error while running: an lpbot thread died, an unexpected exception, or handled
      events could not be committed to the state directory (counted in ``commit_errors``)
2     a config, plugin or state-directory error: nothing was started (the message names the
      key, the plugin, or the path)
3     could not connect at start-up (discovery, identity, socket, or an untrusted certificate)
4     stopped, but not within the stop deadline (a thread was left behind)
130   a second SIGTERM/SIGINT during shutdown: immediate exit
====  ========================================================================

The first signal starts :meth:`Bot.stop` (scheduler, dispatcher drain, ``lpbot_shutdown``,
connections), which ends within ``[bot] stop_timeout`` seconds (5 by default).

The daemon owns its process, so it also tunes it: :func:`raise_gc_threshold` (``[bot]
gc_threshold``; ``lpbot synth`` does the same). A :class:`Bot` used as a library leaves such
process-wide settings to its application.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Final

from lpbot.client.state import make_state_dir
from lpbot.errors import ConfigError, LpError, PluginError, StateConnectError, StateError
from lpbot.hookspecs import hookimpl
from lpbot.runtime.bot import Bot
from lpbot.runtime.config import Config, default_state_dir
from lpbot.runtime.counters import COMMIT_ERRORS, CONVERSATIONS
from lpbot.runtime.logs import configure_logging
from lpbot.runtime.preflight import preflight
from lpbot.runtime.sandbox_options import start_sandbox
from lpbot.wakeup import Wakeup

if TYPE_CHECKING:
    from lpbot.sandbox import Sandbox

__all__ = [
    "EMBEDDED_CONFIG",
    "EXIT_CONFIG",
    "EXIT_CONNECT",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNCLEAN",
    "RunOptions",
    "load_config",
    "raise_gc_threshold",
    "run_daemon",
]

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_CONFIG: Final = 2
EXIT_CONNECT: Final = 3
EXIT_UNCLEAN: Final = 4
EXIT_INTERRUPTED: Final = 130

#: the name error messages give the embedded default
EMBEDDED_NAME: Final = "<embedded default config/lpbot.toml>"

#: the embedded default, kept identical to ``config/lpbot.toml`` (a test compares them)
EMBEDDED_CONFIG: Final = """\
# lpbot's embedded default configuration: what `lpbot run` uses without --config.
# It starts lpbot's sandbox in-process (no LivePerson account needed) and runs a
# synthetic conversation every few seconds: open, talk with a simulated agent,
# rate it, close it. The "activity" plugin prints each step as a readable line.

[bot]
name = "main"
consumers = ["demo"]

[sandbox]
enabled = true
tls = true
agents = 3
agent_mode = "echo"
accept_delay = 0.3
reply_delay = 0.2

[logging]
level = "INFO"
format = "human"

[scheduler]
misfire_grace_time = 30
coalesce = true
max_instances = 1

[[jobs]]
id = "demo-synthetic-conversation"
kind = "synthetic_conversation"
every = 4
start_now = true
args = { consumer = "demo", messages = ["Hello! Where is my order?", "Thank you!"], csat = 5 }

[plugins]
enabled = ["activity", "metrics"]

# Prometheus metrics on /metrics, health on /healthz. Port 0: a free port from the OS,
# logged at start-up ("metrics on http://127.0.0.1:PORT/metrics"); set one for Prometheus.
[plugins.metrics]
enabled = true
port = 0
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """What ``lpbot run`` was asked for on the command line."""

    config: Path | None = None
    state_dir: Path | None = None
    duration: float | None = None
    max_conversations: int | None = None
    log_format: str | None = None


def load_config(path: Path | None) -> Config:
    """The config at ``path``, or the embedded default; raises ``ConfigError``."""
    if path is None:
        return Config.from_text(EMBEDDED_CONFIG, file=EMBEDDED_NAME)
    return Config.load(path)


class _Limits:
    """Internal plugin for ``--max-conversations``: stop after N closed conversations.

    Once N closed, no new job starts, and the daemon wakes when the running ones are done (so a
    synthetic conversation gets to rate what it closed).
    """

    def __init__(self, bot: Bot, limit: int | None, wake: Wakeup) -> None:
        self._bot, self._limit, self._wake = bot, limit, wake
        self._reached = False

    @hookimpl(trylast=True)
    def lpbot_conversation_closed(self) -> None:
        """Check the count (the tracker counted this close already)."""
        if self._limit is None or self._reached:
            return
        if self._bot.counters.value(CONVERSATIONS, "closed") >= self._limit:
            self._reached = True
            log.info("%d conversations closed: stopping once running jobs are done", self._limit)
            if self._bot.scheduler is not None:
                self._bot.scheduler.pause()
            self._check()

    @hookimpl(trylast=True)
    def lpbot_job_ran(self) -> None:
        """A job finished: maybe the last one."""
        self._check()

    @hookimpl(trylast=True)
    def lpbot_job_failed(self) -> None:
        """A job finished: maybe the last one."""
        self._check()

    def _check(self) -> None:
        scheduler = self._bot.scheduler
        if self._reached and (scheduler is None or scheduler.running_jobs == 0):
            self._wake.set()


def run_daemon(options: RunOptions) -> int:
    """Run until a signal, the duration or the conversation limit; returns the exit code."""
    try:
        config = load_config(options.config)
    except ConfigError as exc:
        print(f"lpbot: config error: {exc}", file=sys.stderr)  # noqa: T201 -- no logging yet
        return EXIT_CONFIG
    handler = configure_logging(
        level=config.logging.level, log_format=options.log_format or config.logging.format,
        patterns=config.logging.redact, secrets=config.secrets())
    if config.sandbox.enabled and config.logging.level != "DEBUG":
        logging.getLogger("websockets").setLevel("WARNING")  # the sandbox's per-socket lines
    try:
        try:
            preflight(config)  # what check-config checks: nothing has started yet
        except (ConfigError, PluginError) as exc:
            log.error("cannot start: %s", exc)
            return EXIT_CONFIG
        with Wakeup() as wake:
            return _serve(config, options, wake)
    finally:
        logging.getLogger().removeHandler(handler)


def _serve(config: Config, options: RunOptions, wake: Wakeup) -> int:
    state_dir = options.state_dir or config.bot.state_dir or default_state_dir()
    try:
        make_state_dir(state_dir)
    except StateError as exc:
        log.error("cannot start: %s", exc)
        return EXIT_CONFIG
    stopping = threading.Event()
    failures: list[BaseException] = []

    starting: list[Bot] = []  # the bot while it starts: a signal interrupts its connecting

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            os._exit(EXIT_INTERRUPTED)  # a second signal during shutdown: leave now
        log.info("%s received: stopping", signal.Signals(signum).name)
        stopping.set()
        wake.set()
        for bot in starting:
            bot.interrupt()

    def on_failure(error: BaseException) -> None:
        failures.append(error)
        wake.set()

    def on_thread_error(hook: threading.ExceptHookArgs) -> None:
        name = hook.thread.name if hook.thread is not None else "?"
        error = hook.exc_value if hook.exc_value is not None else RuntimeError(name)
        log.critical("thread %s died", name, exc_info=error)
        on_failure(error)

    wake.handle(on_signal)  # until run_daemon leaves the Wakeup
    previous_hook, threading.excepthook = threading.excepthook, on_thread_error
    sandbox: Sandbox | None = None
    bot: Bot | None = None
    code = EXIT_ERROR
    try:
        client_state_dir = None
        if config.sandbox.enabled:
            try:
                base = None if config.file.startswith("<") else Path(config.file).parent
                sandbox = start_sandbox(config.sandbox, base=base)
            except ConfigError as exc:  # a wrong flow file
                log.error("cannot start: %s", exc)
                code = EXIT_CONFIG
                return code
            config = replace(config, account=replace(
                config.account, id=sandbox.account, csds_domain=sandbox.csds_domain,
                tls=sandbox.tls, ca_file=Path(sandbox.ca_file) if sandbox.ca_file else None,
                # The sandbox plays LivePerson's IDP: the anonymous (ACR0) flow runs against
                # its connector; every other flow signs up (it cannot know the brand's keys).
                auth="anonymous" if config.account.auth == "anonymous" else "unauthenticated",
                connector_id=(sandbox.identity.options.anonymous_connector
                              if config.account.auth == "anonymous" else None),
                token_function=None, token_command=None, brand_token=None))
            # The in-process sandbox starts empty: identities from an earlier run mean nothing.
            client_state_dir = state_dir / "sandbox-consumers"
            shutil.rmtree(client_state_dir, ignore_errors=True)
        raise_gc_threshold(config.bot.gc_threshold)
        bot = Bot(config, state_dir=state_dir, client_state_dir=client_state_dir)
        bot.plugin_manager.register(_Limits(bot, options.max_conversations, wake),
                                    name="lpbot.runtime.daemon")
        bot.add_fatal_listener(on_failure)
        if stopping.is_set():  # a signal while the sandbox started
            code = EXIT_OK
            return code
        starting.append(bot)
        try:
            with wake.watching():
                bot.start()
        except StateConnectError as exc:  # [bot] state_url: PostgreSQL cannot be used
            log.error("cannot connect: %s", exc)
            code = EXIT_CONNECT
            return code
        except (ConfigError, PluginError, StateError) as exc:
            log.error("cannot start: %s", exc)
            code = EXIT_CONFIG
            return code
        except LpError as exc:
            if stopping.is_set():
                log.info("stopped while starting")
                code = EXIT_OK
                return code
            log.error("cannot connect: %s", exc)
            code = EXIT_CONNECT
            return code
        finally:
            starting.clear()
        log.info("serving; state in %s%s", state_dir,
                 " (sandbox in-process)" if sandbox is not None else "")
        _wait(wake, options.duration)
        stopping.set()
        with wake.watching():
            clean = bot.stop()
            if sandbox is not None:  # its threads count too: a slow client must not hold them
                clean = sandbox.stop(config.bot.stop_timeout) and clean
        clean = clean and not _leftover_threads()
        if bot.counters.total(COMMIT_ERRORS):
            failures.append(StateError("state could not be saved while running"))
        code = EXIT_ERROR if failures else EXIT_OK if clean else EXIT_UNCLEAN
        return code
    except Exception:  # isolation boundary: report, stop what started, exit 1
        log.critical("unexpected error", exc_info=True)
        return code
    finally:
        stopping.set()
        with wake.watching():
            if bot is not None:
                bot.stop()
            if sandbox is not None:
                sandbox.stop(config.bot.stop_timeout)
        threading.excepthook = previous_hook
        leftover = _leftover_threads()
        log.info("exit code %d; lpbot threads left: %s", code, ", ".join(leftover) or "none")


def _leftover_threads() -> list[str]:
    """Names of lpbot's threads still alive (none once everything stopped)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("lpbot-") and t.is_alive()]


def _wait(wake: Wakeup, duration: float | None) -> None:
    """Block until ``wake`` is set or ``duration`` seconds have passed."""
    if not wake.wait(duration):
        log.info("ran for %g s: stopping", duration)


def raise_gc_threshold(threshold: int) -> None:
    """Raise the collector's first threshold to ``threshold`` (never lower it; 0: leave it).

    CPython starts a young collection once container allocations outnumber frees by the
    threshold (700). The events in flight between the receive thread and a worker swing by
    hundreds, so a bot at 25,000 messages/s ran 700-1,000 collections per 100,000 messages, and
    the full ones they lead to walk every object in the process: 4-6 µs per message. At 10,000,
    at most ten remain (docs/internals.md, "The garbage collector").
    """
    first, *older = gc.get_threshold()
    if threshold > first:
        gc.set_threshold(threshold, *older)
        log.debug("garbage collector threshold raised from %d to %d", first, threshold)
