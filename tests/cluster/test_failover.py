"""Daemons as subprocesses sharing one bot on PostgreSQL: failover without doubles or losses."""

from __future__ import annotations

import itertools
import json
import signal
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.date import DateTrigger

from lpbot.cli import main
from lpbot.client.state_pg import connect, migrate
from lpbot.runtime.scheduler import Scheduler
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import DaemonProcess

from .daemons import RENEW, TTL, ClusterSetup, job_runs, owner_of, pid_of, query, running
from .postgres import PostgresServer
from .proxy import Proxy

EVERY_SECOND = ('[[jobs]]\nid = "tick"\nkind = "call"\nref = "lpbot_fixture_cluster:tick"\n'
                'every = 1\nargs = { path = "{effects}" }\n')

#: opens the conversation of consumer "one", which therefore moves with the scheduler
OPEN_ONE = ('[[jobs]]\nid = "open"\nkind = "open_conversation"\nevery = 3600\n'
            'start_now = true\nargs = { consumer = "one", first_message = "hi" }\n')


@pytest.fixture
def setup(lp_sandbox: Sandbox, state_url: str, tmp_path: Path) -> ClusterSetup:
    setup = ClusterSetup(sandbox=lp_sandbox, state_url=state_url, folder=tmp_path)
    with connect(state_url) as conn:
        migrate(conn)  # the tables exist before a test looks at them (the daemons re-check)
    setup.jobs = EVERY_SECOND.replace("{effects}", str(setup.effects))
    return setup


def scheduler_owner_first(daemons: Sequence[DaemonProcess]) -> list[DaemonProcess]:
    """The daemons, the one that took the scheduler first (waits for it)."""
    def owner() -> DaemonProcess | None:
        return next((daemon for daemon in daemons
                     if any("lease scheduler taken" in m for m in daemon.messages())), None)

    wait_until(lambda: owner() is not None, 30, "a daemon to take the scheduler")
    first = owner()
    assert first is not None
    for daemon in daemons:
        daemon.wait_for("cluster member", timeout=30)
    return [first, *(daemon for daemon in daemons if daemon is not first)]


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
    gaps = [(b - a).total_seconds() for (_, a, _, _), (_, b, _, _) in itertools.pairwise(runs)]
    # a run missed during the failover is coalesced into the new owner's first run
    assert max(gaps) <= TTL + RENEW + 2.0, gaps
    assert_each_run_once(setup)


def test_a_frozen_owner_that_wakes_acts_on_nothing(setup: ClusterSetup) -> None:
    with running(setup.daemon(1), setup.daemon(2)) as daemons:
        first, second = scheduler_owner_first(daemons)
        wait_until(lambda: len(job_runs(setup.state_url)) >= 2, 10, "two runs")
        first.send_signal(signal.SIGSTOP)
        try:
            second.wait_for("lease scheduler taken", timeout=TTL + RENEW + 5)
            wait_until(lambda: sum(pid_of(owner) == second.process.pid for _, _, owner, _
                                   in job_runs(setup.state_url)) >= 2, 10, "runs on the second")
            before = len(setup.lines("tick"))
            stale = [line for line in setup.lines("tick") if line[0] == str(first.process.pid)]
        finally:
            first.send_signal(signal.SIGCONT)
        first.wait_for("lease scheduler (epoch 1) lost", timeout=10)
        wait_until(lambda: len(setup.lines("tick")) >= before + 3, 10, "three more ticks")
        for daemon in (first, second):
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
    after_wake = [line for line in setup.lines("tick") if line[0] == str(first.process.pid)]
    assert after_wake == stale, "the frozen daemon ran a job after it woke up"
    assert_each_run_once(setup)


