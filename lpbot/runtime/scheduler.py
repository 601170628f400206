"""Scheduled jobs: APScheduler 3.x ``BackgroundScheduler`` on a persistent SQLAlchemy job store.

Jobs survive restarts (SQLite in the state directory by default, or any SQLAlchemy URL), so
each job is a textual reference (``"lpbot.runtime.jobs:open_conversation"``) with plain-data keyword
arguments. Job defaults are explicit (never APScheduler's 1 s ``misfire_grace_time``). Every
outcome becomes a hook (``lpbot_job_added`` / ``_ran`` / ``_missed`` / ``_failed``) and a log line:
a missed run is never silent. The APScheduler object stays reachable as ``.scheduler``.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from typing import TYPE_CHECKING, Any, Final

from apscheduler.events import (
    EVENT_JOB_ADDED,
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
)
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from lpbot.client.state import describe_sqlite_error
from lpbot.errors import LeaseLost, LpError, StateError
from lpbot.runtime.counters import COMMIT_ERRORS, JOBS, Counters

if TYPE_CHECKING:
    from apscheduler.events import JobEvent
    from apscheduler.job import Job
    from apscheduler.triggers.base import BaseTrigger

__all__ = ["JobInfo", "JobRun", "Scheduler", "check_plain_data"]

log = logging.getLogger(__name__)

_REFERENCE: Final = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
#: seconds before the scheduler looks at its job store again after the store failed
STORE_RETRY: Final = 10.0
_PLAIN: Final = (str, int, float, bool, type(None), datetime, date, clock_time)

#: called with (hook name, JobInfo or JobRun) for every job outcome, on the thread that saw it
JobListener = Callable[[str, "JobInfo | JobRun"], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """A snapshot of a stored job: id, name, callable reference, trigger, next run time."""

    job_id: str
    name: str
    func_ref: str
    trigger: str
    next_run_time: datetime | None
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRun:
    """One run of a job: the time it was due, and the error if it raised."""

    job_id: str
    name: str
    func_ref: str
    scheduled_run_time: datetime | None
    exception: BaseException | None = None
    traceback: str | None = None


def check_plain_data(value: object, where: str = "kwargs") -> None:
    """Raise ``TypeError`` unless ``value`` is plain data a persistent job store can keep.

    Plain data: str, int, float, bool, None, dates and times, and lists, tuples and
    str-keyed dicts of those. Handles, bound methods and bots are not.
    """
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_plain_data(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: job argument keys must be strings, got {key!r}")
            check_plain_data(item, f"{where}[{key!r}]")
        return
    raise TypeError(f"{where}: job arguments must be plain data (they are stored and survive "
                    f"a restart), got {type(value).__name__}")


class _ReportedByLpbot(logging.Filter):
    """Drops APScheduler's own warning about a skipped run: :class:`Scheduler` logs it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('Execution of job "%s" skipped')


_REPORTED_BY_LPBOT: Final = _ReportedByLpbot()


#: asked before each run: ``claim(job_id, scheduled_run_time)`` -> run it here (True) or not
Claim = Callable[[str, datetime], bool]


