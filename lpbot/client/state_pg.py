"""State on PostgreSQL: identities and sequences shared by every daemon of a bot, fenced.

``[bot] state_url = "postgresql://..."`` puts what the state directory holds into one
PostgreSQL database, so several daemons of the same bot can hand consumers to each other.
:func:`connect` opens a connection and turns every way of failing into one :class:`StateError`
line naming ``user@host:port/database`` (never the password); :func:`migrate` creates and
upgrades lpbot's tables (versioned, idempotent, one daemon at a time under an advisory lock).

Fencing: a :class:`PgStateStore` built with a :class:`Fence` writes every sequence with the
lease it holds and that lease's epoch. A trigger in the database refuses the write when the
lease row has a newer epoch (another daemon took the consumer over), so a daemon that was
frozen or cut off can never move a sequence past events it did not deliver.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from lpbot.client.state import StoredIdentity
from lpbot.errors import LeaseLost, StateConnectError, StateError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "FENCED",
    "SCHEMA_VERSION",
    "Fence",
    "PgStateStore",
    "connect",
    "describe_url",
    "is_fenced",
    "migrate",
]

log = logging.getLogger(__name__)

#: SQLSTATE of the fencing trigger's refusal ("a newer epoch of this lease exists")
FENCED: Final = "LP409"
#: advisory lock key taken while migrating (so daemons starting together take turns)
_MIGRATION_LOCK: Final = 0x6C70626F74  # "lpbot"

_FENCE_FUNCTION: Final = f"""
CREATE OR REPLACE FUNCTION lpbot_fence() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current bigint;
BEGIN
    -- FOR SHARE waits for a takeover in progress, then reads its epoch
    SELECT epoch INTO current FROM lpbot_leases
        WHERE bot = NEW.bot AND name = NEW.lease FOR SHARE;
    IF current IS NULL OR NEW.epoch < current THEN
        RAISE EXCEPTION 'lease % of bot % is at epoch %; refused a write at epoch %',
            NEW.lease, NEW.bot, current, NEW.epoch USING ERRCODE = '{FENCED}';
    END IF;
    RETURN NEW;
END $$"""  # noqa: S608 -- constant SQL, no input

#: (version, statements): applied in order, each version once, in one transaction
_MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (1, (
        """CREATE TABLE lpbot_identities (
            bot text NOT NULL, key text NOT NULL, consumer_id text NOT NULL,
            token text NOT NULL, authenticated boolean NOT NULL,
            updated timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (bot, key))""",
        """CREATE TABLE lpbot_leases (
            bot text NOT NULL, name text NOT NULL, owner text NOT NULL,
            epoch bigint NOT NULL, acquired_at timestamptz NOT NULL,
            renewed_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
            released boolean NOT NULL DEFAULT false, PRIMARY KEY (bot, name))""",
        """CREATE TABLE lpbot_sequences (
            bot text NOT NULL, consumer_id text NOT NULL, dialog_id text NOT NULL,
            sequence bigint NOT NULL, lease text NOT NULL, epoch bigint NOT NULL,
            updated timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (bot, consumer_id, dialog_id))""",
        """CREATE TABLE lpbot_job_runs (
            bot text NOT NULL, job_id text NOT NULL, scheduled_at timestamptz NOT NULL,
            lease text NOT NULL, epoch bigint NOT NULL, owner text NOT NULL,
            started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (bot, job_id, scheduled_at))""",
        """CREATE TABLE lpbot_daemons (
            bot text NOT NULL, owner text NOT NULL, host text NOT NULL, pid integer NOT NULL,
            started_at timestamptz NOT NULL, last_seen timestamptz NOT NULL,
            stopped_at timestamptz, failovers bigint NOT NULL DEFAULT 0,
            PRIMARY KEY (bot, owner))""",
        _FENCE_FUNCTION,
        """CREATE TRIGGER lpbot_sequences_fence BEFORE INSERT OR UPDATE ON lpbot_sequences
            FOR EACH ROW EXECUTE FUNCTION lpbot_fence()""",
        """CREATE TRIGGER lpbot_job_runs_fence BEFORE INSERT OR UPDATE ON lpbot_job_runs
            FOR EACH ROW EXECUTE FUNCTION lpbot_fence()""",
    )),
)

#: the schema version this lpbot writes
SCHEMA_VERSION: Final = _MIGRATIONS[-1][0]


def describe_url(url: str) -> str:
    """``user@host:port/database`` of a libpq URL or DSN, without the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 -- any parse error: the URL itself is what is wrong
        return "<unparsable URL>"
    user = parts.get("user") or "<default user>"
    host = parts.get("host") or parts.get("hostaddr") or "<local socket>"
    return f"{user}@{host}:{parts.get('port') or 5432}/{parts.get('dbname') or user}"


