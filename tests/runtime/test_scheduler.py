"""The scheduler: a persistent store, explicit defaults, and every outcome reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from lpbot.runtime.counters import JOBS, Counters
from lpbot.runtime.scheduler import JobInfo, JobRun, Scheduler

from .conftest import wait_for


class Outcomes:
    def __init__(self) -> None:
        self.events: list[tuple[str, JobInfo | JobRun]] = []
        self.lock = threading.Lock()

    def __call__(self, hook_name: str, value: JobInfo | JobRun) -> None:
        with self.lock:
            self.events.append((hook_name, value))

    def of(self, hook_name: str) -> list[JobInfo | JobRun]:
        with self.lock:
            return [value for name, value in self.events if name == hook_name]


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def outcomes() -> Outcomes:
    return Outcomes()


@pytest.fixture
def scheduler(store: str, outcomes: Outcomes) -> Iterator[Scheduler]:
    running = Scheduler(url=store, listener=outcomes, misfire_grace_time=30)
    running.start()
    yield running
    assert running.shutdown(5)


def soon(seconds: float) -> DateTrigger:
    return DateTrigger(run_date=datetime.now(UTC) + timedelta(seconds=seconds), timezone="UTC")


def test_a_job_added_before_a_restart_runs_after_it(
    store: str, outcomes: Outcomes, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    first = Scheduler(url=store, listener=outcomes)
    first.start(paused=True)  # nothing runs before the "restart"
    first.add_job("lpbot_fixture_jobs:record", soon(0.2), id="later",
                  kwargs={"path": str(marker), "value": "after restart"})
    assert first.shutdown(5)
    assert not marker.exists()

    second = Scheduler(url=store, listener=outcomes)
    second.start(paused=True)  # paused: the job, due by now, must not run (and go) before this
    try:
        assert second.get_job("later") is not None
        second.resume()
        wait_for(marker.exists, what="the stored job to run after the restart")
        wait_for(lambda: outcomes.of("lpbot_job_ran"), what="lpbot_job_ran")
    finally:
        assert second.shutdown(5)
    assert marker.read_text() == "after restart\n"
    run = outcomes.of("lpbot_job_ran")[0]
    assert isinstance(run, JobRun)
    assert (run.job_id, run.func_ref) == ("later", "lpbot_fixture_jobs:record")


def test_a_missed_run_is_reported_and_logged(
    scheduler: Scheduler, outcomes: Outcomes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    due = datetime.now(UTC) - timedelta(minutes=5)
    scheduler.add_job("lpbot_fixture_jobs:record", DateTrigger(run_date=due, timezone="UTC"),
                      id="late", kwargs={"path": str(tmp_path / "never"), "value": "x"},
                      misfire_grace_time=1)
    wait_for(lambda: outcomes.of("lpbot_job_missed"), what="lpbot_job_missed")
    run = outcomes.of("lpbot_job_missed")[0]
    assert isinstance(run, JobRun)
    assert run.job_id == "late"
    assert run.scheduled_run_time is not None
    assert abs((run.scheduled_run_time - due).total_seconds()) < 1
    assert not (tmp_path / "never").exists()
    assert any("job late missed its run" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_a_failed_run_is_reported_with_its_exception(
    scheduler: Scheduler, outcomes: Outcomes, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler.add_job("lpbot_fixture_jobs:fail", soon(0), id="broken",
                      kwargs={"message": "out of coffee"})
    wait_for(lambda: outcomes.of("lpbot_job_failed"), what="lpbot_job_failed")
    run = outcomes.of("lpbot_job_failed")[0]
    assert isinstance(run, JobRun)
    assert isinstance(run.exception, RuntimeError)
    assert "out of coffee" in (run.traceback or "") or "out of coffee" in str(run.exception)
    assert any("job broken failed" in r.getMessage() for r in caplog.records)


def test_jobs_must_be_references_with_plain_data(scheduler: Scheduler) -> None:
    with pytest.raises(TypeError, match="textual reference"):
        scheduler.add_job(print, soon(60), id="callable")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"kwargs\['handle'\]: job arguments must be plain data"):
        scheduler.add_job("lpbot_fixture_jobs:record", soon(60), id="handle",
                          kwargs={"handle": threading.Event()})
    assert scheduler.get_job("callable") is None


def test_added_jobs_are_reported_and_defaults_are_explicit(
    scheduler: Scheduler, outcomes: Outcomes
) -> None:
    info = scheduler.add_job("lpbot_fixture_jobs:record", IntervalTrigger(hours=1), id="hourly",
                             kwargs={"path": "/dev/null", "value": "x"})
    assert info.trigger.startswith("interval[1:00:00]")
    wait_for(lambda: outcomes.of("lpbot_job_added"), what="lpbot_job_added")
    job = scheduler.scheduler.get_job("hourly")
    assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (30, True, 1)


def test_ensure_job_keeps_an_unchanged_job_and_replaces_a_changed_one(
    scheduler: Scheduler,
) -> None:
    kwargs = {"path": "/dev/null", "value": "x"}
    hourly = IntervalTrigger(hours=1, timezone="UTC")
    first = scheduler.ensure_job("lpbot_fixture_jobs:record", hourly, id="config-job",
                                 kwargs=kwargs)
    again = scheduler.ensure_job("lpbot_fixture_jobs:record",
                                 IntervalTrigger(hours=1, timezone="UTC"),
                                 id="config-job", kwargs=kwargs)
    assert again.next_run_time == first.next_run_time
    changed = scheduler.ensure_job("lpbot_fixture_jobs:record",
                                   IntervalTrigger(hours=2, timezone="UTC"),
                                   id="config-job", kwargs=kwargs)
    assert changed.trigger.startswith("interval[2:00:00]")


def test_threads_are_named_and_shutdown_is_idempotent(store: str) -> None:
    counters = Counters()
    running = Scheduler(url=store, counters=counters)
    running.start()
    running.add_job("lpbot_fixture_jobs:record", soon(0), id="now",
                    kwargs={"path": "/dev/null", "value": "x"})
    wait_for(lambda: counters.value(JOBS, "ran") == 1, what="the job to run")
    names = {t.name for t in threading.enumerate()}
    assert "lpbot-scheduler" in names
    assert any(name.startswith("lpbot-job") for name in names)
    assert running.shutdown(5)
    assert running.shutdown(5)
    assert not running.running
    assert not [t for t in threading.enumerate()
                if t.name.startswith(("lpbot-scheduler", "lpbot-job"))]


def test_a_skipped_run_is_logged_once(
    store: str, outcomes: Outcomes, caplog: pytest.LogCaptureFixture
) -> None:
    import lpbot_fixture_jobs

    gate = lpbot_fixture_jobs.GATES.setdefault("skipped-once", threading.Event())
    running = Scheduler(url=store, listener=outcomes, max_instances=1)
    running.start()
    try:
        running.add_job("lpbot_fixture_jobs:hold", IntervalTrigger(seconds=0.05),
                        id="overlapping", kwargs={"name": "skipped-once"})
        wait_for(lambda: outcomes.of("lpbot_job_missed"), what="a run skipped (max instances)")
    finally:
        gate.set()
        assert running.shutdown(5)
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped, "the skipped run was not logged"
    assert {r.name for r in skipped} == {Scheduler.__module__}, [
        (r.name, r.getMessage()) for r in skipped]  # not APScheduler's own line as well
    assert len(skipped) == len(outcomes.of("lpbot_job_missed"))
