"""Reports of scenario runs: JUnit XML for CI, JSON with every step's timing, live progress.

JUnit: one ``<testsuite>`` per scenario, one ``<testcase>`` per run; a failed run has a
``<failure>`` naming the step, its message and the transcript's tail, and a run that a signal
interrupted is ``<skipped>`` (it neither passed nor failed). JSON: every run with every
step's start, duration and outcome, the transcript, and a summary. Progress: on a terminal one
line rewritten in place (runs done/failed, p50/p95 first-response time); elsewhere a plain line
per finished run.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from lpbot.synthetic.results import RunResult, percentile

__all__ = ["Progress", "junit_xml", "json_report", "summary", "write_json", "write_junit"]

#: transcript lines shown in a JUnit failure
TAIL_LINES = 12
#: how the progress lines show a run that did not pass
_LABELS = {"failed": "FAILED", "interrupted": "INTERRUPTED"}
#: failed runs whose transcript tail the summary on the terminal shows, and how many lines
TRANSCRIPTS_SHOWN = 3
PROGRESS_TAIL_LINES = 8


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def summary(results: Sequence[RunResult]) -> dict[str, Any]:
    """Counts, first-response percentiles and throughput of ``results`` (seconds)."""
    responses = [r.first_response for r in results if r.first_response is not None]
    start = min((r.started_at for r in results), default=0.0)
    end = max((r.started_at + r.duration for r in results), default=0.0)
    return {
        "runs": len(results),
        "passed": sum(1 for r in results if r.status == "passed"),
        "failed": sum(1 for r in results if r.status == "failed"),
        "interrupted": sum(1 for r in results if r.status == "interrupted"),
        "wall_time": round(max(0.0, end - start), 6),
        "messages": sum(r.messages for r in results),
        "first_response_p50": percentile(responses, 0.50),
        "first_response_p95": percentile(responses, 0.95),
        "first_response_p99": percentile(responses, 0.99),
    }


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------


def junit_xml(results: Sequence[RunResult]) -> str:
    """The JUnit XML document for ``results``: a suite per scenario, a case per run."""
    suites = ET.Element("testsuites", name="lpbot synth", tests=str(len(results)),
                        failures=str(sum(1 for r in results if r.status == "failed")),
                        skipped=str(sum(1 for r in results if r.status == "interrupted")),
                        time=f"{sum(r.duration for r in results):.3f}")
    by_scenario: dict[str, list[RunResult]] = {}
    for result in results:
        by_scenario.setdefault(result.scenario, []).append(result)
    for name, runs in by_scenario.items():
        suite = ET.SubElement(
            suites, "testsuite", name=name, tests=str(len(runs)),
            failures=str(sum(1 for r in runs if r.status == "failed")), errors="0",
            skipped=str(sum(1 for r in runs if r.status == "interrupted")),
            time=f"{sum(r.duration for r in runs):.3f}",
            timestamp=_iso(min(r.started_at for r in runs)))
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="file", value=runs[0].file)
        for result in runs:
            suite.append(_testcase(result))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(result: RunResult) -> ET.Element:
    case = ET.Element("testcase", classname=f"synth.{result.scenario}",
                      name=f"{result.scenario} run {result.run}", time=f"{result.duration:.3f}")
    steps = "\n".join(
        f"{step.name}: {'ok' if step.ok else 'FAILED'} in {step.duration * 1000:.1f} ms"
        for step in result.steps)
    if result.interrupted:
        ET.SubElement(case, "skipped", message=result.failure or "interrupted")
    elif not result.ok:
        failure = ET.SubElement(case, "failure", message=result.failure or "failed",
                                type="ScenarioStepFailed")
        tail = "\n".join(result.transcript_tail(TAIL_LINES)) or "(empty transcript)"
        failure.text = (f"{result.failure}\n\nsteps:\n{steps}\n\n"
                        f"transcript tail (conversation {result.conversation_id}, "
                        f"consumer {result.consumer_id}):\n{tail}\n")
    out = ET.SubElement(case, "system-out")
    out.text = (f"consumer {result.consumer_id} conversation {result.conversation_id}\n"
                f"{steps}\n")
    return case


def write_junit(path: Path | str, results: Sequence[RunResult]) -> None:
    """Write :func:`junit_xml` to ``path``."""
    Path(path).write_text(junit_xml(results), encoding="utf-8")


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def json_report(results: Sequence[RunResult]) -> dict[str, Any]:
    """Every run with every step's timing (seconds; ``*_at`` are epoch seconds) and a summary."""
    return {
        "summary": summary(results),
        "runs": [_run_json(result) for result in results],
    }


