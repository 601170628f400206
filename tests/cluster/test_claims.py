"""The scheduler asks its claim before each run: refused runs do not happen, failed claims are
reported missed (a run that cannot be recorded is not run: at most once)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.date import DateTrigger

from lpbot.errors import LeaseLost, StateError
from lpbot.runtime.scheduler import JobInfo, JobRun, Scheduler
from lpbot.testing import wait_until


class Outcomes:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, hook_name: str, value: JobInfo | JobRun) -> None:
        with self.lock:
            self.events.append((hook_name, value.job_id))

    def of(self, hook_name: str) -> list[str]:
        with self.lock:
            return sorted(job for name, job in self.events if name == hook_name)


@pytest.mark.parametrize(("answer", "expected"), [
    (True, ("lpbot_job_ran", True)),
    (False, (None, False)),  # another daemon ran it
    (LeaseLost("scheduler"), (None, False)),  # the new owner runs it
    (StateError("database down"), ("lpbot_job_missed", False)),
])
def test_each_run_is_claimed_first(tmp_path: Path, answer: bool | Exception,
                                   expected: tuple[str | None, bool]) -> None:
    asked: list[tuple[str, datetime]] = []
    answered = threading.Event()

    def claim(job_id: str, scheduled: datetime) -> bool:
        asked.append((job_id, scheduled))
        answered.set()
        if isinstance(answer, Exception):
            raise answer
        return answer

    outcomes = Outcomes()
    marker = tmp_path / "ran.txt"
    scheduler = Scheduler(url=f"sqlite:///{tmp_path / 'jobs.sqlite'}", listener=outcomes,
                          claim=claim)
    scheduler.start()
    try:
        due = datetime.now(UTC) + timedelta(seconds=0.2)
        scheduler.add_job("lpbot_fixture_jobs:record", DateTrigger(run_date=due),
                          id="once", kwargs={"path": str(marker), "value": "ran"})
        assert answered.wait(10)
        hook, ran = expected
        if hook is not None:
            wait_until(lambda: outcomes.of(hook) == ["once"], 10, hook)
        wait_until(lambda: scheduler.running_jobs == 0 and scheduler.get_job("once") is None, 10,
                   "the run to be accounted for and the one-off job removed")
    finally:
        assert scheduler.shutdown(5)
    assert [job for job, _ in asked] == ["once"]
    assert marker.exists() is ran
    assert outcomes.of("lpbot_job_ran") == (["once"] if ran else [])
