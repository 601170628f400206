"""BotHarness and EventRecorder: run a real Bot against a sandbox in a test, and watch its hooks.

``BotHarness`` builds the config for a running :class:`~lpbot.sandbox.Sandbox`, starts the bot
with the plugins under test, and on exit stops it and checks that no ``lpbot-`` thread was left
behind. ``EventRecorder`` records every hook call the dispatcher makes (pytester's
``HookRecorder``), so a test waits for what it expects instead of sleeping.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from lpbot.client.backoff import Backoff
from lpbot.runtime.bot import Bot
from lpbot.runtime.config import Config

if TYPE_CHECKING:
    from lpbot.client import Conversation
    from lpbot.sandbox import Sandbox

__all__ = ["BotHarness", "DaemonProcess", "EventRecorder", "RecordedCall",
           "signal_another_thread"]

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
    """A started :class:`~lpbot.runtime.bot.Bot` on a running sandbox, as a context manager.

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
            "account": {"id": sandbox.account, "csds_domain": sandbox.csds_domain,
                        "tls": sandbox.tls,
                        **({"ca_file": sandbox.ca_file} if sandbox.ca_file else {})},
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


class DaemonProcess:
    """``lpbot run`` in a subprocess, logging JSON lines that a test can wait for.

    Args:
        args: Arguments after ``lpbot run`` (``--config``, ``--state-dir``...).
        env: Extra environment variables (``PYTHONPATH`` for test plugins...).

    Example::

        with DaemonProcess("--state-dir", str(tmp_path)) as daemon:
            daemon.wait_for("serving")
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=5) == 0
    """

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.args = [sys.executable, "-m", "lpbot", "run", "--log-format", "json", *args]
        self.env = {**os.environ, **(env or {})}
        self.records: list[dict[str, Any]] = []
        self._condition = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            self.args, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read, name="daemon-process-stderr")
        self._reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()
        if self._reader is not None:
            self._reader.join()
        if process is not None and process.stderr is not None:
            process.stderr.close()

    @property
    def process(self) -> subprocess.Popen[str]:
        """The running process."""
        if self._process is None:
            raise RuntimeError("DaemonProcess is used as a context manager")
        return self._process

    def _read(self) -> None:
        stream = self.process.stderr
        assert stream is not None  # noqa: S101 -- stderr=PIPE
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                record = {"message": line.rstrip("\n"), "level": "RAW"}
            if not isinstance(record, dict):
                record = {"message": line.rstrip("\n"), "level": "RAW"}
            with self._condition:
                self.records.append(record)
                self._condition.notify_all()
        with self._condition:
            self._condition.notify_all()

    def messages(self) -> list[str]:
        """Every log message so far."""
        with self._condition:
            return [str(record.get("message", "")) for record in self.records]

    def wait_for(self, text: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for a log record whose message contains ``text``; returns it.

        Raises:
            AssertionError: on timeout or if the process ended first, with the log so far.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for record in self.records:
                    if text in str(record.get("message", "")):
                        return record
                remaining = deadline - time.monotonic()
                ended = self.process.poll() is not None and not (
                    self._reader is not None and self._reader.is_alive())
                if remaining <= 0 or ended:
                    log_text = "\n".join(self.messages()[-30:])
                    raise AssertionError(f"no log line with {text!r} within {timeout} s "
                                         f"(exit code {self.process.poll()}); log:\n{log_text}")
                self._condition.wait(min(remaining, 0.5))

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to the daemon."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit code; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        code = self.process.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return code


def signal_another_thread(pid: int, signum: int) -> None:
    """Send ``signum`` to a thread of process ``pid`` other than its main one (Linux ``tgkill``).

    The kernel may hand a process's signal to any of its threads; this makes that happen on
    purpose, to test that the process still stops.
    """
    threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
    if not threads:
        raise RuntimeError(f"process {pid} has no thread besides its main one")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, min(threads), signum) != 0:  # the oldest: lives as long as the process
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
