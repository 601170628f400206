"""Leases in PostgreSQL: who owns each consumer and the scheduler, for how long, at what epoch.

A lease is one row of ``lpbot_leases`` (bot, name, owner, epoch, expiry). Expiry is the
database's clock, so daemons on machines whose clocks disagree still agree on it. Taking a
free or expired lease raises its epoch by one; renewing keeps the epoch and moves the expiry.
Every write a lease allows (a sequence commit, a job run record) carries the epoch, and the
database refuses it once a newer epoch exists (:mod:`lpbot.client.state_pg`).

Locally a held lease is also bounded by the monotonic clock: it is valid until ``ttl`` seconds
after the start of its last successful renewal, which is never later than the expiry the
database wrote. So a process that was frozen (SIGSTOP) or cut off from the database stops
acting on a lease by itself, before another daemon can have taken it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from lpbot.client.state_pg import connect, is_fenced, migrate
from lpbot.errors import LeaseLost, StateError

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEDULER", "DaemonInfo", "Lease", "LeaseInfo", "LeaseStore", "consumer_lease",
           "new_owner_id"]

log = logging.getLogger(__name__)

#: the name of the scheduler's lease
SCHEDULER: Final = "scheduler"


def consumer_lease(consumer: str) -> str:
    """The lease name of the consumer named ``consumer`` in ``[bot] consumers``."""
    return f"consumer:{consumer}"


def new_owner_id() -> str:
    """A name for this daemon that no other process will use: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class Lease:
    """A lease this daemon holds: its name and epoch, valid until its local deadline.

    Thread-safe. :meth:`check` is what every action on the lease calls first.
    """

    def __init__(self, name: str, epoch: int, deadline: float) -> None:
        self.name = name
        self.epoch = epoch
        self._deadline = deadline
        self._lost = threading.Event()

    def __repr__(self) -> str:
        return f"Lease({self.name!r}, epoch={self.epoch}, valid={self.valid()})"

    def valid(self) -> bool:
        """Held, and not past the local deadline (``ttl`` after the last renewal began)."""
        return not self._lost.is_set() and time.monotonic() < self._deadline

    def check(self) -> None:
        """Raise :class:`~lpbot.errors.LeaseLost` unless the lease is valid."""
        if not self.valid():
            raise LeaseLost(self.name)

    @property
    def remaining(self) -> float:
        """Seconds until the local deadline (negative once past)."""
        return self._deadline - time.monotonic()

    def extend(self, deadline: float) -> None:
        """A renewal succeeded: valid until ``deadline`` (monotonic)."""
        self._deadline = deadline

    def lose(self) -> bool:
        """Mark the lease lost for good; True the first time."""
        first = not self._lost.is_set()
        self._lost.set()
        return first

    @property
    def lost(self) -> bool:
        """Whether the lease was marked lost."""
        return self._lost.is_set()


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseInfo:
    """A lease row as ``lpbot cluster status`` shows it."""

    name: str
    owner: str
    epoch: int
    renewed_at: datetime
    expires_at: datetime
    expired: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonInfo:
    """A daemon row: who, where, since when, last heartbeat, failovers it took over."""

    owner: str
    host: str
    pid: int
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    failovers: int