def test_no_agent_message_is_lost_when_the_consumer_owner_is_killed_mid_burst(
        setup: ClusterSetup, lp_sandbox: Sandbox) -> None:
    setup.jobs = OPEN_ONE
    setup.delay = 0.005  # 200 messages take a second of hook work
    with running(setup.daemon(1), setup.daemon(2)) as daemons:
        first, second = scheduler_owner_first(daemons)
        conversation_id = lp_sandbox.wait_for_conversation(timeout=30).conversation_id
        lp_sandbox.wait_until(
            lambda: lp_sandbox.conversation(conversation_id).assigned_agent_id, timeout=10)
        sent = lp_sandbox.agents.burst(conversation_id, 200, prefix="first")
        wait_until(lambda: len(setup.lines("message")) >= 50, 10, "the burst half-delivered")
        first.process.kill()
        first.wait(timeout=10)
        sent += lp_sandbox.agents.burst(conversation_id, 200, prefix="second")
        second.wait_for("lease consumer:one taken", timeout=TTL + RENEW + 5)

        def delivered() -> set[int]:
            return {int(fields[3]) for fields in setup.lines("message")}

        wait_until(lambda: set(sent) <= delivered(), 20, "every sequence delivered")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
    by_first = [f for f in setup.lines("message") if f[0] == str(first.process.pid)]
    assert by_first, "the first daemon delivered nothing before it was killed"
    assert len(by_first) < len(sent)