def connect(url: str, *, timeout: float = 5.0, application: str = "lpbot") -> psycopg.Connection:
    """An autocommit connection to ``url``; raises :class:`StateConnectError`: one clear line.

    ``timeout`` bounds connecting, and (through TCP keepalives and ``tcp_user_timeout``) how
    long a query may wait on a network that went silent.
    """
    try:
        import psycopg
    except ImportError as exc:
        raise StateConnectError("[bot] state_url needs psycopg: pip install 'lpbot[postgresql]'"
                                ) from exc
    where = describe_url(url)
    try:
        return psycopg.connect(
            url, autocommit=True, connect_timeout=max(1, round(timeout)),
            application_name=application, keepalives=1, keepalives_idle=max(1, round(timeout)),
            keepalives_interval=1, keepalives_count=max(1, round(timeout)),
            tcp_user_timeout=int(timeout * 1000))
    except psycopg.ProgrammingError as exc:  # libpq could not parse the URL
        raise StateConnectError(f"state_url is not a valid PostgreSQL URL: {_first_line(exc)}"
                                ) from None
    except psycopg.Error as exc:
        raise StateConnectError(f"cannot use the state database {where}: {_reason(exc)}"
                                ) from None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _reason(exc: BaseException) -> str:
    """The part of libpq's message that says why, on one line."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "login refused (wrong user or password)"
    if "role" in lowered and "does not exist" in lowered:
        return "login refused (no such user)"
    if "database" in lowered and "does not exist" in lowered:
        return "the database does not exist (create it with createdb)"
    if "connection refused" in lowered:
        return "connection refused (is PostgreSQL running on that host and port?)"
    if "timeout" in lowered or "timed out" in lowered:
        return "no answer in time (host unreachable?)"
    for prefix in ("connection failed:", "FATAL:"):
        text = text.replace(prefix, "").strip()
    return text[:200]


def is_fenced(exc: BaseException) -> bool:
    """True when ``exc`` is the fencing trigger refusing a write with an old epoch."""
    return getattr(exc, "sqlstate", None) == FENCED


def migrate(conn: psycopg.Connection) -> int:
    """Create or upgrade lpbot's tables to :data:`SCHEMA_VERSION`; returns versions applied.

    Idempotent and safe when daemons start together: one transaction under an advisory lock.

    Raises:
        StateError: the database holds a newer schema than this lpbot knows.
    """
    applied_now = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS lpbot_schema_version (version integer PRIMARY "
                     "KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row[0] for row in conn.execute("SELECT version FROM lpbot_schema_version")}
        if done and max(done) > SCHEMA_VERSION:
            raise StateError(f"the state database has schema version {max(done)}; this lpbot "
                             f"knows up to {SCHEMA_VERSION}: upgrade lpbot")
        for version, statements in _MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                conn.execute(statement)  # our own constant SQL
            conn.execute("INSERT INTO lpbot_schema_version (version) VALUES (%s)", (version,))
            log.info("state database migrated to schema version %d", version)
            applied_now += 1
    return applied_now


@dataclass(frozen=True, slots=True, kw_only=True)
class Fence:
    """The lease a store writes under: its name, its epoch, and whom to tell when refused."""

    lease: str
    epoch: int
    on_refused: Callable[[], None] | None = None


class PgStateStore:
    """The state directory's store (:class:`~lpbot.client.state.StateStore`) on PostgreSQL.

    Same methods and guarantees (sequences only move forward; each write is one transaction),
    scoped to one ``bot`` name, and fenced: with a ``fence`` every sequence commit is refused
    by the database once another daemon holds a newer epoch of the lease. A refused commit
    raises :class:`~lpbot.errors.LeaseLost` after calling ``fence.on_refused``.

    One connection per store, behind a lock; a broken connection (database restart) is
    re-opened once per call.
    """

    def __init__(self, url: str, *, bot: str, fence: Fence | None = None,
                 timeout: float = 5.0) -> None:
        self.url = url
        self.bot = bot
        self.fence = fence
        self._timeout = timeout
        self._lock = threading.Lock()
        self._closed = False
        self._db: psycopg.Connection | None = connect(url, timeout=timeout)

    @property
    def path(self) -> str:
        """Where the state lives, for log lines: ``user@host:port/database`` (no password)."""
        return describe_url(self.url)

    def __repr__(self) -> str:
        return f"PgStateStore({self.path!r}, bot={self.bot!r})"

    def __enter__(self) -> PgStateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        """The connection, under the lock; reconnects once if the last one broke."""
        import psycopg

        with self._lock:
            if self._closed:
                raise ValueError("state store is closed")
            if self._db is None or self._db.closed or self._db.broken:
                if self._db is not None:
                    self._db.close()
                self._db = None
                self._db = connect(self.url, timeout=self._timeout)
            try:
                yield self._db
            except psycopg.OperationalError as exc:
                if is_fenced(exc):
                    raise
                self._db.close()
                raise StateError(f"state database {self.path}: {_reason(exc)}") from None

    def _run(self, call: Callable[[psycopg.Connection], Any]) -> Any:
        """Run ``call`` with the connection; once more on a new one if the old one broke."""
        try:
            with self._conn() as db:
                return call(db)
        except StateError:
            with self._conn() as db:
                return call(db)

    # --- identities ---------------------------------------------------------------------

    def load_identity(self, key: str) -> StoredIdentity | None:
        """Return the identity saved under ``key`` (e.g. ``"account/default"``), if any."""
        row = self._run(lambda db: db.execute(
            "SELECT consumer_id, token, authenticated FROM lpbot_identities "
            "WHERE bot = %s AND key = %s", (self.bot, key)).fetchone())
        if row is None:
            return None
        return StoredIdentity(consumer_id=row[0], token=row[1], authenticated=bool(row[2]))

    def save_identity(self, key: str, identity: StoredIdentity) -> None:
        """Persist ``identity`` under ``key`` atomically (replacing any older one)."""
        self._run(lambda db: db.execute(
            "INSERT INTO lpbot_identities (bot, key, consumer_id, token, authenticated) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (bot, key) DO UPDATE SET "
            "consumer_id = excluded.consumer_id, token = excluded.token, "
            "authenticated = excluded.authenticated, updated = now()",
            (self.bot, key, identity.consumer_id, identity.token, identity.authenticated)))

    def forget_identity(self, key: str) -> None:
        """Delete the identity saved under ``key``."""
        self._run(lambda db: db.execute(
            "DELETE FROM lpbot_identities WHERE bot = %s AND key = %s", (self.bot, key)))

    # --- sequences ----------------------------------------------------------------------

    def commit_sequence(self, consumer_id: str, dialog_id: str, sequence: int) -> bool:
        """Record that ``sequence`` of ``dialog_id`` was handled; True when it moved forward.

        Raises:
            LeaseLost: the database refused the write: another daemon holds the lease now.
        """
        fence = self.fence
        lease, epoch = (fence.lease, fence.epoch) if fence is not None else ("", 0)
        try:
            cursor = self._run(lambda db: db.execute(
                "INSERT INTO lpbot_sequences (bot, consumer_id, dialog_id, sequence, lease, "
                "epoch) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (bot, consumer_id, dialog_id) DO UPDATE SET "
                "sequence = excluded.sequence, lease = excluded.lease, epoch = excluded.epoch, "
                "updated = now() WHERE excluded.sequence > lpbot_sequences.sequence",
                (self.bot, consumer_id, dialog_id, sequence, lease, epoch)))
        except Exception as exc:
            if not is_fenced(exc) or fence is None:
                raise
            log.warning("sequence commit refused: %s", _first_line(exc))
            if fence.on_refused is not None:
                fence.on_refused()
            raise LeaseLost(fence.lease, f"lease {fence.lease!r} epoch {fence.epoch} was "
                            "taken over: the database refused the commit") from None
        return bool(cursor.rowcount > 0)

    def last_sequence(self, consumer_id: str, dialog_id: str) -> int | None:
        """The last committed sequence of ``dialog_id``, or ``None`` when none was."""
        row = self._run(lambda db: db.execute(
            "SELECT sequence FROM lpbot_sequences WHERE bot = %s AND consumer_id = %s "
            "AND dialog_id = %s", (self.bot, consumer_id, dialog_id)).fetchone())
        return None if row is None else int(row[0])

    def sequences(self, consumer_id: str) -> dict[str, int]:
        """Every dialog's last committed sequence for ``consumer_id``."""
        rows = self._run(lambda db: db.execute(
            "SELECT dialog_id, sequence FROM lpbot_sequences WHERE bot = %s AND consumer_id = %s",
            (self.bot, consumer_id)).fetchall())
        return {str(dialog): int(seq) for dialog, seq in rows}

    def forget_sequences(self, consumer_id: str, dialog_ids: Iterable[str]) -> int:
        """Delete the sequences of dialogs the client forgot for good; returns rows deleted."""
        dialogs = list(dialog_ids)
        cursor = self._run(lambda db: db.execute(
            "DELETE FROM lpbot_sequences WHERE bot = %s AND consumer_id = %s "
            "AND dialog_id = ANY(%s)", (self.bot, consumer_id, dialogs)))
        return int(cursor.rowcount)

    # --- lifecycle ----------------------------------------------------------------------

    def flush(self) -> None:
        """Nothing to do: every write was committed when it returned."""

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            self._closed = True
            db, self._db = self._db, None
        if db is not None:
            db.close()
