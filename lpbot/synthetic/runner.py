"""Runs a scenario many times at once: one consumer identity and connection per run, on threads.

Threads (house style §3.9): ``concurrency`` workers named ``lpbot-synth-<n>``, started and
joined by :meth:`Runner.run`. Each worker waits its ramp-up offset (``ramp_up * n /
concurrency``, on the stop event), then takes run numbers until ``count`` runs were started.
A run creates its own :class:`~lpbot.client.Client` (a fresh unauthenticated consumer, or one
brand token per run in the authenticated flow), so runs never share a conversation; each
client adds its own reader and keepalive threads while its run lasts.

Expect steps never poll: the client's callbacks (on its reader thread) append what arrived to
the run's record and notify a condition; the step waits on it with its timeout.

A caller that keeps one consumer for many runs (a Locust user, :mod:`lpbot.loadtest`) makes a
:class:`Run` itself and calls :meth:`Run.execute_on` with its own connected client, whose
callbacks it forwards to the run's ``record``.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import requests
import requests.adapters

from lpbot.client import Client, ClientOptions, Conversation
from lpbot.client.client import CaFileAdapter
from lpbot.errors import LpError
from lpbot.synthetic.record import RunRecord
from lpbot.synthetic.results import RunResult, StepResult
from lpbot.synthetic.scenario import (
    Close,
    ExpectClosed,
    ExpectMessage,
    ExpectParticipant,
    OpenConversation,
    ReadReceipt,
    Say,
    Scenario,
    SetTtr,
    Step,
    SubmitCsat,
    Typing,
    Wait,
)

__all__ = ["Run", "Runner", "StepFailed", "run_scenario"]

log = logging.getLogger(__name__)

#: timeout of requests (send, close, rate ...) issued by steps without a timeout of their own
REQUEST_TIMEOUT = 10.0


class StepFailed(Exception):
    """A step did not get what it expected; the message says what and for how long."""


class Run:
    """One run of ``runner``'s scenario, number ``number``: its record, the steps, the result.

    :meth:`execute` connects a new consumer for the run (what :class:`Runner` does);
    :meth:`execute_on` performs the steps on a client the caller owns.
    """

    def __init__(self, runner: Runner, number: int) -> None:
        self.runner = runner
        self.scenario = runner.scenario
        self.number = number
        self.record = RunRecord(runner.stop_event, runner.wait_slice)
        self.conversation: Conversation | None = None
        self.cursor = 0  # index of the next agent message an expect step may consume
        self.read: set[int] = set()
        self.step_started_at = 0.0
        rng = runner.rng_for(number)
        self.rng = rng
        self.values = {name: rng.choice(choices)
                       for name, choices in self.scenario.variables.items()}
        self.values.update(run=str(number), scenario=self.scenario.name)

    def execute(self) -> RunResult:
        """Connect a new consumer, perform the steps, close it; the run's result."""
        started_at, start = time.time(), time.monotonic()
        steps: list[StepResult] = []
        error: str | None = None
        client = Client(self.runner.options_for(self.scenario, self.number),
                        on_message=self.record.on_message,
                        on_conversation=self.record.on_conversation,
                        http=self.runner.http)
        with self.runner.track(self.record):
            try:
                client.connect(timeout=self.runner.connect_timeout)
            except LpError as exc:
                error = f"could not connect: {exc}"
            else:
                error = self._steps(client, steps)
            finally:
                consumer_id = client.consumer_id
                client.close()
        return self._result(started_at, start, steps, consumer_id, error)

    def execute_on(self, client: Client) -> RunResult:
        """Perform the steps on ``client``, connected and owned by the caller (left open).

        The caller forwards the client's ``on_message`` and ``on_conversation`` callbacks to
        this run's ``record`` while the run lasts.
        """
        started_at, start = time.time(), time.monotonic()
        steps: list[StepResult] = []
        with self.runner.track(self.record):
            error = self._steps(client, steps)
        return self._result(started_at, start, steps, client.consumer_id, error)

    def _steps(self, client: Client, steps: list[StepResult]) -> str | None:
        for index, step in enumerate(self.scenario.steps):
            result = self._step(client, index, step)
            steps.append(result)
            if self.runner.on_step is not None:
                try:
                    self.runner.on_step(self.number, result)
                except Exception:  # isolation boundary: a reporter bug must not stop runs
                    log.exception("the step callback failed")
            if not result.ok:
                return None
            if self.runner.stop_event.is_set() and index + 1 < len(self.scenario.steps):
                return (f"interrupted: the runner was stopped before "
                        f"{self.scenario.step_names[index + 1]}")
        return None

    def _result(self, started_at: float, start: float, steps: list[StepResult],
                consumer_id: str | None, error: str | None) -> RunResult:
        with self.record.cond:
            transcript = tuple(self.record.transcript)
        return RunResult(
            scenario=self.scenario.name, file=self.scenario.file, run=self.number,
            started_at=started_at, duration=time.monotonic() - start, steps=tuple(steps),
            transcript=transcript, consumer_id=consumer_id,
            conversation_id=self.conversation.id if self.conversation is not None else None,
            first_response=self._first_response(), error=error)

    def _step(self, client: Client, index: int, step: Step) -> StepResult:
        started_at, start = time.time(), time.monotonic()
        self.step_started_at = started_at
        error: str | None = None
        try:
            self._perform(client, step)
        except StepFailed as exc:
            error = str(exc)
        except LpError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # isolation boundary: a run's bug fails that run only
            log.exception("scenario %s run %d: step %d failed unexpectedly",
                          self.scenario.name, self.number, index)
            error = f"{type(exc).__name__}: {exc}"
        if self.runner.stop_event.is_set() and _waits(step):
            error = "interrupted: the runner was stopped"
        return StepResult(index=index, kind=step.kind, name=self.scenario.step_names[index],
                          started_at=started_at, duration=time.monotonic() - start,
                          ok=error is None, error=error)

    def _need(self) -> Conversation:
        if self.conversation is None:
            raise StepFailed("no conversation: an open_conversation step must come first")
        return self.conversation

    def _perform(self, client: Client, step: Step) -> None:
        record = self.record
        if isinstance(step, OpenConversation):
            self.conversation = client.open_conversation(
                skill_id=step.skill, campaign_id=step.campaign_id,
                engagement_id=step.engagement_id,
                context=dict(step.context) if step.context is not None else None,
                ttr=step.ttr, timeout=step.timeout)
        elif isinstance(step, Say):
            text = self.rng.choice(step.choices).format_map(self.values)
            sequence = self._need().send_text(text, timeout=REQUEST_TIMEOUT)
            with record.cond:
                if record.first_said is None:  # first response counts from this step's start
                    record.first_said = (sequence, self.step_started_at)
        elif isinstance(step, ExpectMessage):
            self._expect_message(step.bind(self.values))
        elif isinstance(step, ExpectParticipant):
            self._need()
            if not record.wait_for(lambda: step.role in record.roles, step.timeout):
                raise StepFailed(f"no participant with role {step.role} within "
                                 f"{step.timeout:g} s (roles seen: "
                                 f"{', '.join(sorted(record.roles)) or 'none'})")
        elif isinstance(step, Wait):
            record.stop.wait(step.seconds)
        elif isinstance(step, ReadReceipt):
            with record.cond:
                unread = [seq for seq, _, _ in record.agent_messages if seq not in self.read]
            if unread:
                self._need().mark_read(unread, timeout=REQUEST_TIMEOUT)
                self.read.update(unread)
        elif isinstance(step, Typing):
            self._need().set_chat_state(step.state, timeout=REQUEST_TIMEOUT)
        elif isinstance(step, SetTtr):
            self._need().set_ttr(step.ttr_type, step.value, timeout=REQUEST_TIMEOUT)
        elif isinstance(step, SubmitCsat):
            self._need().rate(step.rate, resolved=step.resolved, status=step.status,
                              timeout=REQUEST_TIMEOUT)
        elif isinstance(step, Close):
            self._need().close(timeout=REQUEST_TIMEOUT)
        elif isinstance(step, ExpectClosed):
            self._need()
            if not record.wait_for(lambda: record.closed, step.timeout):
                raise StepFailed(f"the conversation was not closed within {step.timeout:g} s")

    def _expect_message(self, step: ExpectMessage) -> None:
        self._need()
        record = self.record
        found: list[int] = []

        def matched() -> bool:
            messages = record.agent_messages
            for position in range(self.cursor, len(messages)):
                if step.matches(messages[position][1]):
                    found.append(position)
                    return True
            return False

        if not record.wait_for(matched, step.timeout):
            with record.cond:
                seen = [text for _, text, _ in record.agent_messages[self.cursor:]]
            self.cursor += len(seen)
            received = "; ".join(repr(text) for text in seen[-3:]) or "none"
            raise StepFailed(f"no {step.describe()} within {step.timeout:g} s "
                             f"(agent messages received meanwhile: {received})")
        self.cursor = found[-1] + 1

    def _first_response(self) -> float | None:
        with self.record.cond:
            if self.record.first_said is None:
                return None
            sequence, said_at = self.record.first_said
            for agent_sequence, _, at in self.record.agent_messages:
                if agent_sequence > sequence:
                    return max(0.0, at - said_at)
        return None


