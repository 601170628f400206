"""Reports from hand-built results: JUnit XML and JSON parse back, progress on and off a TTY."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from lpbot.synthetic.reports import Progress, json_report, summary, write_json, write_junit
from lpbot.synthetic.results import RunResult, StepResult, TranscriptLine, percentile

T0 = 1_800_000_000.0


def step(index: int, kind: str, *, ok: bool = True, error: str | None = None) -> StepResult:
    return StepResult(index=index, kind=kind, name=f"steps[{index}] {kind}",
                      started_at=T0 + index, duration=0.5, ok=ok, error=error)


def passed(run: int, first_response: float) -> RunResult:
    return RunResult(
        scenario="shop", file="shop.toml", run=run, started_at=T0, duration=3.0,
        steps=(step(0, "open_conversation"), step(1, "say"), step(2, "expect_message")),
        transcript=(TranscriptLine(at=T0 + 1.1, who="consumer", text="hi", sequence=0),
                    TranscriptLine(at=T0 + 2.2, who="agent", text="hi", sequence=1)),
        consumer_id=f"c{run}", conversation_id=f"conv{run}", first_response=first_response)


def failed(run: int) -> RunResult:
    lines = tuple(TranscriptLine(at=T0 + i / 10, who="consumer", text=f"line {i}", sequence=i)
                  for i in range(20))
    return RunResult(
        scenario="shop", file="shop.toml", run=run, started_at=T0, duration=4.0,
        steps=(step(0, "open_conversation"),
               step(1, "expect_message", ok=False,
                    error="no agent message within 2 s (agent messages received meanwhile: "
                          "none)")),
        transcript=lines, consumer_id="cx", conversation_id="convx")


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0


def test_junit_has_a_case_per_run_and_the_failure_names_the_step(tmp_path: Path) -> None:
    results = [passed(1, 0.2), failed(2), passed(3, 0.4)]
    write_junit(tmp_path / "junit.xml", results)
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own report
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("3", "1")
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "shop"
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["shop run 1", "shop run 2", "shop run 3"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == ("steps[1] expect_message: no agent message within 2 s "
                                      "(agent messages received meanwhile: none)")
    text = failure.text or ""
    assert "steps[1] expect_message: FAILED in 500.0 ms" in text
    assert "+1.900s consumer: line 19" in text      # the tail ...
    assert "line 7\n" not in text                   # ... and only the tail
    assert "conversation convx, consumer cx" in text


def test_json_report_has_every_step_and_a_summary(tmp_path: Path) -> None:
    results = [passed(1, 0.2), failed(2)]
    write_json(tmp_path / "report.json", results)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report == json.loads(json.dumps(json_report(results)))
    assert report["summary"]["runs"] == 2
    assert report["summary"]["failed"] == 1
    assert report["summary"]["first_response_p50"] == 0.2
    assert report["summary"]["messages"] == 22
    first, second = report["runs"]
    assert first["ok"] is True
    assert second["ok"] is False
    assert second["failure"].startswith("steps[1] expect_message: ")
    assert [s["kind"] for s in first["steps"]] == ["open_conversation", "say", "expect_message"]
    assert first["steps"][1] == {
        "index": 1, "kind": "say", "name": "steps[1] say", "ok": True,
        "started_at": T0 + 1, "ended_at": T0 + 1.5, "duration": 0.5, "error": None}
    assert first["transcript"][1] == {"at": T0 + 2.2, "who": "agent", "text": "hi",
                                      "sequence": 1}


def test_summary_of_nothing() -> None:
    assert summary([])["runs"] == 0
    assert summary([])["first_response_p95"] is None


def test_progress_rewrites_one_line_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, total=3, tty=True)
    progress(passed(1, 0.1))
    progress(failed(2))
    progress(passed(3, 0.3))
    progress.finish([passed(1, 0.1), failed(2), passed(3, 0.3)])
    out = stream.getvalue()
    assert out.count("\r\x1b[2K") == 3
    assert "runs 2/3 done, 1 failed; first response p50 100 ms p95 100 ms" in out
    assert out.endswith("runs 3/3 done, 1 failed; first response p50 100 ms p95 300 ms\n")
    assert "FAILED shop run 2: steps[1] expect_message" in out


def test_progress_prints_plain_lines_elsewhere() -> None:
    stream = io.StringIO()
    progress = Progress(stream, total=2)
    progress(passed(1, 0.25))
    progress(failed(2))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert lines[0] == "shop run 1 (1/2): ok; 3.000 s, first response 250 ms"
    assert lines[1].startswith("shop run 2 (2/2): FAILED steps[1] expect_message: ")


def interrupted(run: int) -> RunResult:
    return RunResult(
        scenario="shop", file="shop.toml", run=run, started_at=T0, duration=1.0,
        steps=(step(0, "open_conversation"),
               step(1, "expect_message", ok=False, error="interrupted: the runner was stopped")),
        consumer_id="ci", conversation_id="convi")


def test_an_interrupted_run_is_reported_as_interrupted_not_failed(tmp_path: Path) -> None:
    results = [passed(1, 0.2), failed(2), interrupted(3)]
    assert [r.status for r in results] == ["passed", "failed", "interrupted"]
    write_junit(tmp_path / "junit.xml", results)
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own report
    assert (root.get("failures"), root.get("skipped")) == ("1", "1")
    [suite] = root.findall("testsuite")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    case = suite.findall("testcase")[2]
    assert case.find("failure") is None
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "steps[1] expect_message: interrupted: the runner was stopped"
    report = json_report(results)
    assert [run["status"] for run in report["runs"]] == ["passed", "failed", "interrupted"]
    assert (report["summary"]["failed"], report["summary"]["interrupted"]) == (1, 1)
    out = io.StringIO()
    progress = Progress(out, total=3, tty=False)
    for result in results:
        progress(result)
    progress.finish(results)
    text = out.getvalue()
    assert "shop run 3 (3/3): INTERRUPTED steps[1] expect_message: interrupted" in text
    assert "runs 3/3 done, 1 failed, 1 interrupted;" in text


def test_a_step_that_failed_before_the_stop_keeps_the_run_failed() -> None:
    run = RunResult(
        scenario="shop", file="shop.toml", run=1, started_at=T0, duration=1.0,
        steps=(step(0, "say", ok=False, error="ConnectionClosed: gone"),),
        error="interrupted: the runner was stopped before steps[1] say")
    assert run.status == "failed"