class LeaseStore:
    """The lease and daemon rows of one bot, on a connection of their own.

    Args:
        url: The ``[bot] state_url``.
        bot: The bot name (``[bot] name``): daemons with the same name share the work.
        owner: This daemon's id (:func:`new_owner_id`).
        ttl: Seconds a lease lasts after a renewal (``[bot] lease_ttl``).
        timeout: Seconds a connection attempt or a query on a silent network may take.
    """

    def __init__(self, url: str, *, bot: str, owner: str, ttl: float,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.bot = bot
        self.owner = owner
        self.ttl = ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._db: psycopg.Connection | None = None

    def open(self, *, register: bool = True) -> None:
        """Connect, migrate the schema and (``register``) add this daemon; raises StateError."""
        with self._lock:
            self._db = connect(self.url, timeout=self.timeout, application=f"lpbot {self.bot}")
            migrate(self._db)
            if not register:
                return
            self._db.execute(
                "INSERT INTO lpbot_daemons (bot, owner, host, pid, started_at, last_seen) "
                "VALUES (%s, %s, %s, %s, now(), now())",
                (self.bot, self.owner, socket.gethostname(), os.getpid()))

    def _execute(self, query: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        """Run one statement (reconnecting first if needed); rows it returned."""
        import psycopg

        with self._lock:
            try:
                if self._db is None or self._db.closed or self._db.broken:
                    if self._db is not None:
                        self._db.close()
                    self._db = None
                    self._db = connect(self.url, timeout=self.timeout,
                                       application=f"lpbot {self.bot}")
                cursor = self._db.execute(query, params)  # our own SQL
                return cursor.fetchall() if cursor.description is not None else []
            except psycopg.Error as exc:
                if is_fenced(exc):
                    raise
                if self._db is not None and not self._db.broken:
                    raise StateError(f"lease query failed: {exc}") from None
                raise StateError("lost the state database connection") from None

    def heartbeat(self, failovers: int = 0) -> None:
        """Record that this daemon is alive (``lpbot cluster status`` shows it)."""
        self._execute("UPDATE lpbot_daemons SET last_seen = now(), failovers = %s "
                      "WHERE bot = %s AND owner = %s", (failovers, self.bot, self.owner))

    def acquire(self, name: str) -> tuple[Lease, bool] | None:
        """Take ``name`` if nobody holds it or its holder let it expire; None otherwise.

        Returns the lease and whether this is a failover: another daemon held it and let it
        expire without releasing it.
        """
        started = time.monotonic()
        rows = self._execute(
            "WITH old AS (SELECT owner, released FROM lpbot_leases WHERE bot = %s AND name = %s) "
            "INSERT INTO lpbot_leases AS l (bot, name, owner, epoch, acquired_at, renewed_at, "
            "expires_at) VALUES (%s, %s, %s, 1, clock_timestamp(), clock_timestamp(), "
            "clock_timestamp() + make_interval(secs => %s)) "
            "ON CONFLICT (bot, name) DO UPDATE SET owner = excluded.owner, "
            "epoch = l.epoch + 1, acquired_at = excluded.acquired_at, released = false, "
            "renewed_at = excluded.renewed_at, expires_at = excluded.expires_at "
            "WHERE l.expires_at <= clock_timestamp() "
            "RETURNING l.epoch, (SELECT owner FROM old), (SELECT released FROM old)",
            (self.bot, name, self.bot, name, self.owner, self.ttl))
        if not rows:
            return None
        epoch, previous, released = rows[0]
        failover = previous is not None and previous != self.owner and not released
        return Lease(name, int(epoch), started + self.ttl), failover  # type: ignore[call-overload]

    def renew(self, lease: Lease) -> bool:
        """Move the expiry on; False (and the lease marked lost) when it is not ours anymore."""
        started = time.monotonic()
        if not lease.valid():
            lease.lose()
            return False
        rows = self._execute(
            "UPDATE lpbot_leases SET renewed_at = clock_timestamp(), "
            "expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE bot = %s AND name = %s AND owner = %s AND epoch = %s "
            "AND expires_at > clock_timestamp() RETURNING epoch",
            (self.ttl, self.bot, lease.name, self.owner, lease.epoch))
        if not rows or not lease.valid():
            lease.lose()
            return False
        lease.extend(started + self.ttl)
        return True

    def release(self, lease: Lease) -> None:
        """Give ``lease`` up now (clean shutdown): another daemon may take it at once."""
        lease.lose()
        self._execute("UPDATE lpbot_leases SET expires_at = clock_timestamp(), released = true "
                      "WHERE bot = %s AND name = %s AND owner = %s AND epoch = %s",
                      (self.bot, lease.name, self.owner, lease.epoch))

    def seconds_to_expiry(self, names: list[str]) -> float | None:
        """Seconds until the first of the leases ``names`` (held by others) lapses, if any."""
        rows = self._execute(
            "SELECT extract(epoch FROM min(expires_at) - clock_timestamp()) FROM lpbot_leases "
            "WHERE bot = %s AND name = ANY(%s) AND owner <> %s",
            (self.bot, names, self.owner))
        value = rows[0][0] if rows else None
        return None if value is None else float(value)  # type: ignore[arg-type]

    def record_run(self, lease: Lease, job_id: str, scheduled_at: datetime) -> bool:
        """Claim one scheduled run of ``job_id``: True if this daemon may run it.

        False when another daemon already ran it (its row exists), or when the database
        refused the claim because a newer epoch of ``lease`` exists (the lease is then lost).
        """
        lease.check()
        try:
            rows = self._execute(
                "INSERT INTO lpbot_job_runs (bot, job_id, scheduled_at, lease, epoch, owner) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (self.bot, job_id, scheduled_at, lease.name, lease.epoch, self.owner))
        except Exception as exc:
            if not is_fenced(exc):
                raise
            lease.lose()
            raise LeaseLost(lease.name, f"the database refused a run of {job_id} at epoch "
                            f"{lease.epoch}: a newer epoch exists") from None
        return bool(rows)

    def prune_runs(self, keep_days: float = 7.0) -> None:
        """Delete job run records older than ``keep_days``."""
        self._execute("DELETE FROM lpbot_job_runs WHERE bot = %s AND started_at < now() - "
                      "make_interval(secs => %s)", (self.bot, keep_days * 86400))

    def leases(self) -> list[LeaseInfo]:
        """Every lease row of the bot."""
        rows = self._execute(
            "SELECT name, owner, epoch, renewed_at, expires_at, expires_at <= clock_timestamp() "
            "FROM lpbot_leases WHERE bot = %s ORDER BY name", (self.bot,))
        return [LeaseInfo(name=str(r[0]), owner=str(r[1]), epoch=int(r[2]),  # type: ignore[call-overload]
                          renewed_at=r[3], expires_at=r[4], expired=bool(r[5]))  # type: ignore[arg-type]
                for r in rows]

    def daemons(self) -> list[DaemonInfo]:
        """Every daemon row of the bot, newest first."""
        rows = self._execute(
            "SELECT owner, host, pid, started_at, last_seen, stopped_at, failovers "
            "FROM lpbot_daemons WHERE bot = %s ORDER BY started_at DESC", (self.bot,))
        return [DaemonInfo(owner=str(r[0]), host=str(r[1]), pid=int(r[2]),  # type: ignore[call-overload]
                           started_at=r[3], last_seen=r[4], stopped_at=r[5],  # type: ignore[arg-type]
                           failovers=int(r[6]))  # type: ignore[call-overload]
                for r in rows]

    def close(self) -> None:
        """Mark this daemon stopped and close the connection; never raises."""
        if self._db is None:
            return  # never opened (or closed already)
        try:
            self._execute("UPDATE lpbot_daemons SET stopped_at = now(), last_seen = now() "
                          "WHERE bot = %s AND owner = %s", (self.bot, self.owner))
        except StateError as exc:
            log.warning("could not mark this daemon stopped: %s", exc)
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()
