"""Locust user classes that run lpbot scenarios: each Locust user is one synthetic consumer.

A user connects its own consumer (identity and socket) on start, runs its scenario in a loop
(Locust's ``wait_time`` between runs, none by default) and closes the consumer when Locust
stops it. Every measured step goes to Locust as a request event: ``request_type`` the step kind,
``name`` ``scenario/step``, the step's duration, and the step's failure message as the error.

Locust is imported when a class is made, never when this module is imported: importing Locust
monkey-patches the whole process with gevent, which is right only in a process Locust runs (and
must happen before that process starts a thread).

Example (a locustfile)::

    from lpbot.loadtest import scenario_user

    OrderStatus = scenario_user("config/scenarios/order_status.toml", weight=3)
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from lpbot.client import ClientOptions
from lpbot.errors import ConfigError
from lpbot.loadtest.arguments import DEFAULT_RUNS_PER_CONSUMER, add_arguments, check_options
from lpbot.loadtest.consumer import Measurement, ScenarioConsumer
from lpbot.loadtest.target import (
    WeightedScenario,
    load_scenarios,
    options_from_config,
    options_from_host,
)
from lpbot.synthetic.scenario import Scenario, load_scenario

__all__ = ["StepFailure", "loaded_by_locust", "scenario_mix_user", "scenario_user", "user_base"]

log = logging.getLogger(__name__)

#: seconds a user waits after its consumer could not connect, before it tries again
RETRY_CONNECT_AFTER: Final = 1.0

_numbers = itertools.count(1)  # consumers of this process, for their identity names
_reported: set[str] = set()  # configuration errors already logged by this process


class StepFailure(Exception):
    """A failed step as Locust shows it: its ``repr`` is the step's own message."""

    def __repr__(self) -> str:
        return str(self)


def loaded_by_locust() -> bool:
    """True in a process Locust runs (it imported, and so monkey-patched, before us)."""
    return "locust" in sys.modules


def scenario_user(
    scenario: str | Path,
    *,
    weight: int = 1,
    wait_time: Callable[..., float] | None = None,
    runs_per_consumer: int | None = None,
    class_name: str | None = None,
) -> type[Any]:
    """A Locust ``User`` class whose users each run the scenario file ``scenario``.

    The file is checked at once (a ``ConfigError`` stops the locustfile's import). ``weight``
    is Locust's class weight; ``wait_time`` Locust's pause between runs (default none);
    ``runs_per_consumer`` overrides ``--lpbot-runs-per-consumer``; ``class_name`` defaults to
    the scenario's name in CamelCase (``order-status`` -> ``OrderStatus``).
    """
    checked = load_scenario(scenario)
    attributes: dict[str, Any] = {
        "abstract": False, "weight": weight, "scenario": checked,
        "runs_per_consumer": runs_per_consumer, "__doc__": f"Runs {checked.file}.",
    }
    if wait_time is not None:
        attributes["wait_time"] = wait_time  # Locust calls it with the user, like a method
    name = class_name or "".join(part.capitalize() for part in
                                 checked.name.replace("_", "-").split("-") if part)
    cls: type[Any] = type(name if name.isidentifier() else "ScenarioUser", (user_base(),),
                          attributes)
    return cls


@functools.cache
def scenario_mix_user() -> type[Any]:
    """The user class of ``--lpbot-scenarios``: each user runs one of the listed files.

    Users take the files in a smooth weighted rotation (weights 3 and 1: A A B A, A A B A...),
    so the mix in each process follows the weights exactly, however many users it has.
    """
    base = user_base()

    class LpbotScenarios(base):  # type: ignore[valid-type,misc]
        """Runs the scenario files of ``--lpbot-scenarios``, in proportion to their weights."""

        abstract = False

        def choose(self) -> Scenario:
            spec = getattr(self.environment.parsed_options, "lpbot_scenarios", "") or ""
            return _rotation(spec).next()

    return LpbotScenarios


