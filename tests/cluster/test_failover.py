"""Daemons as subprocesses sharing one bot on PostgreSQL: failover without doubles or losses."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

from .daemons import RENEW, TTL, ClusterSetup, job_runs, owner_of, pid_of, running

EVERY_SECOND = ('[[jobs]]\nid = "tick"\nkind = "call"\nref = "lpbot_fixture_cluster:tick"\n'
                'every = 1\nargs = { path = "{effects}" }\n')


@pytest.fixture
def setup(lp_sandbox: Sandbox, state_url: str, tmp_path: Path) -> ClusterSetup:
    setup = ClusterSetup(sandbox=lp_sandbox, state_url=state_url, folder=tmp_path)
    setup.jobs = EVERY_SECOND.replace("{effects}", str(setup.effects))
    return setup


def assert_each_run_once(setup: ClusterSetup) -> None:
    """Every scheduled time ran (hook lpbot_job_ran) on one daemon at most, and was recorded."""
    ran = [(fields[2], fields[3]) for fields in setup.lines("ran")]
    assert len(ran) == len(set(ran)), f"a scheduled run ran twice: {sorted(ran)}"
    recorded = {(job, when.isoformat()) for job, when, _, _ in job_runs(setup.state_url)}
    assert set(ran) <= recorded


def test_the_scheduler_moves_to_another_daemon_when_its_owner_is_killed(
        setup: ClusterSetup) -> None:
    with running(setup.daemon(1)) as (first,):
        first.wait_for("lease scheduler taken", timeout=30)
        with running(setup.daemon(2)) as (second,):
            second.wait_for("cluster member", timeout=30)
            wait_until(lambda: len(job_runs(setup.state_url)) >= 3, 10, "three runs")
            assert pid_of(owner_of(setup.state_url, "scheduler") or "0:0:0") == first.process.pid
            first.process.kill()  # kill -9 while the every-second job keeps running
            first.wait(timeout=10)
            record = second.wait_for("lease scheduler taken", timeout=TTL + RENEW + 5)
            assert "a failover" in record["message"]
            wait_until(lambda: sum(pid_of(owner) == second.process.pid for _, _, owner, _
                                   in job_runs(setup.state_url)) >= 3, 10, "runs on the second")
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=10) == 0
    runs = job_runs(setup.state_url)
    epochs = sorted({epoch for _, _, _, epoch in runs})
    assert len(epochs) == 2, runs
    gaps = [(b - a).total_seconds() for (_, a, _, _), (_, b, _, _) in zip(runs, runs[1:])]
    # a run missed during the failover is coalesced into the new owner's first run
    assert max(gaps) <= TTL + RENEW + 2.0, gaps
    assert_each_run_once(setup)