class _ClaimingExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool that asks ``claim`` for each run time before running it.

    A cluster records each run in the database under the scheduler lease's epoch, so a run
    happens at most once across daemons and never on a daemon whose lease is gone. The claim
    (a database round trip) is made on the job's worker thread, not the scheduler's.
    """

    def __init__(self, claim: Claim, refused: Callable[[int], None], max_workers: int,
                 pool_kwargs: dict[str, Any]) -> None:
        super().__init__(max_workers, pool_kwargs=pool_kwargs)
        self._claim = claim
        self._refused = refused

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def done(future: Future[list[Any]]) -> None:
            error = future.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(self._run_claimed, job, job._jobstore_alias, run_times,
                                   self._logger.name)
        future.add_done_callback(done)

    def _run_claimed(self, job: Job, alias: str, run_times: list[datetime],
                     logger_name: str) -> list[Any]:
        mine: list[datetime] = []
        missed: list[JobExecutionEvent] = []
        for scheduled in run_times:
            try:
                if self._claim(job.id, scheduled):
                    mine.append(scheduled)
                    continue
                log.info("job %s (due %s) already ran on another daemon", job.id, scheduled)
            except LeaseLost as exc:  # another daemon runs the scheduler: its run, not ours
                log.warning("job %s (due %s) not run here: %s", job.id, scheduled, exc)
            except LpError as exc:  # the run cannot be recorded: not run (at most once), missed
                log.warning("job %s (due %s) not run: %s", job.id, scheduled, exc)
                missed.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, alias, scheduled))
        not_run = len(run_times) - len(mine) - len(missed)
        if not_run:
            self._refused(not_run)
        return [*missed, *run_job(job, alias, mine, logger_name)]


class _BackgroundScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler: its thread named like lpbot's, and store errors kept.

    APScheduler lets an error of the job store while it updates a job's next run time escape
    its thread, which then dies; here it is reported through ``on_store_error`` and the loop
    tries again after ``STORE_RETRY`` seconds.
    """

    on_store_error: Callable[[Exception], None] | None = None

    def start(self, *args: Any, **kwargs: Any) -> None:
        super().start(*args, **kwargs)
        self._thread.name = "lpbot-scheduler"

    def _process_jobs(self) -> float | None:
        from apscheduler.schedulers.base import STATE_STOPPED

        if self.state == STATE_STOPPED:  # woken by shutdown(): its executors are gone
            return None
        try:
            wait: float | None = super()._process_jobs()
        except SQLAlchemyError as exc:
            if self.on_store_error is not None:
                self.on_store_error(exc)
            return STORE_RETRY
        return wait