@functools.cache
def user_base() -> type[Any]:
    """The abstract base of lpbot's user classes (imports Locust; made once per process)."""
    from locust import User, constant, events, task
    from locust.exception import StopUser
    from locust.runners import WorkerRunner

    def check(environment: Any, **_kwargs: Any) -> None:
        level = getattr(environment.parsed_options, "lpbot_log_level", None) or "WARNING"
        logging.getLogger("lpbot").setLevel(level)
        if isinstance(environment.runner, WorkerRunner):
            return  # a worker's options come from its master with each spawn
        mix = scenario_mix_user()
        needs = any(issubclass(cls, mix) for cls in environment.user_classes)
        problem = check_options(environment.parsed_options, environment.host,
                                needs_scenarios=needs)
        if problem is not None:
            log.error("lpbot: %s", problem)
            sys.exit(2)

    events.init_command_line_parser.add_listener(add_arguments)  # type: ignore[no-untyped-call]
    events.init.add_listener(check)  # type: ignore[no-untyped-call]

    class ScenarioUser(User):
        """One synthetic consumer running ``scenario`` in a loop (see the module's doc)."""

        abstract = True
        wait_time = constant(0)
        scenario: Scenario | None = None
        runs_per_consumer: int | None = None

        def __init__(self, environment: Any) -> None:
            super().__init__(environment)
            self.consumer: ScenarioConsumer | None = None
            self._idle = threading.Event()

        def choose(self) -> Scenario:
            """The scenario this user runs (the class's; the mix class picks one)."""
            if self.scenario is None:
                raise ConfigError(f"{type(self).__name__} has no scenario")
            return self.scenario

        def on_start(self) -> None:
            parsed = self.environment.parsed_options
            try:
                scenario = self.choose()
                options = _options(self.environment.host or "",
                                   getattr(parsed, "lpbot_config", "") or "")
            except ConfigError as exc:
                _report_once(str(exc))
                raise StopUser from exc
            runs = self.runs_per_consumer
            if runs is None:
                runs = int(getattr(parsed, "lpbot_runs_per_consumer",
                                   DEFAULT_RUNS_PER_CONSUMER))
            self.consumer = ScenarioConsumer(
                scenario, options, number=next(_numbers), runs_per_consumer=runs,
                report=functools.partial(_fire, self.environment.events.request))

        @task
        def run_scenario(self) -> None:
            assert self.consumer is not None  # noqa: S101 - on_start made it
            if self.consumer.run_once() is None:  # could not connect (reported)
                self._idle.wait(RETRY_CONNECT_AFTER)

        def on_stop(self) -> None:
            if self.consumer is not None:
                self.consumer.close()

    return ScenarioUser


def _fire(request: Any, measurement: Measurement) -> None:
    error = measurement.error
    request.fire(request_type=measurement.kind, name=measurement.name,
                 response_time=measurement.seconds * 1000.0, response_length=0,
                 exception=StepFailure(error) if error is not None else None,
                 context={}, start_time=measurement.started_at, url=None)


def _report_once(problem: str) -> None:
    if problem not in _reported:
        _reported.add(problem)
        log.error("lpbot: %s", problem)


@functools.lru_cache(maxsize=8)
def _options(host: str, config: str) -> ClientOptions:
    return options_from_config(config) if config else options_from_host(host)


class _Rotation:
    """Smooth weighted round robin (nginx's): exact proportions, evenly interleaved."""

    def __init__(self, entries: list[WeightedScenario]) -> None:
        self._entries = entries
        self._current = [0] * len(entries)
        self._total = sum(entry.weight for entry in entries)
        self._lock = threading.Lock()

    def next(self) -> Scenario:
        with self._lock:
            for index, entry in enumerate(self._entries):
                self._current[index] += entry.weight
            best = max(range(len(self._entries)), key=self._current.__getitem__)
            self._current[best] -= self._total
            return self._entries[best].scenario


@functools.lru_cache(maxsize=8)
def _rotation(spec: str) -> _Rotation:
    return _Rotation(load_scenarios(spec))
