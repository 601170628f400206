"""The state directory: consumer identities and the last handled sequence of each dialog.

One SQLite database (``lpbot.sqlite3``) in WAL mode. Every write is one transaction, so a process
killed at any moment (SIGKILL included) leaves either the old or the new value, never a torn one;
``synchronous=NORMAL`` keeps WAL commits durable across a process crash without an fsync per
event (a power cut may lose the last commits, which then arrive again and are de-duplicated by
sequence). One connection serves every thread, behind a lock.

Sequences only move forward: :meth:`StateStore.commit_sequence` keeps the larger value, so a
late or repeated commit can never make a restarted client re-deliver handled events. The rows
of dialogs that closed long ago are deleted (:meth:`StateStore.forget_sequences`) when the client
forgets them for good, so the table does not grow with every conversation ever had.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from lpbot.errors import StateError

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "StateStore",
    "StoredIdentity",
    "describe_sqlite_error",
    "make_state_dir",
]

log = logging.getLogger(__name__)

#: file name of the database inside the state directory
DB_NAME: Final = "lpbot.sqlite3"
#: stored in the database header (``PRAGMA user_version``); writing it at open proves the file
#: is writable before anything depends on it
SCHEMA_VERSION: Final = 1
#: held while a store sets its connection up (see StateStore.__init__)
_SETUP_LOCK: Final = threading.Lock()
#: what an operator can do about SQLite's terse errors
_ADVICE: Final = {
    "file is not a database": "it is not an SQLite database: move it away (a new one is made) "
                              "or restore it from a backup",
    "database disk image is malformed": "it is damaged: move it away (a new one is made) or "
                                        "restore it from a backup",
    "readonly database": "lpbot must be able to write it: check the file's and the "
                         "directory's permissions, attributes (lsattr) and mount",
    "database is locked": "another process holds it: is another lpbot running on this "
                          "state directory?",
    "unable to open database file": "check that the directory exists and is writable",
    "disk i/o error": "check the disk",
    "database or disk is full": "free some space on its disk",
}

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS identities (
        key TEXT PRIMARY KEY,
        consumer_id TEXT NOT NULL,
        token TEXT NOT NULL,
        authenticated INTEGER NOT NULL,
        updated REAL NOT NULL,
        external_token TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS sequences (
        consumer_id TEXT NOT NULL,
        dialog_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (consumer_id, dialog_id)
    )""",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredIdentity:
    """A persisted consumer identity; ``repr`` never shows the token."""

    consumer_id: str
    token: str = field(repr=False)
    authenticated: bool
    #: the ACR0 external token the consumer token was made from (protocol notes §2.4), kept to
    #: refresh the same consumer after a restart; ``None`` for the other flows
    external_token: str | None = field(default=None, repr=False)


