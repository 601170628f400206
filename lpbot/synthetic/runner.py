"""Runs a scenario many times at once: one consumer identity and connection per run, on threads.

Threads (house style §3.9): ``concurrency`` workers named ``lpbot-synth-<n>``, started and
joined by :meth:`Runner.run`. Each worker waits its ramp-up offset (``ramp_up * n /
concurrency``, on the stop event), then takes run numbers until ``count`` runs were started.
A run creates its own :class:`~lpbot.client.Client` (a fresh unauthenticated consumer, or one
brand token per run in the authenticated flow), so runs never share a conversation; each
client adds its reader thread while its run lasts (keepalives share one thread per process).

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

from lpbot.client import Client, ClientOptions, Conversation
from lpbot.client.tls import PooledSession, TlsAdapter
from lpbot.errors import LpError
from lpbot.synthetic.content import Button, Received
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
from lpbot.synthetic.steps import (
    AnswerSurvey,
    Branch,
    Capture,
    Click,
    Expectation,
    ExpectFile,
    ExpectQuickReplies,
    ExpectRichContent,
    Repeat,
    SendFile,
)

__all__ = ["Run", "Runner", "StepFailed", "run_scenario"]

log = logging.getLogger(__name__)

#: timeout of requests (send, close, rate ...) issued by steps without a timeout of their own
REQUEST_TIMEOUT = 10.0
#: agent messages a failure message lists (the last ones that arrived)
SHOWN_MESSAGES = 3


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
        self.read: set[tuple[str, int]] = set()
        #: the last message an expect step matched (what a click presses by default)
        self.matched: Received | None = None
        self._executed = 0
        self._thinned = 0  # agent messages before this index were thinned
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
        outcome = self._block(client, self.scenario.steps, self.scenario.step_names, steps)
        return outcome if isinstance(outcome, str) else None

    def _block(self, client: Client, block: tuple[Step, ...], names: tuple[str, ...],
               steps: list[StepResult]) -> bool | str:
        """Run ``block``: True if every step passed, False after a failed one, else why not.

        Branches and repeats run their steps here too, each reported as a step.
        """
        for index, step in enumerate(block):
            chosen: list[tuple[tuple[Step, ...], tuple[str, ...]]] = []
            result = self._step(client, names[index], step, chosen)
            self._report(steps, result)
            if not result.ok:
                return False
            if isinstance(step, Branch) and chosen:
                outcome = self._block(client, *chosen[0], steps)
                if outcome is not True:
                    return outcome
            elif isinstance(step, Repeat):
                outcome = self._repeat(client, step, names[index], steps)
                if outcome is not True:
                    return outcome
            if self.runner.stop_event.is_set() and index + 1 < len(block):
                return f"interrupted: the runner was stopped before {names[index + 1]}"
        return True

    def _repeat(self, client: Client, step: Repeat, name: str,
                steps: list[StepResult]) -> bool | str:
        """The rounds of a repeat; with ``until`` the check after each round is a step."""
        for round_number in range(1, step.times + 1):
            outcome = self._block(client, step.steps, step.names, steps)
            if outcome is not True:
                return outcome
            until = step.until
            if until is None:
                continue
            started_at, start = time.time(), time.monotonic()
            error = None
            done = False
            try:
                done = self._until(until, round_number == step.times)
            except StepFailed as exc:
                error = str(exc)
            if error is None and not done and round_number == step.times:
                error = (f"{until.kind} not met after {step.times} rounds: "
                         f"{self._arrived()}")
            result = StepResult(index=self._next_index(), kind="until",
                                name=f"{name} until {until.kind} (round {round_number})",
                                started_at=started_at, duration=time.monotonic() - start,
                                ok=error is None, error=error)
            self._report(steps, result)
            if error is not None:
                return False
            if done:
                return True
        return True

    def _thin(self) -> None:
        """Drop the buttons and structure of consumed messages that no click can press.

        A click presses the message the last expect step matched or the newest one before the
        cursor that offered buttons; older consumed ones keep only what the run's result and
        read receipts need, so a long run's memory grows by little per message.
        """
        record = self.record
        with record.cond:
            messages = record.agent_messages
            last = min(self.cursor, len(messages))
            keep = next((i for i in range(last - 1, self._thinned - 1, -1)
                         if messages[i].clickable), None)
            for position in range(self._thinned, last):
                message = messages[position]
                if position != keep and (message.clickable or message.types):
                    messages[position] = message.thin()
            self._thinned = keep if keep is not None else last

    def _report(self, steps: list[StepResult], result: StepResult) -> None:
        """Keep a finished step's result and hand it to the runner's ``on_step``."""
        steps.append(result)
        if self.runner.on_step is not None:
            try:
                self.runner.on_step(self.number, result)
            except Exception:  # isolation boundary: a reporter bug must not stop runs
                log.exception("the step callback failed")

    def _next_index(self) -> int:
        index = self._executed
        self._executed += 1
        return index

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

    def _step(self, client: Client, name: str, step: Step,
              chosen: list[tuple[tuple[Step, ...], tuple[str, ...]]]) -> StepResult:
        index = self._next_index()
        self._thin()
        started_at, start = time.time(), time.monotonic()
        self.step_started_at = started_at
        error: str | None = None
        try:
            if isinstance(step, Branch):
                chosen.append(self._branch(step))
            else:
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
        return StepResult(index=index, kind=step.kind, name=name,
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
            text = self._fill(self.rng.choice(step.choices))
            sequence = self._need().send_text(text, timeout=REQUEST_TIMEOUT)
            with record.cond:
                if record.first_said is None:  # first response counts from this step's start
                    record.first_said = (sequence, self.step_started_at)
        elif isinstance(step, ExpectMessage | ExpectQuickReplies | ExpectRichContent | ExpectFile):
            self._need()
            bound = self._bind(step)
            message = self._expect(bound)
            if isinstance(bound, ExpectFile) and bound.download and message.file is not None:
                data = self._need().fetch_file(message.file.relative_path,
                                               timeout=REQUEST_TIMEOUT)
                if not data:
                    raise StepFailed(f"the file {message.file.relative_path} is empty")
                record.note(f"downloaded {message.file.file_type} file "
                            f"{message.file.caption!r} ({len(data)} bytes)")
        elif isinstance(step, Click | Capture | SendFile | AnswerSurvey):
            self._interact(step)
        elif isinstance(step, ExpectParticipant):
            self._need()
            if not record.wait_for(lambda: step.role in record.roles, step.timeout):
                raise StepFailed(f"no participant with role {step.role} within "
                                 f"{step.timeout:g} s (roles seen: "
                                 f"{', '.join(sorted(record.roles)) or 'none'})")
        elif isinstance(step, Wait):
            record.stop.wait(step.seconds)
        elif isinstance(step, ReadReceipt):
            conversation = self._need()
            dialog = conversation.dialog_id
            with record.cond:
                unread = [m.sequence for m in record.agent_messages
                          if m.dialog_id == dialog and (dialog, m.sequence) not in self.read]
            if unread:
                conversation.mark_read(unread, timeout=REQUEST_TIMEOUT)
                self.read.update((dialog, sequence) for sequence in unread)
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

    # --- expectations -------------------------------------------------------------------

    def _fill(self, text: str) -> str:
        try:
            return text.format_map(self.values)
        except KeyError as exc:
            raise StepFailed(f"variable {{{exc.args[0]}}} has no value in this run (a capture "
                             f"step on another branch sets it)") from None

    def _bind(self, step: Expectation) -> Expectation:
        try:
            return step.bind(self.values)
        except KeyError as exc:
            raise StepFailed(f"variable {{{exc.args[0]}}} has no value in this run") from None

    def _arrived(self, start: int | None = None) -> str:
        """The agent messages from ``start`` (the cursor) on, for failure messages."""
        with self.record.cond:
            seen = [m.describe() for m in self.record.agent_messages[
                self.cursor if start is None else start:]]
        shown = "; ".join(repr(text) for text in seen[-SHOWN_MESSAGES:])
        more = f" (and {len(seen) - SHOWN_MESSAGES} before)" if len(seen) > SHOWN_MESSAGES \
            else ""
        return f"agent messages received meanwhile: {shown or 'none'}{more}"

    def _expect(self, step: Expectation | Capture) -> Received:
        """Wait for the first agent message from the cursor on that ``step`` accepts."""
        if isinstance(step, ExpectClosed):
            raise StepFailed("expect_closed waits for no message")
        record = self.record
        found: list[int] = []

        def matched() -> bool:
            messages = record.agent_messages
            for position in range(self.cursor, len(messages)):
                if step.accepts(messages[position]):
                    found.append(position)
                    return True
            return False

        if not record.wait_for(matched, step.timeout):
            arrived = self._arrived()
            with record.cond:
                self.cursor = len(record.agent_messages)
            raise StepFailed(f"no {step.describe()} within {step.timeout:g} s ({arrived})")
        with record.cond:
            message = record.agent_messages[found[-1]]
        self.cursor = found[-1] + 1
        self.matched = message
        return message

    def _branch(self, step: Branch) -> tuple[tuple[Step, ...], tuple[str, ...]]:
        """Wait for the first case whose expectation is met; the steps it leads to."""
        record = self.record
        cases = [(case, self._bind(case.expect)) for case in step.cases]
        picked: list[tuple[int, int | None]] = []  # (case, message position)

        def matched() -> bool:
            messages = record.agent_messages
            for position in range(self.cursor, len(messages)):
                for number, (_, expect) in enumerate(cases):
                    if expect.accepts(messages[position]):
                        picked.append((number, position))
                        return True
            for number, (_, expect) in enumerate(cases):
                if isinstance(expect, ExpectClosed) and record.closed:
                    picked.append((number, None))
                    return True
            return False

        if not record.wait_for(matched, step.timeout):
            wanted = " or ".join(expect.describe() for _, expect in cases)
            arrived = self._arrived()
            with record.cond:
                self.cursor = len(record.agent_messages)
            raise StepFailed(f"none of the branches within {step.timeout:g} s: expected "
                             f"{wanted} ({arrived})")
        number, position = picked[-1]
        if position is not None:
            with record.cond:
                self.matched = record.agent_messages[position]
            self.cursor = position + 1
        case = cases[number][0]
        record.note(f"branch {number} taken ({case.expect.kind})")
        return case.steps, case.names

    def _until(self, until: Expectation, last: bool) -> bool:
        """After a round: does the next agent message (or the close) meet ``until``?"""
        record = self.record
        if isinstance(until, ExpectClosed):
            return record.wait_for(lambda: record.closed, until.timeout if last else 0.0)
        bound = self._bind(until)
        if not record.wait_for(lambda: len(record.agent_messages) > self.cursor,
                               bound.timeout):
            raise StepFailed(f"no agent message within {bound.timeout:g} s to tell whether "
                             f"{bound.describe()} came")
        with record.cond:
            message = record.agent_messages[self.cursor]
        if not bound.accepts(message):
            return False
        self.cursor += 1
        self.matched = message
        return True

    # --- structured content, files, surveys ---------------------------------------------

    def _interact(self, step: Click | Capture | SendFile | AnswerSurvey) -> None:
        record = self.record
        conversation = self._need()
        if isinstance(step, Click):
            message, button = self._button(step)
            sequence = conversation.click(message.sequence, button.text, button.metadata,
                                          dialog_id=message.dialog_id, timeout=REQUEST_TIMEOUT)
            with record.cond:
                if record.first_said is None and message.dialog_id == conversation.id:
                    record.first_said = (sequence, self.step_started_at)
            record.note(f"clicked {button.title!r}" + (
                f" (sent {button.text!r})" if button.text is not None
                else f" (opens {button.url})"))
        elif isinstance(step, Capture):
            message = self._expect(step)
            match = step.pattern.search(message.text)
            assert match is not None  # noqa: S101 - _expect matched it
            values = {name: value for name, value in match.groupdict().items()
                      if value is not None}
            self.values.update(values)
            record.note("captured " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
        elif isinstance(step, SendFile):
            if step.path is not None:
                with open(step.path, "rb") as source:
                    data = source.read()
            else:
                data = (b"lpbot synthetic file\n" * (step.size // 21 + 1))[:step.size]
            conversation.send_file(data, file_type=step.file_type,
                                   caption=self._fill(step.caption), timeout=REQUEST_TIMEOUT)
        else:
            self._answer_survey(conversation, step)

    def _button(self, step: Click) -> tuple[Received, Button]:
        """The message and button a click presses.

        The buttons of the message the last expect step matched, else of the newest agent
        message that offered some.
        """
        message = self.matched
        if message is None or not message.clickable:
            with self.record.cond:
                offering = [m for m in self.record.agent_messages[:self.cursor] if m.clickable]
            message = offering[-1] if offering else None
        if message is None:
            raise StepFailed(f"cannot click {step.describe()}: no agent message offered "
                             f"buttons or quick replies ({self._arrived(0)})")
        buttons = message.clickable
        offered = ", ".join(repr(b.title) for b in buttons)
        if step.position is not None:
            if step.position > len(buttons):
                raise StepFailed(f"cannot click {step.describe()}: {message.describe()!r} "
                                 f"offers {len(buttons)} ({offered})")
            return message, buttons[step.position - 1]
        title = self._fill(step.text or "")
        for button in buttons:
            if button.title == title:
                return message, button
        raise StepFailed(f"cannot click {title!r}: {message.describe()!r} offers {offered}")

    def _answer_survey(self, conversation: Conversation, step: AnswerSurvey) -> None:
        main = conversation.id
        survey = ExpectQuickReplies(timeout=step.timeout)
        for number, answer in enumerate(step.answers, start=1):
            found: list[Received] = []

            def asked(found: list[Received] = found) -> bool:
                for position in range(self.cursor, len(self.record.agent_messages)):
                    message = self.record.agent_messages[position]
                    if message.dialog_id != main and survey.accepts(message):
                        found.append(message)
                        self.cursor = position + 1
                        return True
                return False

            if not self.record.wait_for(asked, step.timeout):
                raise StepFailed(f"no survey question {number} (quick replies in a survey "
                                 f"dialog) within {step.timeout:g} s ({self._arrived()})")
            self.matched = found[-1]
            click = Click(position=answer) if isinstance(answer, int) else Click(text=answer)
            message, button = self._button(click)
            conversation.click(message.sequence, button.text, button.metadata,
                               dialog_id=message.dialog_id, timeout=REQUEST_TIMEOUT)
            self.record.note(f"answered survey question {number!r} with {button.title!r}")

    def _first_response(self) -> float | None:
        with self.record.cond:
            if self.record.first_said is None:
                return None
            sequence, said_at = self.record.first_said
            for message in self.record.agent_messages:
                if message.sequence > sequence:
                    return max(0.0, message.at - said_at)
        return None


def _waits(step: Step) -> bool:
    return isinstance(step, ExpectMessage | ExpectParticipant | ExpectClosed | Wait
                      | ExpectQuickReplies | ExpectRichContent | ExpectFile | Capture | Branch
                      | AnswerSurvey | Repeat)


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
        # One session and pool for every run (cookies do not matter to the synthetic consumers);
        # its adapter verifies with the process's shared TLS context for the CA file.
        self.http = PooledSession()
        adapter = TlsAdapter(options.ca_file if options.tls else None,
                             pool_maxsize=min(self.concurrency, 64))
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)

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