def test_three_daemons_share_the_consumers_and_take_over_a_killed_ones(
        setup: ClusterSetup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.consumers, setup.max_consumers, setup.jobs = ("a", "b", "c"), 2, ""
    leases = [f"consumer:{name}" for name in setup.consumers]

    def owners() -> dict[str, str | None]:
        return {lease: owner_of(setup.state_url, lease) for lease in [*leases, "scheduler"]}

    with running(setup.daemon(1), setup.daemon(2), setup.daemon(3)) as daemons:
        wait_until(lambda: None not in owners().values(), 30, "every lease taken")
        holders = {pid_of(owner) for owner in owners().values() if owner is not None}
        assert len(holders) >= 2, "two consumers at most per daemon: the work is shared"
        victim = next(d for d in daemons if d.process.pid == pid_of(owners()["consumer:a"]))
        victim.process.kill()
        victim.wait(timeout=10)
        alive = {d.process.pid for d in daemons if d is not victim}
        wait_until(lambda: all(owner is not None and pid_of(owner) in alive
                               for owner in owners().values()), TTL + RENEW + 10,
                   "the killed daemon's leases taken over")
        wait_until(lambda: query(setup.state_url, "SELECT sum(failovers) FROM lpbot_daemons")
                   [0][0] >= 1, 5, "the failover counted")
        assert main(["cluster", "status", "--config", str(setup.config()),
                     "--format", "json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert {d["pid"]: d["state"] for d in status["daemons"]}[victim.process.pid] == "silent"
        held = sorted(name for d in status["daemons"] for name in d["leases"])
        assert held == sorted([*leases, "scheduler"])
        assert sum(d["failovers"] for d in status["daemons"]) >= 1
        assert main(["cluster", "status", "--config", str(setup.config())]) == 0
        assert "consumer:a" in capsys.readouterr().out
        for daemon in daemons:
            if daemon is not victim:
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(timeout=10) == 0


def test_a_database_restart_leaves_every_run_single(setup: ClusterSetup,
                                                    postgres: PostgresServer) -> None:
    with running(setup.daemon(1), setup.daemon(2)) as daemons:
        scheduler_owner_first(daemons)
        wait_until(lambda: len(job_runs(setup.state_url)) >= 2, 10, "two runs")
        postgres.restart()
        restarted = len(job_runs(setup.state_url))
        wait_until(lambda: len(job_runs(setup.state_url)) >= restarted + 3, 20,
                   "runs after the restart")
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
    assert_each_run_once(setup)
    assert len(setup.lines("tick")) == len(setup.lines("ran"))


def test_a_daemon_cut_off_from_the_database_stops_and_another_takes_over(
        setup: ClusterSetup, postgres: PostgresServer) -> None:
    with Proxy(("127.0.0.1", postgres.port)) as proxy, \
            running(setup.daemon(1, proxy.url(setup.state_url))) as (first,):
        first.wait_for("lease scheduler taken", timeout=30)
        with running(setup.daemon(2)) as (second,):
            second.wait_for("cluster member", timeout=30)
            wait_until(lambda: len(job_runs(setup.state_url)) >= 2, 10, "two runs")
            proxy.cut()
            first.wait_for("lease scheduler (epoch 1) lost", timeout=TTL + RENEW + 3)
            second.wait_for("lease scheduler taken", timeout=TTL + RENEW + 5)
            wait_until(lambda: sum(pid_of(owner) == second.process.pid for _, _, owner, _
                                   in job_runs(setup.state_url)) >= 3, 10, "runs on the second")
            proxy.heal()
            first.wait_for("state database reachable again", timeout=20)
            taken_over = min(when for _, when, owner, _ in job_runs(setup.state_url)
                             if pid_of(owner) == second.process.pid)
            for daemon in (first, second):
                daemon.send_signal(signal.SIGTERM)
                assert daemon.wait(timeout=15) == 0
    late = [fields for fields in setup.lines("ran") if fields[0] == str(first.process.pid)
            and fields[3] >= taken_over.isoformat()]
    assert late == [], "the cut-off daemon ran a job after another took the scheduler over"
    assert_each_run_once(setup)


def test_a_run_that_fell_due_while_no_daemon_ran_the_scheduler_is_reported_missed(
        setup: ClusterSetup) -> None:
    def once_at(when: datetime) -> str:
        return ('[[jobs]]\nid = "once"\nkind = "call"\nref = "lpbot_fixture_cluster:tick"\n'
                f'at = {when.strftime("%Y-%m-%dT%H:%M:%SZ")}\nmisfire_grace_time = 1\n'
                f'args = {{ path = "{setup.effects}" }}\n')

    now = query(setup.state_url, "SELECT date_trunc('second', now())")[0][0]
    setup.jobs = once_at(now + timedelta(hours=1))
    with running(setup.daemon(1)) as (first,):
        first.wait_for("scheduler started", timeout=30)
        first.process.kill()  # the owner dies before the run is due
        first.wait(timeout=10)
    # As if the run had been due soon all along (however slowly the daemon started): the
    # stored job falls due while no daemon runs the scheduler.
    due = query(setup.state_url, "SELECT date_trunc('second', now()) + interval '1 second'")[0][0]
    store = Scheduler(url=setup.state_url.replace("postgresql://", "postgresql+psycopg://"),
                      tablename="lpbot_jobs_cluster")
    store.start(paused=True)
    store.scheduler.reschedule_job("once", trigger=DateTrigger(run_date=due, timezone="UTC"))
    assert store.shutdown(5)
    setup.jobs = once_at(due)  # the same job: the next owner keeps the stored one
    wait_until(lambda: query(setup.state_url, "SELECT now() > %s + interval '1.5 seconds'",
                             (due,))[0][0], 15, "the run to fall due and its grace to pass")
    with running(setup.daemon(2)) as (second,):
        second.wait_for("lease scheduler taken", timeout=30)
        wait_until(lambda: setup.lines("missed"), 10, "lpbot_job_missed on the new owner")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
    assert [fields[:4] for fields in setup.lines("missed")] == [
        [str(second.process.pid), "missed", "once", due.isoformat()]]
    assert setup.lines("tick") == []


def test_a_frozen_consumer_owner_that_wakes_sends_nothing(setup: ClusterSetup,
                                                         lp_sandbox: Sandbox) -> None:
    setup.jobs = OPEN_ONE
    setup.reply = "while frozen"
    with running(setup.daemon(1), setup.daemon(2)) as daemons:
        first, second = scheduler_owner_first(daemons)
        conversation_id = lp_sandbox.wait_for_conversation(timeout=30).conversation_id
        lp_sandbox.wait_until(
            lambda: lp_sandbox.conversation(conversation_id).assigned_agent_id, timeout=10)
        first.send_signal(signal.SIGSTOP)
        try:
            texts = [f"while frozen {index}" for index in range(5)]
            for text in texts:  # they reach the frozen daemon's socket too
                lp_sandbox.agents.say(conversation_id, text)
            second.wait_for("lease consumer:one taken", timeout=TTL + RENEW + 5)

            def replies() -> list[str]:
                return [str(event.event.get("message")) for event
                        in lp_sandbox.conversation(conversation_id).events
                        if event.role == "CONSUMER" and event.event_type == "ContentEvent"]

            wait_until(lambda: all(f"re {text}" in replies() for text in texts), 20,
                       "the new owner to answer every message")
        finally:
            first.send_signal(signal.SIGCONT)
        first.wait_for("consumer one closed and removed", timeout=10)
        for daemon in (first, second):
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
    answered = [text for text in replies() if text.startswith("re while frozen")]
    assert sorted(answered) == sorted(f"re {text}" for text in texts), answered