class StateStore:
    """Thread-safe store of identities and per-dialog sequences in ``directory``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp, StateStore(Path(tmp)) as store:
        ...     store.commit_sequence("consumer", "dialog", 3)
        ...     store.commit_sequence("consumer", "dialog", 2)   # never moves back
        ...     store.sequences("consumer")
        True
        False
        {'dialog': 3}
    """

    def __init__(self, directory: Path | str) -> None:
        """Open (or create) the store in ``directory``.

        Raises:
            StateError: the directory cannot be made or written, or ``lpbot.sqlite3`` is not a
                database lpbot can write (junk, damaged, read-only, locked); the message names
                the path and what to do.
        """
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        make_state_dir(self.directory)
        self._lock = threading.Lock()
        with self._failing("cannot open"):
            # isolation_level=None: we open transactions ourselves, one per write.
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                 timeout=10.0)
        try:
            with _SETUP_LOCK, self._failing("cannot use"):
                # The WAL mode is stored in the file, so only a new file is switched. The switch
                # needs the file to itself, and SQLite refuses it at once ("database is locked")
                # rather than waiting out the timeout: stores opened together (a bot adding
                # consumers from several threads) take turns here.
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                for statement in _SCHEMA:
                    db.execute(statement)
                columns = {row[1] for row in db.execute("PRAGMA table_info(identities)")}
                if "external_token" not in columns:  # a directory written before ACR0 support
                    db.execute("ALTER TABLE identities ADD COLUMN external_token TEXT")
                # A write, so a read-only file fails here and not at the first commit.
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            db.close()
            raise
        self._db: sqlite3.Connection | None = db

    @contextmanager
    def _failing(self, action: str) -> Iterator[None]:
        """Turn SQLite's errors into a ``StateError`` naming the database file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(f"{action} the state database: {describe_sqlite_error(exc)}",
                             path=str(self.path)) from exc

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r})"

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError("state store is closed")
        return self._db

    # --- identities ---------------------------------------------------------------------

    def load_identity(self, key: str) -> StoredIdentity | None:
        """Return the identity saved under ``key`` (e.g. ``"account/default"``), if any."""
        with self._lock, self._failing("cannot read"):
            row = self._conn().execute(
                "SELECT consumer_id, token, authenticated, external_token FROM identities "
                "WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return StoredIdentity(consumer_id=row[0], token=row[1], authenticated=bool(row[2]),
                              external_token=row[3])

    def save_identity(self, key: str, identity: StoredIdentity) -> None:
        """Persist ``identity`` under ``key`` atomically (replacing any older one)."""
        with self._lock, self._failing("cannot save an identity in"):
            self._conn().execute(
                "INSERT INTO identities (key, consumer_id, token, authenticated, updated, "
                "external_token) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "consumer_id = excluded.consumer_id, token = excluded.token, "
                "authenticated = excluded.authenticated, updated = excluded.updated, "
                "external_token = excluded.external_token",
                (key, identity.consumer_id, identity.token, int(identity.authenticated),
                 time.time(), identity.external_token),
            )

    def forget_identity(self, key: str) -> None:
        """Delete the identity saved under ``key``."""
        with self._lock, self._failing("cannot write"):
            self._conn().execute("DELETE FROM identities WHERE key = ?", (key,))

    # --- sequences ----------------------------------------------------------------------

    def commit_sequence(self, consumer_id: str, dialog_id: str, sequence: int) -> bool:
        """Record that ``sequence`` of ``dialog_id`` was handled; True when it moved forward.

        Raises:
            StateError: the write failed (read-only or full disk, damaged file...).
        """
        with self._lock, self._failing("cannot commit a sequence to"):
            cursor = self._conn().execute(
                "INSERT INTO sequences (consumer_id, dialog_id, sequence, updated) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(consumer_id, dialog_id) DO UPDATE SET "
                "sequence = excluded.sequence, updated = excluded.updated "
                "WHERE excluded.sequence > sequences.sequence",
                (consumer_id, dialog_id, sequence, time.time()),
            )
            return cursor.rowcount > 0

    def last_sequence(self, consumer_id: str, dialog_id: str) -> int | None:
        """The last committed sequence of ``dialog_id``, or ``None`` when none was."""
        with self._lock, self._failing("cannot read"):
            row = self._conn().execute(
                "SELECT sequence FROM sequences WHERE consumer_id = ? AND dialog_id = ?",
                (consumer_id, dialog_id),
            ).fetchone()
        return None if row is None else int(row[0])

    def sequences(self, consumer_id: str) -> dict[str, int]:
        """Every dialog's last committed sequence for ``consumer_id``."""
        with self._lock, self._failing("cannot read"):
            rows = self._conn().execute(
                "SELECT dialog_id, sequence FROM sequences WHERE consumer_id = ?", (consumer_id,)
            ).fetchall()
        return {str(dialog): int(seq) for dialog, seq in rows}

    def forget_sequences(self, consumer_id: str, dialog_ids: Iterable[str]) -> int:
        """Delete the sequences of dialogs the client forgot for good; returns rows deleted.

        Only for dialogs that closed long ago: a restarted client does not subscribe a closed
        dialog it has no sequence for, so nothing is delivered again.
        """
        rows = [(consumer_id, dialog_id) for dialog_id in dialog_ids]
        with self._lock, self._failing("cannot write"):
            db = self._conn()
            db.execute("BEGIN")
            try:
                deleted = sum(db.execute(
                    "DELETE FROM sequences WHERE consumer_id = ? AND dialog_id = ?", row
                ).rowcount for row in rows)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return deleted

    # --- lifecycle ----------------------------------------------------------------------

    def flush(self) -> None:
        """Checkpoint the WAL into the main database file (used at shutdown)."""
        with self._lock:
            if self._db is not None:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Checkpoint and close; idempotent."""
        with self._lock:
            db, self._db = self._db, None
        if db is None:
            return
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # another process may hold the WAL; closing still works
            log.debug("checkpoint at close failed: %s", exc)
        db.close()


def make_state_dir(directory: Path) -> None:
    """Create ``directory`` (and its parents) unless it exists; raises ``StateError``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StateError("the state directory is a file, not a directory: move it away or "
                         "choose another --state-dir", path=str(directory)) from exc
    except OSError as exc:
        raise StateError(f"cannot create the state directory: {exc.strerror or exc}",
                         path=str(directory)) from exc


def describe_sqlite_error(error: sqlite3.Error) -> str:
    """SQLite's message, and what an operator can do about it."""
    message = str(error)
    lowered = message.lower()
    advice = next((text for cause, text in _ADVICE.items() if cause in lowered), None)
    return f"{message} ({advice})" if advice else message
