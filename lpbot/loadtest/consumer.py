"""One load-test user's consumer: one identity and connection, its scenario run again and again.

A :class:`ScenarioConsumer` connects one consumer (one :class:`~lpbot.client.Client`, so one
identity and one socket) and runs the scenario on it as often as it is asked, each run a
:class:`~lpbot.synthetic.runner.Run` on the same client. Every step that measures something
is handed to ``report`` as a :class:`Measurement` the moment it ends, so a live view (Locust's
statistics) sees it at once; so are the connect and the run's first reply.

Each run has its own conversation: after a run the consumer closes the conversation if the
scenario left it open (a failed run, or a scenario without ``close``), so the next run's
``open_conversation`` asks for a new one. Events of earlier runs' conversations that arrive
late (a CSAT change after the run ended) are dropped, never counted in the next run.

After ``runs_per_consumer`` runs the consumer is replaced by a new one (new identity, new
socket; its connect is reported again), so no identity builds up a history of hundreds of
conversations that no real consumer has; the client itself forgets closed conversations after
its ``closed_retention``.

Nothing here imports Locust: the module runs the same on threads and on gevent's greenlets.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lpbot.client import Client, ClientOptions
from lpbot.errors import LpError
from lpbot.protocol.notifications import ConversationChange, MessagingEvent
from lpbot.synthetic.results import RunResult, StepResult
from lpbot.synthetic.runner import REQUEST_TIMEOUT, Run, Runner
from lpbot.synthetic.scenario import Scenario, walk_steps
from lpbot.synthetic.steps import Repeat

__all__ = ["CONNECT", "FIRST_REPLY", "Measurement", "ScenarioConsumer", "measured_names"]

log = logging.getLogger(__name__)

#: the name suffix of a consumer's connect (discovery, identity, socket, subscriptions)
CONNECT = "connect"
#: the name suffix of the time from a run's first ``say`` to the first agent message after it
FIRST_REPLY = "first reply"
#: step kinds that measure nothing of the service (a pause the scenario asked for)
UNMEASURED = frozenset({"wait"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One timed thing a consumer did: a step, its connect, or a run's first reply.

    ``kind`` is the step kind (``expect_message``...), ``connect`` or ``first_reply``; ``name``
    is ``scenario/step`` (``order-status/steps[1] expect_participant (an agent accepts)``).
    ``error`` is the step's failure message, ``None`` when it succeeded.
    """

    kind: str
    name: str
    seconds: float
    started_at: float
    error: str | None = None


Reporter = Callable[[Measurement], None]


def measured_names(scenario: Scenario) -> list[str]:
    """Every name a consumer of ``scenario`` reports when its runs pass, in step order."""
    names = [f"{scenario.name}/{CONNECT}"]
    steps = walk_steps(scenario.steps, scenario.step_names)
    names += [f"{scenario.name}/{name}" for step, name in steps if step.kind not in UNMEASURED]
    names += [f"{scenario.name}/{name} until {step.until.kind} (round {n})"
              for step, name in steps if isinstance(step, Repeat) and step.until is not None
              for n in range(1, step.times + 1)]
    if any(step.kind in ("say", "click") for step, _ in steps):
        names.append(f"{scenario.name}/{FIRST_REPLY}")
    return names


