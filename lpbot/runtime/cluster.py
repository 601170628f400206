"""Several daemons of one bot on one PostgreSQL: who runs which consumer and the scheduler.

With ``[bot] state_url`` set, :class:`Cluster` replaces the fixed start of every consumer and
the scheduler. Two threads, both named, owned by the cluster and joined by :meth:`stop`:

* ``lpbot-leases`` wakes every ``renew_interval`` seconds: it records a heartbeat, renews the
  leases it holds (a lease it cannot renew is lost: its consumer or scheduler stops at once),
  and takes free or expired leases: the scheduler's, the consumers named by ``[[jobs]]`` with
  it, and other consumers up to ``[bot] max_consumers``. It never connects anything itself, so a
  slow connect cannot delay a renewal.
* ``lpbot-cluster`` carries out what the lease thread decided, in order: connect a consumer,
  start the scheduler, close a consumer, stop the scheduler.

A lost lease is refused everywhere at once, before its consumer is closed: the client's
requests (``Lease.check``), its sequence commits (the database's fencing trigger), the
scheduler's job runs (each run is recorded under the lease epoch first), and the events it
still receives (not dispatched). So a daemon that wakes from SIGSTOP sends and runs nothing.
"""

from __future__ import annotations

import importlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Final, cast

from lpbot.client.state_pg import Fence, PgStateStore
from lpbot.errors import LeaseLost, LpError, StateError
from lpbot.runtime.leases import (
    SCHEDULER,
    DaemonInfo,
    Lease,
    LeaseInfo,
    LeaseStore,
    consumer_lease,
    new_owner_id,
)

if TYPE_CHECKING:
    from lpbot.runtime.bot import Bot

__all__ = ["Cluster", "ClusterStatus", "job_consumers"]

log = logging.getLogger(__name__)

_STOP: Final = object()
#: the shortest wait of the lease thread between rounds (no busy loop near an expiry)
_MIN_WAIT: Final = 0.02


def job_consumers(bot: Bot) -> tuple[str, ...]:
    """Consumers the ``[[jobs]]`` use: they move with the scheduler, never apart from it.

    A built-in job that names no consumer uses the first of ``[bot] consumers``.
    """
    consumers = bot.config.bot.consumers
    named: list[str] = []
    for job in bot.config.jobs:
        if job.kind == "call":
            continue
        consumer = job.kwargs.get("consumer") or (consumers[0] if consumers else None)
        if consumer is not None and consumer not in named:
            named.append(str(consumer))
    return tuple(named)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterStatus:
    """What this daemon holds now: its id, its leases, and how many it took over."""

    owner: str
    leases: tuple[str, ...]
    failovers: int

    @property
    def active(self) -> bool:
        """True while this daemon holds at least one lease (runs a consumer or the scheduler)."""
        return bool(self.leases)