def _waits(step: Step) -> bool:
    return isinstance(step, ExpectMessage | ExpectParticipant | ExpectClosed | Wait)


class Runner:
    """Runs ``count`` runs of ``scenario``, ``concurrency`` at a time, against ``options``.

    Args:
        scenario: The checked scenario.
        options: Where and how consumers connect (account, CSDS domain, TLS, token
            provider). Each run uses a copy with its own ``identity_name`` and the scenario's
            client properties, and no state directory: a new consumer per run.
        count: How many runs in all.
        concurrency: How many runs at the same time (worker threads).
        ramp_up: Seconds over which the first ``concurrency`` runs start, evenly spread.
        on_result: Called with each finished :class:`RunResult`, on the worker thread.
        on_step: Called with the run number and each finished :class:`StepResult` as soon as
            the step ends, on the thread performing the run (live reporting).
        seed: Seed of the random choices (variables, ``say`` choices); per-run streams.
        connect_timeout: Seconds one run's client may take to connect.
        stop_event: Stop when this is set (default: a new event, set by :meth:`stop`). Setting
            an outside event does not wake waiting steps at once: they notice within 0.2 s.
    """

    def __init__(
        self,
        scenario: Scenario,
        options: ClientOptions,
        *,
        count: int = 1,
        concurrency: int = 1,
        ramp_up: float = 0.0,
        on_result: Callable[[RunResult], None] | None = None,
        on_step: Callable[[int, StepResult], None] | None = None,
        seed: int | None = None,
        connect_timeout: float = 30.0,
        stop_event: threading.Event | None = None,
    ) -> None:
        if count < 1 or concurrency < 1 or ramp_up < 0:
            raise ValueError("count and concurrency must be >= 1, ramp_up >= 0")
        self.scenario = scenario
        self.options = options
        self.count = count
        self.concurrency = min(concurrency, count)
        self.ramp_up = ramp_up
        self.on_result = on_result
        self.on_step = on_step
        self.connect_timeout = connect_timeout
        self.stop_event = stop_event if stop_event is not None else threading.Event()
        self.wait_slice = None if stop_event is None else 0.2
        self._seed = seed if seed is not None else random.randrange(2**32)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._results: list[RunResult] = []
        self._active: set[RunRecord] = set()
        self.http = requests.Session()
        pool = min(self.concurrency, 64)
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=pool)
        self.http.mount("http://", adapter)
        # the clients keep this shared session's settings: it must trust their CA file itself
        self.http.mount("https://", CaFileAdapter(options.ca_file, pool_maxsize=pool)
                        if options.tls and options.ca_file else adapter)

    def rng_for(self, number: int) -> random.Random:
        """The random stream of run ``number`` (reproducible with a seed)."""
        return random.Random(f"{self._seed}:{number}")

    def options_for(self, scenario: Scenario, number: int) -> ClientOptions:
        """Client options of one run: its own identity name, the scenario's properties."""
        options = replace(self.options, identity_name=f"synth-{scenario.name}-{number}")
        if scenario.client_properties is not None:
            options = replace(options, client_properties=dict(scenario.client_properties))
        return options

    def track(self, record: RunRecord) -> _Tracked:
        """Context manager: ``record`` is woken by :meth:`stop` while the run lasts."""
        return _Tracked(self, record)

    def run(self) -> list[RunResult]:
        """Run every run; returns the results by run number once every worker was joined."""
        workers = [threading.Thread(target=self._work, args=(index,),
                                    name=f"lpbot-synth-{index}")
                   for index in range(self.concurrency)]
        try:
            for worker in workers:
                worker.start()
        finally:
            for worker in workers:
                if worker.ident is not None:
                    worker.join()
            self.http.close()
        return sorted(self._results, key=lambda result: result.run)

    def stop(self) -> None:
        """Start no new run and interrupt the waiting ones (they fail as interrupted)."""
        self.stop_event.set()
        with self._lock:
            active = list(self._active)
        for record in active:
            record.wake()

    def _work(self, index: int) -> None:
        delay = self.ramp_up * index / self.concurrency
        if delay and self.stop_event.wait(delay):
            return
        while not self.stop_event.is_set():
            with self._lock:
                number = next(self._numbers)
            if number > self.count:
                return
            try:
                result = Run(self, number).execute()
            except Exception as exc:  # isolation boundary: one broken run is one failed run
                log.exception("scenario %s run %d failed unexpectedly", self.scenario.name, number)
                result = RunResult(scenario=self.scenario.name, file=self.scenario.file,
                                   run=number, started_at=time.time(), duration=0.0, steps=(),
                                   error=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._results.append(result)
            if not result.ok:
                log.info("scenario %s run %d failed: %s", result.scenario, result.run,
                         result.failure)
            if self.on_result is not None:
                try:
                    self.on_result(result)
                except Exception:  # isolation boundary: a reporter bug must not stop runs
                    log.exception("the result callback failed")


class _Tracked:
    def __init__(self, runner: Runner, record: RunRecord) -> None:
        self.runner, self.record = runner, record

    def __enter__(self) -> None:
        with self.runner._lock:
            self.runner._active.add(self.record)
        if self.runner.stop_event.is_set():
            self.record.wake()

    def __exit__(self, *exc_info: object) -> None:
        with self.runner._lock:
            self.runner._active.discard(self.record)


def run_scenario(
    scenario: Scenario,
    options: ClientOptions,
    *,
    count: int = 1,
    concurrency: int = 1,
    ramp_up: float = 0.0,
    on_result: Callable[[RunResult], None] | None = None,
    seed: int | None = None,
) -> Sequence[RunResult]:
    """Run ``scenario`` ``count`` times, ``concurrency`` at once; see :class:`Runner`."""
    return Runner(scenario, options, count=count, concurrency=concurrency, ramp_up=ramp_up,
                  on_result=on_result, seed=seed).run()
