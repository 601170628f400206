"""Scheduled scenarios: a ``[[jobs]]`` entry runs a scenario file on its trigger inside the bot."""

from __future__ import annotations

import re
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lpbot import hookimpl
from lpbot.cli import main
from lpbot.sandbox import Sandbox
from lpbot.synthetic.jobs import SCENARIO_RUNS, SCENARIO_STEP_SECONDS
from lpbot.synthetic.results import RunResult
from lpbot.testing import wait_until
from lpbot.testing.harness import BotHarness, DaemonProcess
from lpbot_plugins.metrics import Metrics
from lpbot_plugins.transcript_logger import read_transcript

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


def job(name: str, scenario: Path, bot: str, every: float = 0.5) -> dict[str, Any]:
    return {"id": f"synthetic-{name}", "kind": "call", "ref": "lpbot.synthetic.jobs:run_scenario",
            "every": every, "start_now": True, "args": {"bot": bot, "scenario": str(scenario)}}


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``url``'s /metrics, parsed by prometheus-client's own parser."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:  # noqa: S310 (localhost)
        body = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


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


def test_scheduled_results_reach_the_metrics_and_the_transcript_logger(
    lp_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    passing = tmp_path / "passing.toml"
    passing.write_text(QUICK.format(name="passing", expect="ping", timeout=10), encoding="utf-8")
    failing = tmp_path / "failing.toml"
    failing.write_text(QUICK.format(name="failing", expect="never said", timeout=0.2),
                       encoding="utf-8")
    config = {"bot": {"name": "synth-plugins", "consumers": []},
              "plugins": {"metrics": {"enabled": True, "port": 0},
                          "transcript_logger": {"directory": "logs", "fsync": "always"}},
              "jobs": [job("passing", passing, "synth-plugins", every=3600),
                       job("failing", failing, "synth-plugins", every=3600)]}
    plugins = ["lpbot_plugins.metrics", "lpbot_plugins.transcript_logger"]
    logs = tmp_path / "state" / "logs"
    with BotHarness(lp_sandbox, state_dir=tmp_path / "state", plugins=plugins,
                    config=config) as harness:
        for name in ("passing", "failing"):
            harness.events.wait_for("lpbot_scenario_result",
                                    lambda call, name=name: call["result"].scenario == name,
                                    timeout=20)
        metrics = harness.bot.plugin_manager.get_plugin("metrics.instance")
        assert isinstance(metrics, Metrics)
        samples = wait_until(lambda: (lambda s: s if sample(
            s, "lpbot_scenario_runs_total", scenario="failing", outcome="failed") and sample(
            s, "lpbot_scenario_runs_total", scenario="passing", outcome="passed") else None)(
            scrape(metrics.url)), 10, "both runs counted by the metrics plugin")
        calls = harness.events.calls("lpbot_scenario_result")
        assert len(calls) == 2  # one run of each: the jobs are hourly
        results: dict[str, RunResult] = {c["result"].scenario: c["result"] for c in calls}
        for result in results.values():
            path = logs / f"{result.conversation_id}.jsonl"
            wait_until(lambda path=path: path.exists() and any(
                r["kind"] == "scenario_result" for r in read_transcript(path)), 10,
                "the run in the transcript")
    ok, failed = results["passing"], results["failing"]
    assert ok.ok
    assert not failed.ok
    # the metrics: runs by outcome, every step's latency, first response
    assert sample(samples, "lpbot_scenario_runs_total", scenario="passing", outcome="failed") == 0
    for result in (ok, failed):
        for step in result.steps:
            labels = {"scenario": result.scenario, "step": f"steps[{step.index}] {step.kind}"}
            assert sample(samples, "lpbot_scenario_step_seconds_count", **labels) == 1
            assert sample(samples, "lpbot_scenario_step_seconds_sum", **labels) == \
                pytest.approx(step.duration)
    assert len(failed.steps) == 4  # stopped at the failed expect step: no close step counted
    assert sample(samples, "lpbot_scenario_step_seconds_count", scenario="failing",
                  step="steps[4] close") == 0
    assert ok.first_response is not None
    assert sample(samples, "lpbot_scenario_first_response_seconds_sum", scenario="passing") == \
        pytest.approx(ok.first_response)
    # the transcript: what the consumer saw, as the sandbox recorded it, then the outcome
    for result in (ok, failed):
        records = list(read_transcript(logs / f"{result.conversation_id}.jsonl"))
        lines = [r for r in records if r["kind"] == "scenario_line"]
        assert [(r["who"], r["text"]) for r in lines] == [
            (line.who, line.text) for line in result.transcript]
        said = [(r["scenario_sequence"], r["text"]) for r in lines if r["who"] != "system"]
        recorded = lp_sandbox.conversation(result.conversation_id or "")
        assert said == [(e.sequence, e.text) for e in recorded.events if e.text is not None]
        assert records[-1]["kind"] == "scenario_result"
        assert records[-1]["ok"] is result.ok
        assert records[-1]["failure"] == result.failure
        assert [step["kind"] for step in records[-1]["steps"]] == [
            step.kind for step in result.steps]
    assert main(["transcript", failed.conversation_id or "", "--dir", str(logs)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(re.search(r"  CONSUMER +#\d+  ping 1$", line) for line in printed)
    assert any(re.search(r"  ASSIGNED_AGENT +#\d+  ping 1$", line) for line in printed)
    assert printed[-1].endswith(f"-- scenario failing run 1 FAILED {failed.failure} "
                                f"in {failed.duration:.3f} s, first response "
                                f"{(failed.first_response or 0) * 1000:.0f} ms")