class Scheduler:
    """A ``BackgroundScheduler`` with a persistent store, explicit defaults, and hooks.

    Args:
        url: SQLAlchemy URL of the job store (``sqlite:////path/jobs.sqlite``, PostgreSQL...).
        misfire_grace_time: Seconds a run may be late and still run; later ones are missed.
        coalesce: Run once, not once per missed time, when several runs are due together.
        max_instances: Concurrent runs allowed per job.
        timezone: Time zone of cron triggers.
        max_workers: Threads running jobs (``lpbot-job_<n>``).
        listener: Receives every job outcome (the bot turns them into hooks).
        counters: Where runs are counted by outcome.
        claim: Asked before each run; a run it refuses does not happen here (a cluster).
        tablename: The job store's table (APScheduler's default when None).
    """

    def __init__(
        self,
        *,
        url: str,
        misfire_grace_time: int = 60,
        coalesce: bool = True,
        max_instances: int = 1,
        timezone: str = "UTC",
        max_workers: int = 10,
        listener: JobListener | None = None,
        counters: Counters | None = None,
        claim: Claim | None = None,
        tablename: str | None = None,
    ) -> None:
        self.url = url
        self._listener = listener
        self._counters = counters if counters is not None else Counters()
        self._known: dict[str, JobInfo] = {}
        self._running = 0
        self._lock = threading.Lock()
        self._stopped = False
        pool = {"thread_name_prefix": "lpbot-job"}
        self._store = (SQLAlchemyJobStore(url=url) if tablename is None
                       else SQLAlchemyJobStore(url=url, tablename=tablename))
        self.scheduler = _BackgroundScheduler(
            jobstores={"default": self._store},
            executors={"default": ThreadPoolExecutor(max_workers, pool_kwargs=pool)
                       if claim is None
                       else _ClaimingExecutor(claim, self._not_run, max_workers, pool)},
            job_defaults={
                "misfire_grace_time": misfire_grace_time,
                "coalesce": coalesce,
                "max_instances": max_instances,
            },
            timezone=timezone,
            daemon=True,  # a safety net only: shutdown() joins it
        )
        self.scheduler.on_store_error = self._on_store_error
        self._store_failed = False
        apscheduler_log = logging.getLogger("apscheduler.scheduler")
        if _REPORTED_BY_LPBOT not in apscheduler_log.filters:
            apscheduler_log.addFilter(_REPORTED_BY_LPBOT)
        self.scheduler.add_listener(
            self._on_event,
            EVENT_JOB_ADDED | EVENT_JOB_MODIFIED | EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED
            | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
        )

    @property
    def running(self) -> bool:
        """Whether the scheduler has started and not stopped (paused counts as running)."""
        from apscheduler.schedulers.base import STATE_STOPPED

        return bool(self.scheduler.state != STATE_STOPPED)

    def start(self, *, paused: bool = False) -> None:
        """Open the job store and start the scheduler thread (``paused``: run nothing yet).

        Raises:
            StateError: the job store cannot be used (not a database, read-only, unreachable).
        """
        with self._store_errors():
            self.scheduler.start(paused=paused)
            for job in self.scheduler.get_jobs():
                self._remember(job)

    def _on_store_error(self, error: Exception) -> None:
        """The job store failed on the scheduler's thread: count it, log the first one."""
        self._counters.inc(COMMIT_ERRORS, "job store")
        first, self._store_failed = not self._store_failed, True
        (log.error if first else log.debug)(
            "the job store failed; the scheduler tries again every %g s (later failures are "
            "only counted in %s): %s", STORE_RETRY, COMMIT_ERRORS, _first_line(error))

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """Turn the job store's database errors into a ``StateError`` naming the store."""
        from sqlalchemy.engine import make_url

        try:
            yield
        except SQLAlchemyError as exc:
            url = make_url(self.url)
            where = (url.database or self.url) if url.get_backend_name() == "sqlite" else (
                url.render_as_string(hide_password=True))
            raise StateError(f"cannot use the job store: {_first_line(exc)}",
                             path=where) from exc

    def resume(self) -> None:
        """Start running due jobs (after a paused start)."""
        self.scheduler.resume()

    def pause(self) -> None:
        """Start no new run until :meth:`resume`; running jobs go on."""
        self.scheduler.pause()

    @property
    def running_jobs(self) -> int:
        """Job runs submitted and not finished yet."""
        with self._lock:
            return self._running

    def add_job(
        self,
        func: str,
        trigger: BaseTrigger | str,
        *,
        id: str,
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        replace_existing: bool = True,
        **options: Any,
    ) -> JobInfo:
        """Add (or replace) a job; ``func`` must be a ``"module:function"`` reference.

        ``kwargs`` must be plain data (see :func:`check_plain_data`); ``options`` go to
        APScheduler's ``add_job`` (``misfire_grace_time``, ``coalesce``, trigger arguments...).
        """
        if not isinstance(func, str) or not _REFERENCE.fullmatch(func):
            raise TypeError(f"job {id!r}: give the job function as a textual reference "
                            f"'module:function' so the stored job survives a restart; got {func!r}")
        plain = dict(kwargs or {})
        check_plain_data(plain, f"job {id!r} kwargs")
        with self._store_errors():
            job = self.scheduler.add_job(func, trigger, id=id, name=name or id, kwargs=plain,
                                         replace_existing=replace_existing, **options)
        return self._remember(job)

    def ensure_job(
        self,
        func: str,
        trigger: BaseTrigger,
        *,
        id: str,
        kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> JobInfo:
        """Add a job unless the store already holds the same one, whose next run time is kept.

        Config jobs go through here on every start: an unchanged job keeps its schedule (so
        a run that fell due while the bot was down runs, or is reported missed); a changed one
        is replaced.
        """
        with self._store_errors():
            existing = self.scheduler.get_job(id)
        plain = dict(kwargs or {})
        if (existing is not None and existing.func_ref == func and dict(existing.kwargs) == plain
                and _trigger_text(existing.trigger) == _trigger_text(trigger)
                and all(getattr(existing, key, value) == value for key, value in options.items())):
            return self._remember(existing)
        return self.add_job(func, trigger, id=id, kwargs=plain, **options)

    def get_job(self, job_id: str) -> JobInfo | None:
        """The stored job ``job_id``, or None."""
        job = self.scheduler.get_job(job_id)
        return None if job is None else self._remember(job)

    def get_jobs(self) -> list[JobInfo]:
        """Every stored job."""
        return [self._remember(job) for job in self.scheduler.get_jobs()]

    def remove_job(self, job_id: str) -> None:
        """Remove a job; raises ``LookupError`` (APScheduler's JobLookupError) if unknown."""
        self.scheduler.remove_job(job_id)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop taking jobs, wait up to ``timeout`` s for running ones, close the store.

        Idempotent. Returns False if a job was still running at the deadline (it is logged
        and left to finish on its own thread).
        """
        with self._lock:
            if self._stopped or not self.running:
                self._stopped = True
                return True
            self._stopped = True
        # APScheduler's shutdown(wait=True) has no timeout: run it on a helper thread.
        stopper = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True},
                                   name="lpbot-scheduler-stop", daemon=True)
        started = time.monotonic()
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            log.error("a scheduled job is still running %.1f s after shutdown began; "
                      "leaving it behind", time.monotonic() - started)
            return False
        # APScheduler's own thread looks at the store once more after the store was closed,
        # which opens a new connection: wait for it to end, then close that one too.
        thread = getattr(self.scheduler, "_thread", None)
        if thread is not None:
            thread.join(max(0.0, timeout - (time.monotonic() - started)))
        self._store.engine.dispose()
        return True

    # -- events -----------------------------------------------------------------------

    def _not_run(self, count: int) -> None:
        """Runs submitted but refused by the claim: they will send no outcome event."""
        with self._lock:
            self._running = max(0, self._running - count)

    def _remember(self, job: Job) -> JobInfo:
        info = JobInfo(job_id=job.id, name=job.name, func_ref=job.func_ref,
                       trigger=_trigger_text(job.trigger),
                       next_run_time=getattr(job, "next_run_time", None),
                       kwargs=dict(job.kwargs))
        with self._lock:
            self._known[job.id] = info
        return info

    def _run_of(self, event: JobEvent, scheduled: datetime | None) -> JobRun:
        with self._lock:
            info = self._known.get(event.job_id)
        return JobRun(
            job_id=event.job_id, name=info.name if info else event.job_id,
            func_ref=info.func_ref if info else "", scheduled_run_time=scheduled,
            exception=getattr(event, "exception", None),
            traceback=getattr(event, "traceback", None),
        )

    def _on_event(self, event: JobEvent) -> None:
        code = event.code
        if code == EVENT_JOB_SUBMITTED:
            with self._lock:
                self._running += len(event.scheduled_run_times)
            return
        if code in (EVENT_JOB_EXECUTED, EVENT_JOB_ERROR, EVENT_JOB_MISSED):
            with self._lock:
                self._running = max(0, self._running - 1)
        if code in (EVENT_JOB_ADDED, EVENT_JOB_MODIFIED):
            job = self.scheduler.get_job(event.job_id)
            if job is not None:
                self._emit("lpbot_job_added", self._remember(job))
            return
        if code == EVENT_JOB_MAX_INSTANCES:
            for scheduled in event.scheduled_run_times:
                log.warning("job %s skipped its run at %s: its previous run is still going",
                            event.job_id, scheduled)
                self._counters.inc(JOBS, "missed")
                self._emit("lpbot_job_missed", self._run_of(event, scheduled))
            return
        run = self._run_of(event, event.scheduled_run_time)
        if code == EVENT_JOB_EXECUTED:
            log.debug("job %s ran (due %s)", run.job_id, run.scheduled_run_time)
            self._counters.inc(JOBS, "ran")
            self._emit("lpbot_job_ran", run)
        elif code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run at %s: it was due longer ago than its "
                        "misfire_grace_time", run.job_id, run.scheduled_run_time)
            self._counters.inc(JOBS, "missed")
            self._emit("lpbot_job_missed", run)
        elif code == EVENT_JOB_ERROR:
            log.error("job %s failed (due %s): %r\n%s", run.job_id, run.scheduled_run_time,
                      run.exception, run.traceback or "")
            self._counters.inc(JOBS, "failed")
            self._emit("lpbot_job_failed", run)

    def _emit(self, hook_name: str, value: JobInfo | JobRun) -> None:
        if self._listener is None:
            return
        try:
            self._listener(hook_name, value)
        except Exception:  # isolation boundary: keep the loop alive
            log.exception("could not deliver %s for job %s", hook_name, value.job_id)


def _first_line(error: Exception) -> str:
    """What went wrong with the job store, without SQLAlchemy's statement and parameters."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, sqlite3.Error):
        return describe_sqlite_error(cause)
    return str(cause).splitlines()[0]


def _trigger_text(trigger: BaseTrigger) -> str:
    timezone = getattr(trigger, "timezone", None)
    return f"{trigger} {timezone}" if timezone is not None else str(trigger)
