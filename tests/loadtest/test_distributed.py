"""Locust's distributed mode on this machine: a master, two workers, a sandbox in its own process.

Everything runs on loopback. The sandbox is ``lpbot sandbox --port 0`` (it prints the URL that
is Locust's ``--host``); the master gets the scenario list and passes it to the workers with
each spawn message. Each worker counts its own request events (``counting_locustfile.py``), and
the master's figures must be their sum.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lpbot.loadtest.consumer import measured_names
from lpbot.synthetic.scenario import parse_scenario

from .conftest import (
    COUNTING_LOCUSTFILE,
    HEADLESS,
    QUICK,
    csv_stats,
    finish,
    free_port,
    locust,
    logs,
    stats,
)


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """``lpbot sandbox`` in its own process on free ports; its domain-lookup URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", "--accept-delay", "0.01",
         "--reply-delay", "0.01"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            assert selector.select(30), "lpbot sandbox printed no URL within 30 s"
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        assert server.wait(30) == 0
        server.stdout.close()


def test_master_and_two_workers_add_up(sandbox_url: str, tmp_path: Path) -> None:
    (tmp_path / "quick.toml").write_text(QUICK, encoding="utf-8")
    counts = tmp_path / "counts"
    counts.mkdir()
    port = str(free_port())
    env = {"LPBOT_TEST_COUNTS": str(counts)}
    master = locust("-f", str(COUNTING_LOCUSTFILE), *HEADLESS, "--master",
                    "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                    "--expect-workers", "2", "-u", "20", "-r", "20", "-t", "4s",
                    "--host", sandbox_url, "--lpbot-scenarios", str(tmp_path / "quick.toml"),
                    "--csv", "out", "--json-file", "out", cwd=tmp_path, name="master", env=env)
    workers = [locust("-f", str(COUNTING_LOCUSTFILE), "--worker", "--master-host", "127.0.0.1",
                      "--master-port", port, cwd=tmp_path, name=f"worker{n}", env=env)
               for n in (1, 2)]
    assert finish(master, tmp_path) == 0, logs(tmp_path)
    for worker in workers:
        assert finish(worker, tmp_path) == 0, logs(tmp_path)

    own = [json.loads(path.read_text(encoding="utf-8")) for path in counts.glob("*.json")]
    assert len(own) == 2, logs(tmp_path)
    names = measured_names(parse_scenario(QUICK))
    combined = stats(tmp_path / "out")
    table = csv_stats(tmp_path / "out")
    assert sorted(combined) == sorted(names) == sorted(table)
    for name in names:
        per_worker = [worker.get(name, [0, 0])[0] for worker in own]
        assert all(count > 0 for count in per_worker), (name, per_worker)
        assert combined[name].requests == sum(per_worker), name
        assert combined[name].failures == 0, name
        # the CSV is rewritten every second: it holds at least more than any one worker did
        assert max(per_worker) < table[name].requests <= sum(per_worker), name
    assert combined[names[0]].requests == 20  # 20 consumers connected, across both workers
