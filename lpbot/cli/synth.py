"""``lpbot synth``: run scenario files with many synthetic consumers and report how they went.

Exit codes: 0 every run passed, 1 a step failed, 2 a scenario or config file is wrong (nothing
connected), 3 the in-process sandbox could not start, 130 interrupted by SIGINT or SIGTERM before
every run ended (and none failed before that; the reports call those runs ``interrupted``).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Final

from lpbot.errors import ConfigError
from lpbot.runtime.config import BotSection, Config
from lpbot.runtime.daemon import raise_gc_threshold
from lpbot.runtime.import_path import add_config_folders
from lpbot.runtime.logs import configure_logging
from lpbot.synthetic.reports import Progress, write_json, write_junit
from lpbot.synthetic.results import RunResult
from lpbot.synthetic.runner import Runner
from lpbot.synthetic.scenario import Scenario, load_scenario
from lpbot.wakeup import Wakeup

__all__ = ["configure_parser", "run", "thread_stack_size"]

log = logging.getLogger(__name__)

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
EXIT_SANDBOX: Final = 3
EXIT_INTERRUPTED: Final = 130


def _at_least(minimum: int) -> type[int]:
    class Checked(int):
        def __new__(cls, text: str) -> Checked:
            value = int(text)
            if value < minimum:
                raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
            return super().__new__(cls, value)

    return Checked


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot synth``'s arguments."""
    parser.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO.toml",
                        help="scenario files (or BotiumScript *.convo.txt), run one after "
                             "the other")
    parser.add_argument("--convert", action="store_true",
                        help="print each BotiumScript convo as scenario TOML and run nothing")
    parser.add_argument("--count", type=_at_least(1), default=1, metavar="N",
                        help="runs of each scenario (default 1)")
    parser.add_argument("--concurrency", type=_at_least(1), default=1, metavar="C",
                        help="runs at the same time, each its own consumer (default 1)")
    parser.add_argument("--ramp-up", type=_seconds, default=0.0, metavar="SECONDS",
                        help="spread the start of the first C runs over this long")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="write a JSON report with every step's timing")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="connect to the [account] (or [sandbox]) of this lpbot config; "
                             "default: an in-process sandbox per scenario")
    parser.add_argument("--flow", type=Path, metavar="FILE",
                        help="agents of the in-process sandbox follow this flow file (a bot)")
    parser.add_argument("--agent-mode", choices=("echo", "rules", "silent", "flow"),
                        help="agents of the in-process sandbox (default: the scenario's "
                             "[scenario.sandbox] agent_mode)")
    parser.add_argument("--seed", type=int, help="seed of the random choices, to repeat a run")
    parser.add_argument("--stack-size", type=_at_least(64), default=256, metavar="KIB",
                        help="stack size of the threads started for the runs (default 256)")
    parser.add_argument("--log-level", default="WARNING",
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level on stderr (default WARNING)")


@contextmanager
def thread_stack_size(kib: int) -> Iterator[None]:
    """Threads started inside the block reserve ``kib`` KiB of stack (process-wide setting)."""
    previous = threading.stack_size(kib * 1024)
    try:
        yield
    finally:
        threading.stack_size(previous)


def run(args: argparse.Namespace) -> int:
    """Check every scenario, run them, write the reports; returns the exit code."""
    add_config_folders(args.config)  # its [account] token_function may be a module beside it
    # the redacting handler of `lpbot run`: websockets and lpbot log tokens at DEBUG
    output = configure_logging(level=str(args.log_level).upper(), stream=sys.stderr)
    try:
        return _run(args)
    finally:
        logging.getLogger().removeHandler(output)


def _run(args: argparse.Namespace) -> int:
    if args.convert:
        return _convert(args.scenarios)
    try:
        scenarios = [load_scenario(path) for path in args.scenarios]
        config = None
        if args.config is not None:
            config = Config.load(args.config)
        _check_flows(args, scenarios, config)
    except ConfigError as exc:
        print(f"lpbot synth: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    _raise_open_files(args.concurrency * 2 + 64)  # a socket per consumer, and HTTP
    raise_gc_threshold(config.bot.gc_threshold if config is not None
                       else BotSection().gc_threshold)
    progress = Progress(sys.stdout, total=args.count * len(scenarios))
    stopped = threading.Event()
    current: list[Runner] = []
    results: list[RunResult] = []
    with Wakeup() as wake:  # not a threading.Event: see lpbot.wakeup

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stopped.set()
            for runner in current:
                runner.stop()
            wake.set()

        wake.handle(on_signal)
        with thread_stack_size(args.stack_size):
            for scenario in scenarios:
                if stopped.is_set():
                    break
                try:
                    results += _run_one(scenario, config, args, progress, current,
                                        (wake, stopped))
                except OSError as exc:
                    print(f"lpbot synth: cannot start the sandbox: {exc}",  # noqa: T201
                          file=sys.stderr)
                    return EXIT_SANDBOX
                except ConfigError as exc:  # a flow the checks above could not see
                    print(f"lpbot synth: {exc}", file=sys.stderr)  # noqa: T201
                    return EXIT_CONFIG
    progress.finish(results)
    if args.junit is not None:
        write_junit(args.junit, results)
    if args.json is not None:
        write_json(args.json, results)
    if any(result.status == "failed" for result in results):
        return EXIT_FAILED
    if stopped.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK if results else EXIT_FAILED


def _check_flows(args: argparse.Namespace, scenarios: list[Scenario], config: object) -> None:
    """Load every flow file the run names, so a wrong one stops it before anything runs."""
    from lpbot.runtime.config import Config
    from lpbot.runtime.sandbox_options import load_flow_file

    section = config.sandbox if isinstance(config, Config) else None
    folder = _config_folder(config)
    configured = section.flow if section is not None else None
    if configured is not None and not configured.is_absolute() and folder is not None:
        configured = folder / configured
    named = {str(args.flow) if args.flow is not None else None,
             str(configured) if configured is not None else None,
             *(scenario.sandbox.flow for scenario in scenarios)}
    for flow in sorted(name for name in named if name is not None):
        load_flow_file(flow)
    if args.agent_mode == "flow" and args.flow is None and section is None \
            and any(scenario.sandbox.flow is None for scenario in scenarios):
        raise ConfigError("--agent-mode flow needs --flow FILE (or [scenario.sandbox] flow)")


def _config_folder(config: object) -> Path | None:
    """The folder of the config file (its relative paths start there), if one was given."""
    from lpbot.runtime.config import Config

    if isinstance(config, Config) and not config.file.startswith("<"):
        return Path(config.file).parent
    return None


def _convert(paths: list[Path]) -> int:
    """``--convert``: print the scenario TOML of each convo; exit 2 at the first wrong one."""
    from lpbot.synthetic.botium import convert_convo, is_convo

    for path in paths:
        if not is_convo(path):
            print(f"lpbot synth: {path}: --convert reads BotiumScript *.convo.txt files",  # noqa: T201
                  file=sys.stderr)
            return EXIT_CONFIG
        try:
            text = convert_convo(path)
        except ConfigError as exc:
            print(f"lpbot synth: {exc}", file=sys.stderr)  # noqa: T201
            return EXIT_CONFIG
        sys.stdout.write(text)
    return EXIT_OK


def _raise_open_files(needed: int) -> None:
    """Raise the soft limit of open files to ``needed`` if the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        limit = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def _run_one(scenario: Scenario, config: object, args: argparse.Namespace, progress: Progress,
             current: list[Runner], stop: tuple[Wakeup, threading.Event]) -> list[RunResult]:
    from lpbot.runtime.client_options import client_options
    from lpbot.runtime.config import Config
    from lpbot.synthetic.target import sandbox_options, start_sandbox

    sandbox = None
    if isinstance(config, Config) and not config.sandbox.enabled:
        options = client_options(config.account)
    else:
        settings = config.sandbox if isinstance(config, Config) else scenario.sandbox
        sandbox = start_sandbox(settings, agent_mode=args.agent_mode,
                                flow=str(args.flow) if args.flow is not None else None,
                                base=_config_folder(config))
        options = sandbox_options(sandbox)
    try:
        runner = Runner(scenario, options, count=args.count, concurrency=args.concurrency,
                        ramp_up=args.ramp_up, on_result=progress, seed=args.seed)
        current[:] = [runner]
        return _run_beside(runner, *stop)
    finally:
        current.clear()
        if sandbox is not None:
            sandbox.stop()


def _run_beside(runner: Runner, wake: Wakeup, stopped: threading.Event) -> list[RunResult]:
    """``runner.run()`` on its own thread while the main thread sleeps on ``wake``.

    So a signal wakes the main thread whichever thread the kernel handed it to; its handler
    stops the runner, and the join below waits only for the runs it interrupted.
    """
    done = threading.Event()
    outcome: list[list[RunResult]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(runner.run())
        except BaseException as exc:  # noqa: BLE001 -- raised again on the main thread
            errors.append(exc)
        finally:
            done.set()
            wake.set()

    thread = threading.Thread(target=work, name="lpbot-synth-runner")
    thread.start()
    while not (done.is_set() or stopped.is_set()):
        wake.wait()
        wake.clear()
    if stopped.is_set():
        runner.stop()  # again: the signal may have come before the runner was in ``current``
    thread.join()
    if errors:
        raise errors[0]
    return outcome[0]
