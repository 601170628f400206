"""A throw-away PostgreSQL cluster for the tests: initdb and pg_ctl under a temporary folder.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the server runs as
the unprivileged ``postgres`` user Debian's package creates (``nobody`` without it), through
``runuser``. It listens on 127.0.0.1 on a port the OS gave us, and on a socket in its own folder.
Logins over TCP need the password (scram), so a wrong password is refused as in production.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

__all__ = ["PASSWORD", "USER", "PostgresServer", "find_bin"]

USER = "lpbot"
_SHORT_TMP = "/tmp"  # noqa: S108 -- mkdtemp makes a private folder in it
PASSWORD = "lpbot-test-secret"  # a throw-away test cluster


def find_bin(name: str) -> str | None:
    """``name`` from Debian's postgresql package (newest version), else from PATH."""
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted((p for p in base.iterdir() if (p / "bin" / name).exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return str(versions[-1] / "bin" / name)
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server of our own: ``start()``, ``url(db)``, ``restart()``, ``stop()``."""

    def __init__(self) -> None:
        initdb, self._pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if initdb is None or self._pg_ctl is None:
            raise RuntimeError("PostgreSQL's initdb/pg_ctl were not found: install Debian's "
                               "postgresql package (.ci/run does)")
        self._initdb = initdb
        # /tmp, not $TMPDIR: the server's user must reach the folder, and its socket path must
        # stay short
        self.root = Path(tempfile.mkdtemp(prefix="lpbot-pg-",
                                          dir=_SHORT_TMP if Path(_SHORT_TMP).is_dir() else None))
        self.data = self.root / "data"
        self.port = _free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres" if _exists("postgres") else "nobody"
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o700)

    def _run(self, args: Sequence[str]) -> None:
        command = list(args)
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        """initdb (first time) and start the server; returns once it accepts connections."""
        if not self.data.exists():
            password_file = self.root / "pw"
            password_file.write_text(PASSWORD)
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(password_file, entry.pw_uid, entry.pw_gid)
            self._run([self._initdb, "-D", str(self.data), "-U", USER, "--pwfile",
                       str(password_file), "--auth-local=trust", "--auth-host=scram-sha-256",
                       "--no-sync", "-E", "UTF8", "--locale=C"])
            password_file.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([self._pg_ctl, "-D", str(self.data), "-o", options, "-l",
                   str(self.root / "log"), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients; ``immediate``: like a crash)."""
        self._run([self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def restart(self) -> None:
        """Stop (disconnecting every client) and start again on the same port."""
        self.stop()
        self.start()

    def url(self, database: str = "postgres", *, password: str = PASSWORD,
            user: str = USER) -> str:
        """A TCP URL to ``database``."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create a fresh database ``name``; returns its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')  # type: ignore[arg-type]
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def close(self) -> None:
        """Stop the server (if running) and delete its folder."""
        with contextlib.suppress(RuntimeError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True
