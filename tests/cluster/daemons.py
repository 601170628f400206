"""Daemons of one bot as subprocesses against one sandbox and one PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from lpbot.sandbox import Sandbox
from lpbot.testing.harness import DaemonProcess

FIXTURES = Path(__file__).resolve().parent.parent / "plugins" / "fixtures"
ENV = {"PYTHONPATH": str(FIXTURES)}
#: a short lease, so that the failover tests stay quick
TTL = 2.0
RENEW = TTL / 3


@dataclass
class ClusterSetup:
    """One bot's config for daemons sharing ``state_url``; ``effects`` collects their lines."""

    sandbox: Sandbox
    state_url: str
    folder: Path
    consumers: Sequence[str] = ("one",)
    max_consumers: int = 0
    jobs: str = ""
    delay: float = 0.0
    reply: str = ""  # answer the agent's texts that start with this
    extra: str = ""
    enabled: Sequence[str] = ()
    ttl: float = TTL

    @property
    def effects(self) -> Path:
        return self.folder / "effects.log"

    def config(self, state_url: str | None = None) -> Path:
        """Write the config (with another ``state_url``: a file of its own); its path."""
        path = self.folder / ("cluster.toml" if state_url is None else "cluster-other.toml")
        path.write_text(
            f'[bot]\nname = "cluster"\nconsumers = {list(self.consumers)!r}\n'
            f'state_url = "{state_url or self.state_url}"\nlease_ttl = {self.ttl}\n'
            f'max_consumers = {self.max_consumers}\nstop_timeout = 3\n'
            f'[account]\nid = "{self.sandbox.account}"\n'
            f'csds_domain = "{self.sandbox.csds_domain}"\ntls = false\n'
            '[scheduler]\nmisfire_grace_time = 30\n'
            f'{self.jobs}'
            f'[plugins]\nenabled = {list(self.enabled)!r}\n'
            'modules = { lpbot_fixture_cluster = "lpbot_fixture_cluster" }\n'
            f'[plugins.lpbot_fixture_cluster]\npath = "{self.effects}"\ndelay = {self.delay}\n'
            f'reply = "{self.reply}"\n'
            f'{self.extra}', encoding="utf-8")
        return path

    def daemon(self, index: int, state_url: str | None = None) -> DaemonProcess:
        """A daemon, not started yet (enter it); ``state_url``: reach the database another way."""
        state_dir = self.folder / f"state-{index}"
        return DaemonProcess("--config", str(self.config(state_url)), "--state-dir",
                             str(state_dir), env=ENV)

    def lines(self, kind: str) -> list[list[str]]:
        """The effect lines of one kind, split: ``[pid, kind, ...]``."""
        if not self.effects.exists():
            return []
        return [line.split() for line in self.effects.read_text().splitlines()
                if line.split()[1:2] == [kind]]


@contextlib.contextmanager
def running(*daemons: DaemonProcess) -> Iterator[tuple[DaemonProcess, ...]]:
    """Enter every daemon; on the way out each is killed if still running."""
    with contextlib.ExitStack() as stack:
        yield tuple(stack.enter_context(daemon) for daemon in daemons)


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description is not None else []


def job_runs(url: str) -> list[tuple[str, datetime, str, int]]:
    """(job id, scheduled time, owner, epoch) of every recorded run, in time order."""
    return [tuple(row) for row in query(  # type: ignore[misc]
        url, "SELECT job_id, scheduled_at, owner, epoch FROM lpbot_job_runs "
             "ORDER BY scheduled_at")]


def owner_of(url: str, lease: str) -> str | None:
    rows = query(url, "SELECT owner FROM lpbot_leases WHERE name = %s AND expires_at > now()",
                 (lease,))
    return str(rows[0][0]) if rows else None


def pid_of(owner: str) -> int:
    """The process id in a daemon's owner id ``host:pid:random``."""
    return int(owner.split(":")[-2])
