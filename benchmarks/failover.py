"""Failover time: kill -9 of the daemon holding the scheduler and a consumer, to the first action
of the daemon that takes them over. Median and max over N runs, printed against lease_ttl.

Two daemons (``lpbot run`` subprocesses) share one bot on a throw-away PostgreSQL server and an
in-process sandbox. The first takes the scheduler (an every-second job) and the consumer its
``open_conversation`` job uses. Each run kills that daemon with SIGKILL at a random moment of
its renewal cycle, has an agent write to the conversation, and measures on the survivor:

* scheduler: the first job run it records (``lpbot_job_runs.started_at``);
* consumer: the first agent message its hooks receive (the test plugin writes the time).

Target: at most ``lease_ttl`` + 1 s for both. Run: ``python benchmarks/failover.py [--runs 10]
[--ttl 2]``.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lpbot.client.state_pg import connect, migrate  # noqa: E402
from lpbot.sandbox import AgentOptions, Sandbox  # noqa: E402
from lpbot.testing import wait_until  # noqa: E402
from tests.cluster.daemons import ClusterSetup, job_runs, pid_of, running  # noqa: E402
from tests.cluster.postgres import PostgresServer  # noqa: E402

JOBS = ('[[jobs]]\nid = "open"\nkind = "open_conversation"\nevery = 3600\nstart_now = true\n'
        'args = {{ consumer = "one" }}\n'
        '[[jobs]]\nid = "tick"\nkind = "call"\nref = "lpbot_fixture_cluster:tick"\nevery = 1\n'
        'args = {{ path = "{effects}" }}\n')


def one_run(sandbox: Sandbox, server: PostgresServer, index: int, ttl: float,
            folder: Path) -> tuple[float, float]:
    """(scheduler failover, consumer failover) in seconds for one kill -9."""
    url = server.create_database(f"failover_{index}")
    with connect(url) as conn:
        migrate(conn)
    setup = ClusterSetup(sandbox=sandbox, state_url=url, folder=folder / str(index), ttl=ttl)
    setup.folder.mkdir()
    setup.jobs = JOBS.format(effects=setup.effects)
    before = {c.conversation_id for c in sandbox.conversations()}
    with running(setup.daemon(1)) as (first,):
        first.wait_for("lease consumer:one taken", timeout=60)
        conversation = sandbox.wait_until(lambda: next(
            (c.conversation_id for c in sandbox.conversations() if c.conversation_id not in before),
            None), 30)
        sandbox.wait_until(lambda: sandbox.conversation(conversation).assigned_agent_id, 10)
        with running(setup.daemon(2)) as (second,):
            second.wait_for("cluster member", timeout=60)
            wait_until(lambda: len(job_runs(url)) >= 2, 10, "runs on the first daemon")
            time.sleep(random.uniform(0, ttl / 3))  # a random moment of the renewal cycle
            killed = time.time()
            first.process.kill()
            first.wait(timeout=10)
            sandbox.agents.say(conversation, "are you there?")

            def firsts() -> tuple[float, float] | None:
                runs = [when.timestamp() for _, when, owner, _ in _started(url)
                        if pid_of(owner) == second.process.pid]
                messages = [float(f[4]) for f in setup.lines("message")
                            if f[0] == str(second.process.pid)]
                return (min(runs), min(messages)) if runs and messages else None

            try:
                wait_until(lambda: firsts() is not None, ttl + 30, "the survivor acting")
            except AssertionError:
                print("\n".join(second.messages()[-25:]), file=sys.stderr)
                print(f"runs: {_started(url)}", file=sys.stderr)
                raise
            scheduler_at, consumer_at = firsts()  # type: ignore[misc]
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=15)
    return scheduler_at - killed, consumer_at - killed


def _started(url: str) -> list[tuple[str, object, str, int]]:
    from tests.cluster.daemons import query

    return [(str(r[0]), r[1], str(r[2]), int(r[3])) for r in query(
        url, "SELECT job_id, started_at, owner, epoch FROM lpbot_job_runs ORDER BY started_at")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--ttl", type=float, default=2.0, help="lease_ttl in seconds")
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    agents = AgentOptions(mode="silent", greeting=None, receipts=False, typing=False,
                          accept_delay=0.01)
    scheduler: list[float] = []
    consumer: list[float] = []
    try:
        with Sandbox(host="127.0.0.1", port=0, ws_port=0, agents=agents) as sandbox, \
                tempfile.TemporaryDirectory() as tmp:
            for index in range(args.runs):
                took = one_run(sandbox, server, index, args.ttl, Path(tmp))
                scheduler.append(took[0])
                consumer.append(took[1])
                print(f"run {index + 1}: scheduler {took[0]:.2f} s, consumer {took[1]:.2f} s",
                      flush=True)
    finally:
        server.close()
    target = args.ttl + 1.0
    print(f"\nlease_ttl {args.ttl:g} s (renewed every {args.ttl / 3:.2f} s), "
          f"target <= lease_ttl + 1 s = {target:g} s, {args.runs} runs")
    ok = True
    for name, values in (("scheduler", scheduler), ("consumer", consumer)):
        worst = max(values)
        ok &= worst <= target
        print(f"{name:<10} median {statistics.median(values):.2f} s "
              f"({statistics.median(values) / args.ttl:.2f} x lease_ttl), max {worst:.2f} s "
              f"({worst / args.ttl:.2f} x lease_ttl): {'OK' if worst <= target else 'OVER'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