class Cluster:
    """This daemon's part of a cluster: its leases and the consumers and scheduler they allow.

    Args:
        bot: The bot whose consumers and scheduler are started and stopped here.
        url: The ``[bot] state_url``.
    """

    def __init__(self, bot: Bot, url: str) -> None:
        settings = bot.config.bot
        self.bot = bot
        self.url = url
        self.owner = new_owner_id()
        self.ttl = settings.lease_ttl
        self.renew_interval = settings.lease_renew_interval or settings.lease_ttl / 3
        self.max_consumers = settings.max_consumers
        self.store = LeaseStore(url, bot=bot.name, owner=self.owner, ttl=self.ttl,
                                timeout=max(1.0, min(5.0, self.ttl)))
        self._job_consumers = job_consumers(bot)
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._failovers = 0
        self._stop = threading.Event()
        self._actions: queue.Queue[object] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._db_ok = True

    def __repr__(self) -> str:
        return f"Cluster(owner={self.owner!r}, leases={sorted(self._held)!r})"

    # --- life cycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Connect, migrate and register this daemon. Raises StateError (exit code 3)."""
        self.store.open()
        # A standby must take over without first importing APScheduler, SQLAlchemy and its
        # PostgreSQL dialect: seconds on a busy machine, measured by benchmarks/failover.py.
        importlib.import_module("lpbot.runtime.scheduler")
        importlib.import_module("sqlalchemy.dialects.postgresql.psycopg")
        log.info("cluster member %s of bot %s (lease_ttl %g s, renewed every %g s)",
                 self.owner, self.bot.name, self.ttl, self.renew_interval)

    def start(self) -> None:
        """Start the lease and action threads; the first leases are taken at once."""
        for name, target in (("lpbot-leases", self._lease_loop),
                             ("lpbot-cluster", self._action_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop taking and renewing leases; join the threads. The bot then stops its work.

        Idempotent; never raises. Returns False if a thread outlived ``timeout``.
        """
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._actions.put(_STOP)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def close(self) -> None:
        """Release every lease (the bot stopped their work) and mark this daemon stopped.

        Releasing lets another daemon take the work at once instead of after ``lease_ttl``.
        Idempotent; never raises.
        """
        with self._lock:
            held, self._held = dict(self._held), {}
        for name, lease in held.items():
            try:
                self.store.release(lease)
            except LpError as exc:
                log.warning("could not release lease %s: %s", name, exc)
        self.store.close()

    # --- what the bot builds on a lease ---------------------------------------------------

    def consumer_store(self, lease: Lease,
                       on_fenced: Callable[[], None] | None = None) -> PgStateStore:
        """A state store for one consumer whose sequence commits are fenced by ``lease``."""
        return PgStateStore(self.url, bot=self.bot.name, timeout=self.store.timeout,
                            fence=Fence(lease=lease.name, epoch=lease.epoch,
                                        on_refused=on_fenced))

    def job_store(self) -> tuple[str, str]:
        """SQLAlchemy URL and table of the bot's shared APScheduler job store."""
        url = self.url
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                url = "postgresql+psycopg://" + url[len(scheme):]
        table = "lpbot_jobs_" + re.sub(r"[^a-z0-9_]", "_", self.bot.name.lower())[:40]
        return url, table

    # --- views ----------------------------------------------------------------------------

    def status(self) -> ClusterStatus:
        """What this daemon holds now (leases past their local deadline are left out)."""
        with self._lock:
            leases = tuple(sorted(name for name, lease in self._held.items() if lease.valid()))
            return ClusterStatus(owner=self.owner, leases=leases, failovers=self._failovers)

    def lease_names(self) -> tuple[str, ...]:
        """Every lease this daemon may take: the scheduler's and each configured consumer's."""
        return (SCHEDULER, *(consumer_lease(c) for c in self.bot.config.bot.consumers))

    def lease(self, name: str) -> Lease | None:
        """The lease ``name`` if this daemon holds it."""
        with self._lock:
            return self._held.get(name)

    def leases(self) -> list[LeaseInfo]:
        """Every lease row of the bot, from the database."""
        return self.store.leases()

    def daemons(self) -> list[DaemonInfo]:
        """Every daemon row of the bot, from the database."""
        return self.store.daemons()

    def claim(self, lease: Lease, job_id: str, scheduled_at: datetime) -> bool:
        """Record a job run under ``lease`` (the scheduler's); True: run it here (once).

        The scheduler started under a lease claims with that lease only: once it is lost,
        the scheduler can run nothing, even if this daemon holds a newer scheduler lease.

        Raises:
            LeaseLost: the lease is gone (the scheduler is stopped at once).
            StateError: the run could not be recorded, so it is not run.
        """
        try:
            return self.store.record_run(lease, job_id, scheduled_at)
        except LeaseLost:
            self._lose(SCHEDULER, lease, "the database refused a job run")
            raise

    # --- the lease thread -----------------------------------------------------------------

    def _lease_loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            wait = self.renew_interval
            try:
                missing = self._tick()
                soonest = self.store.seconds_to_expiry(missing) if missing else None
                if soonest is not None:
                    # wake when a lease we want lapses: takeover within lease_ttl, not later
                    wait = min(wait, max(_MIN_WAIT, soonest + _MIN_WAIT))
            except StateError:
                pass  # _tick said so; the next round tries again
            except Exception:  # isolation boundary: a bug must not end the renewals silently
                log.exception("lease round failed")
            self._stop.wait(max(0.0, wait - (time.monotonic() - started)))

    def _tick(self) -> list[str]:
        """One round: heartbeat, renewals, takeovers; returns the leases wanted and not got."""
        with self._lock:
            held = dict(self._held)
        missing: list[str] = []
        try:
            self.store.heartbeat(self._failovers)
            for name, lease in held.items():
                if not self.store.renew(lease):
                    self._lose(name, lease, "its renewal was refused or came too late")
            if not self._db_ok:
                log.info("state database reachable again")
                self._db_ok = True
            missing = self._take()
        except StateError as exc:
            if self._db_ok:
                log.warning("state database unreachable: %s", exc)
                self._db_ok = False
            # Leases that were not renewed in time lapse by themselves (Lease.valid).
            for name, lease in held.items():
                if not lease.valid():
                    self._lose(name, lease, "the state database could not be reached in time")
        return missing

    def _take(self) -> list[str]:
        """Take the leases this daemon should hold and can; returns those held by others."""
        missing: list[str] = []
        if self._stop.is_set():
            return missing
        with self._lock:
            has_scheduler = SCHEDULER in self._held
        scheduler = None
        if not has_scheduler:
            # started after the job consumers taken below, so its first runs find them
            scheduler = self._acquire(SCHEDULER, start=False)
            if scheduler is None:
                missing.append(SCHEDULER)
            has_scheduler = scheduler is not None
        try:
            missing += self._take_consumers(has_scheduler)
        finally:
            if scheduler is not None:
                self._actions.put(("start", SCHEDULER, scheduler))
        return missing

    def _take_consumers(self, has_scheduler: bool) -> list[str]:
        """Take consumer leases up to ``max_consumers``; returns those held by others.

        The job consumers come first, and only with the scheduler.
        """
        missing: list[str] = []
        wanted = list(self._job_consumers) if has_scheduler else []
        wanted += [c for c in self.bot.config.bot.consumers if c not in self._job_consumers]
        for consumer in wanted:
            name = consumer_lease(consumer)
            with self._lock:
                if name in self._held:
                    continue
                count = sum(1 for held in self._held if held != SCHEDULER)
            if self.max_consumers and count >= self.max_consumers:
                break
            if self._acquire(name) is None:
                missing.append(name)
        return missing

    def _acquire(self, name: str, *, start: bool = True) -> Lease | None:
        """Take lease ``name`` if free; queue the start of its work unless ``start`` is False."""
        taken = self.store.acquire(name)
        if taken is None:
            return None
        lease, failover = taken
        with self._lock:
            self._held[name] = lease
            if failover:
                self._failovers += 1
        log.info("lease %s taken (epoch %d%s)", name, lease.epoch,
                 ", a failover" if failover else "")
        if start:
            self._actions.put(("start", name, lease))
        return lease

    def _lose(self, name: str, lease: Lease, why: str) -> None:
        """Stop acting on ``lease`` now, and have its consumer or scheduler stopped."""
        with self._lock:
            if self._held.get(name) is not lease:
                return
            del self._held[name]
        lease.lose()
        log.warning("lease %s (epoch %d) lost: %s; stopping it", name, lease.epoch, why)
        self._actions.put(("stop", name, lease))
        if name == SCHEDULER:
            # the job consumers move with the scheduler (their leases lapse: no database call
            # here, which may be the thing that is not answering)
            for consumer in self._job_consumers:
                other = self.lease(consumer_lease(consumer))
                if other is not None:
                    self._lose(consumer_lease(consumer), other, "it moves with the scheduler")

    def _give_up(self, name: str, lease: Lease) -> None:
        with self._lock:
            if self._held.get(name) is not lease:
                return
            del self._held[name]
        self._actions.put(("stop", name, lease))
        try:
            self.store.release(lease)
        except LpError as exc:
            log.warning("could not release lease %s: %s", name, exc)

    # --- the action thread ----------------------------------------------------------------

    def _action_loop(self) -> None:
        while True:
            try:
                action = self._actions.get(timeout=self._next_deadline())
            except queue.Empty:
                self._expire()
                continue
            if action is _STOP:
                return
            verb, name, lease = cast(tuple[str, str, Lease], action)
            try:
                if verb == "stop":
                    self._stop_work(name)
                elif lease.valid() and not self._stop.is_set():
                    self._start_work(name, lease)
            except Exception:  # isolation boundary: the next round tries again
                log.exception("could not %s %s", verb, name)
                if verb == "start":
                    self._give_up(name, lease)

    def _next_deadline(self) -> float | None:
        """Seconds until the first held lease passes its local deadline (None: holds none)."""
        with self._lock:
            remaining = [lease.remaining for lease in self._held.values()]
        return max(_MIN_WAIT, min(remaining) + _MIN_WAIT) if remaining else None

    def _expire(self) -> None:
        """The watchdog: stop what a lease allowed once it was not renewed in time.

        The lease thread does this too, but it may be stuck in a query on a network that went
        silent; this thread never waits on the database.
        """
        with self._lock:
            lapsed = [(name, lease) for name, lease in self._held.items() if not lease.valid()]
        for name, lease in lapsed:
            self._lose(name, lease, "it was not renewed in time")

    def _start_work(self, name: str, lease: Lease) -> None:
        if name == SCHEDULER:
            self.store.prune_runs()
            self.bot.start_scheduler(claim=partial(self.claim, lease))
            log.info("scheduler started under lease epoch %d", lease.epoch)
            return
        consumer = name.removeprefix("consumer:")
        try:
            self.bot.add_consumer(consumer, lease=lease,
                                  on_fenced=lambda: self._lose(name, lease, "fenced"))
        except LpError as exc:
            log.warning("consumer %s could not connect: %s; giving its lease back", consumer, exc)
            self.bot.remove_consumer(consumer)
            self._give_up(name, lease)
            return
        log.info("consumer %s connected under lease epoch %d", consumer, lease.epoch)

    def _stop_work(self, name: str) -> None:
        if name == SCHEDULER:
            self.bot.stop_scheduler()
        else:
            self.bot.remove_consumer(name.removeprefix("consumer:"))