def _run_json(result: RunResult) -> dict[str, Any]:
    return {
        "scenario": result.scenario,
        "file": result.file,
        "run": result.run,
        "ok": result.ok,
        "status": result.status,
        "failure": result.failure,
        "consumer_id": result.consumer_id,
        "conversation_id": result.conversation_id,
        "started_at": result.started_at,
        "duration": result.duration,
        "first_response": result.first_response,
        "steps": [{
            "index": step.index, "kind": step.kind, "name": step.name, "ok": step.ok,
            "started_at": step.started_at, "ended_at": step.ended_at,
            "duration": step.duration, "error": step.error,
        } for step in result.steps],
        "transcript": [{"at": line.at, "who": line.who, "text": line.text,
                        "sequence": line.sequence} for line in result.transcript],
    }


def write_json(path: Path | str, results: Sequence[RunResult]) -> None:
    """Write :func:`json_report` to ``path``."""
    Path(path).write_text(json.dumps(json_report(results), indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------
# Progress on the terminal
# ---------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


class Progress:
    """Shows runs as they finish: one live line on a terminal, plain lines otherwise.

    Safe to call from the runner's worker threads. ``tty=None`` asks ``stream.isatty()``.
    """

    def __init__(self, stream: TextIO, *, total: int, tty: bool | None = None) -> None:
        self._stream = stream
        self._total = total
        self._tty = stream.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._done = 0
        self._failed = 0
        self._interrupted = 0
        self._responses: list[float] = []

    def line(self) -> str:
        """The live line: runs done/failed and p50/p95 first-response time so far."""
        interrupted = f", {self._interrupted} interrupted" if self._interrupted else ""
        return (f"runs {self._done}/{self._total} done, {self._failed} failed{interrupted}; "
                "first response "
                f"p50 {_ms(percentile(self._responses, 0.5))} "
                f"p95 {_ms(percentile(self._responses, 0.95))}")

    def __call__(self, result: RunResult) -> None:
        """Record a finished run and show it."""
        with self._lock:
            self._done += 1
            self._failed += result.status == "failed"
            self._interrupted += result.status == "interrupted"
            if result.first_response is not None:
                self._responses.append(result.first_response)
            if self._tty:
                self._stream.write("\r\x1b[2K" + self.line())
            else:
                outcome = "ok" if result.ok else f"{_LABELS[result.status]} {result.failure}"
                self._stream.write(
                    f"{result.scenario} run {result.run} ({self._done}/{self._total}): "
                    f"{outcome}; {result.duration:.3f} s, first response "
                    f"{_ms(result.first_response)}\n")
            self._stream.flush()

    def finish(self, results: Iterable[RunResult] = ()) -> None:
        """End the live line and print the summary and each failure once."""
        with self._lock:
            if self._tty:
                self._stream.write("\n")
            shown = 0
            for result in results:
                if not result.ok:
                    self._stream.write(f"{_LABELS[result.status]} {result.scenario} run "
                                       f"{result.run}: {result.failure}\n")
                    if shown < TRANSCRIPTS_SHOWN:  # the first few failures with their story
                        shown += 1
                        for line in result.transcript_tail(PROGRESS_TAIL_LINES):
                            self._stream.write(f"    {line}\n")
            self._stream.write(self.line() + "\n")
            self._stream.flush()
