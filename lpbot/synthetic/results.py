"""What a scenario run produced: frozen results of each step and of each run, and percentiles.

Times are wall-clock seconds since the epoch (``time.time()``) for points, so that step timings
line up with the transcript's; durations are measured with ``time.monotonic()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["INTERRUPTED", "RunResult", "StepResult", "TranscriptLine", "percentile"]

#: how the runner begins the error of a step, or of a run, that its stop cut short
INTERRUPTED: Final = "interrupted:"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """One step of one run: when it started, how long it took, and why it failed if it did."""

    index: int
    kind: str
    name: str
    started_at: float
    duration: float
    ok: bool
    error: str | None = None

    @property
    def ended_at(self) -> float:
        """Wall-clock end of the step."""
        return self.started_at + self.duration


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptLine:
    """One thing that happened in a run's conversation, as the consumer saw it.

    ``who`` is ``consumer``, ``agent`` (or another role in lower case) or ``system``;
    ``sequence`` is the server's sequence for published events.
    """

    at: float
    who: str
    text: str
    sequence: int | None = None

    def render(self, start: float) -> str:
        """``+1.234s agent: text`` relative to the run's start."""
        return f"+{self.at - start:.3f}s {self.who}: {self.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """One run of a scenario by one consumer: its steps, its transcript, and the outcome.

    ``first_response`` is the seconds from the consumer's first message to the first agent
    message after it (``None`` when the run never got that far).
    """

    scenario: str
    file: str
    run: int
    started_at: float
    duration: float
    steps: tuple[StepResult, ...]
    transcript: tuple[TranscriptLine, ...] = ()
    consumer_id: str | None = None
    conversation_id: str | None = None
    first_response: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every step passed and nothing outside the steps failed."""
        return self.error is None and all(step.ok for step in self.steps)

    @property
    def interrupted(self) -> bool:
        """True when the run did not pass because the runner was stopped, not because it failed.

        A step that failed before the stop makes the run failed, not interrupted.
        """
        step = self.failed_step
        error = step.error if step is not None else self.error
        return error is not None and error.startswith(INTERRUPTED)

    @property
    def status(self) -> Literal["passed", "failed", "interrupted"]:
        """``passed``, ``failed``, or ``interrupted`` (stopped by a signal before it ended)."""
        if self.ok:
            return "passed"
        return "interrupted" if self.interrupted else "failed"

    @property
    def failed_step(self) -> StepResult | None:
        """The step that failed, if one did."""
        return next((step for step in self.steps if not step.ok), None)

    @property
    def failure(self) -> str | None:
        """``steps[3] expect_message: ...`` or the run's own error; ``None`` when it passed."""
        step = self.failed_step
        if step is not None:
            return f"{step.name}: {step.error}"
        return self.error

    @property
    def messages(self) -> int:
        """Text messages exchanged (both sides), for throughput figures."""
        return sum(1 for line in self.transcript
                   if line.who != "system" and line.sequence is not None)

    def transcript_tail(self, lines: int = 10) -> list[str]:
        """The last ``lines`` transcript lines, rendered relative to the run's start."""
        return [line.render(self.started_at) for line in self.transcript[-lines:]]


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0..1) of ``values``; ``None`` when empty."""
    ordered: Sequence[float] = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
