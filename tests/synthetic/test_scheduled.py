"""Scheduled scenarios: a ``[[jobs]]`` entry runs a scenario file on its trigger inside the bot."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from lpbot import hookimpl
from lpbot.sandbox import Sandbox
from lpbot.synthetic.jobs import SCENARIO_RUNS, SCENARIO_STEP_SECONDS
from lpbot.synthetic.results import RunResult
from lpbot.testing.harness import BotHarness, DaemonProcess

QUICK = """
[scenario]
name = "{name}"
timeout = 10

[[steps]]
open_conversation = {{}}
[[steps]]
expect_participant = {{}}
[[steps]]
say = {{ text = "ping {{run}}" }}
[[steps]]
expect_message = {{ contains = "{expect}", timeout = {timeout} }}
[[steps]]
close = {{}}
[[steps]]
expect_closed = {{}}
"""


class Results:
    """A plugin that keeps every scenario result it is given."""

    def __init__(self) -> None:
        self.results: list[RunResult] = []
        self.threads: list[str] = []
        self.lock = threading.Lock()

    @hookimpl(optionalhook=True)
    def lpbot_scenario_result(self, result: RunResult) -> None:
        with self.lock:
            self.results.append(result)
            self.threads.append(threading.current_thread().name)


def job(name: str, scenario: Path, bot: str) -> dict[str, Any]:
    return {"id": f"synthetic-{name}", "kind": "call", "ref": "lpbot.synthetic.jobs:run_scenario",
            "every": 0.5, "start_now": True, "args": {"bot": bot, "scenario": str(scenario)}}


def test_hook_lpbot_scenario_result(lp_sandbox: Sandbox, tmp_path: Path) -> None:
    passing = tmp_path / "passing.toml"
    passing.write_text(QUICK.format(name="passing", expect="ping", timeout=10), encoding="utf-8")
    failing = tmp_path / "failing.toml"
    failing.write_text(QUICK.format(name="failing", expect="never said", timeout=0.2),
                       encoding="utf-8")
    plugin = Results()
    config = {"bot": {"name": "synth-scheduled", "consumers": []},
              "jobs": [job("passing", passing, "synth-scheduled"),
                       job("failing", failing, "synth-scheduled")]}
    with BotHarness(lp_sandbox, state_dir=tmp_path / "state", plugins=[plugin],
                    config=config) as harness:
        harness.events.wait_for("lpbot_scenario_result",
                                lambda call: call["result"].scenario == "passing", timeout=20)
        calls = harness.events.wait_for(
            "lpbot_scenario_result", lambda call: call["result"].scenario == "failing",
            timeout=20)
        counters = harness.bot.counters
        assert counters.value(SCENARIO_RUNS, "passing", "passed") >= 1
        assert counters.value(SCENARIO_RUNS, "failing", "failed") >= 1
        assert counters.histogram(SCENARIO_STEP_SECONDS, "passing",
                                  "steps[3] expect_message").count >= 1
    failed = calls[0]["result"]
    assert not failed.ok
    assert (failed.failure or "").startswith(
        "steps[3] expect_message: no agent message containing 'never said' within 0.2 s "
        "(agent messages received meanwhile: ")
    with plugin.lock:
        passed = [result for result in plugin.results if result.scenario == "passing"]
        threads = list(plugin.threads)
    assert passed
    assert passed[0].ok
    assert all(name.startswith("lpbot-worker-") for name in threads)
    # every run was a consumer of its own in the sandbox
    consumers = {record.consumer_id for record in lp_sandbox.conversations()}
    assert {result.consumer_id for result in plugin.results} <= consumers


def test_a_scheduled_scenario_runs_inside_lpbot_run(tmp_path: Path) -> None:
    scenario = tmp_path / "heartbeat.toml"
    scenario.write_text(QUICK.format(name="heartbeat", expect="ping", timeout=10),
                        encoding="utf-8")
    config = tmp_path / "lpbot.toml"
    config.write_text(f"""
[bot]
name = "main"
consumers = []

[sandbox]
enabled = true
accept_delay = 0.01
reply_delay = 0.01

[[jobs]]
id = "heartbeat"
kind = "call"
ref = "lpbot.synthetic.jobs:run_scenario"
every = 60
start_now = true
args = {{ bot = "main", scenario = {str(scenario)!r} }}
""", encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state")) as daemon:
        record = daemon.wait_for("scenario heartbeat run 1 passed", timeout=30)
        assert record["level"] == "INFO"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=15) == 0