class ScenarioConsumer:
    """Runs ``scenario`` again and again as one consumer of ``options``' account.

    Args:
        scenario: The checked scenario.
        options: Where the consumer connects; it gets the identity name
            ``synth-<scenario>-<number>`` and the scenario's client properties.
        number: This consumer's number among its process's consumers (names its identity).
        report: Called with each :class:`Measurement`, on the thread or greenlet that runs.
        seed: Seed of the scenario's random choices (each run its own stream).
        connect_timeout: Seconds a connect may take.
        runs_per_consumer: Runs on one identity and socket before a new consumer takes over.

    Not thread-safe: one thread (or greenlet) calls :meth:`run_once` and :meth:`close`.
    """

    def __init__(self, scenario: Scenario, options: ClientOptions, *, number: int,
                 report: Reporter, seed: int | None = None, connect_timeout: float = 30.0,
                 runs_per_consumer: int = 100) -> None:
        if runs_per_consumer < 1:
            raise ValueError("runs_per_consumer must be at least 1")
        self.scenario = scenario
        self.number = number
        self.runs_per_consumer = runs_per_consumer
        self._report = report
        self._runner = Runner(scenario, options, on_step=self._step_done, seed=seed,
                              connect_timeout=connect_timeout)
        self._options = self._runner.options_for(scenario, number)
        self._client: Client | None = None
        self._current: Run | None = None
        #: conversations of earlier runs whose late events are dropped (the last few suffice)
        self._finished: deque[str] = deque(maxlen=8)
        self._runs = 0
        self._runs_on_client = 0

    @property
    def client(self) -> Client | None:
        """The connected client (``None`` before the first successful connect)."""
        return self._client

    @property
    def runs(self) -> int:
        """How many runs were started."""
        return self._runs

    def connect(self) -> bool:
        """Connect the consumer and report how long it took; False (reported) if it failed."""
        client = Client(self._options, on_message=self._on_message,
                        on_conversation=self._on_conversation, http=self._runner.http)
        started_at, start = time.time(), time.monotonic()
        error: str | None = None
        try:
            client.connect(timeout=self._runner.connect_timeout)
        except LpError as exc:  # connect() closed the client again
            error = f"could not connect: {type(exc).__name__}: {exc}"
        self._emit(CONNECT, CONNECT, time.monotonic() - start, started_at, error)
        if error is None:
            self._client = client
            self._runs_on_client = 0
        return error is None

    def run_once(self) -> RunResult | None:
        """One run of the scenario (connecting first if needed); ``None`` if it cannot connect.

        Step failures are results, not exceptions: they were reported as they happened.
        """
        if self._client is not None and self._runs_on_client >= self.runs_per_consumer:
            self._client.close()
            self._client = None
        if self._client is None and not self.connect():
            return None
        client = self._client
        assert client is not None  # noqa: S101 - connect() set it
        self._runs += 1
        self._runs_on_client += 1
        run = Run(self._runner, self._runs)
        self._current = run
        try:
            result = run.execute_on(client)
            self._end_conversation(run)  # while the run's record still hears the close
        finally:
            self._current = None
        if result.first_response is not None:
            self._emit("first_reply", FIRST_REPLY, result.first_response,
                       result.started_at, None)
        return result

    def close(self) -> None:
        """Interrupt a waiting step, close the socket, join the client's threads; idempotent."""
        self._runner.stop()
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._runner.http.close()

    # --- reporting ----------------------------------------------------------------------

    def _step_done(self, number: int, step: StepResult) -> None:
        if step.kind not in UNMEASURED:
            self._emit(step.kind, step.name, step.duration, step.started_at, step.error)

    def _emit(self, kind: str, name: str, seconds: float, started_at: float,
              error: str | None) -> None:
        measurement = Measurement(kind=kind, name=f"{self.scenario.name}/{name}",
                                  seconds=seconds, started_at=started_at, error=error)
        try:
            self._report(measurement)
        except Exception:  # isolation boundary: a reporter bug must not stop the consumer
            log.exception("reporting %s failed", measurement.name)

    # --- the client's callbacks (its reader thread) go to the current run's record -------

    def _on_message(self, event: MessagingEvent) -> None:
        run = self._current
        if run is not None and event.conversation_id not in self._finished:
            run.record.on_message(event)

    def _on_conversation(self, change: ConversationChange) -> None:
        run = self._current
        if run is not None and change.conversation_id not in self._finished:
            run.record.on_conversation(change)

    def _end_conversation(self, run: Run) -> None:
        """Close a conversation the run left open, and wait until the client sees it closed.

        The close's response comes before the notification that the conversation closed;
        until that arrives, the client would hand the next run the same conversation.
        """
        conversation, record = run.conversation, run.record
        if conversation is None:
            return
        with record.cond:
            closed = record.closed
        if not closed and not self._runner.stop_event.is_set():
            try:
                conversation.close(timeout=REQUEST_TIMEOUT)
            except LpError as exc:
                log.info("consumer %d: could not close conversation %s: %s", self.number,
                         conversation.id, exc)
            else:
                if not record.wait_for(lambda: record.closed, REQUEST_TIMEOUT):
                    log.info("consumer %d: conversation %s not reported closed", self.number,
                             conversation.id)
        self._finished.append(conversation.id)
