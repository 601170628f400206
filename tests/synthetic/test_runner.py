"""Scenario runs against the sandbox: passing, failing on a silent agent, concurrent, stopped."""

from __future__ import annotations

import itertools
import json
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.synthetic.reports import json_report, junit_xml, write_json, write_junit
from lpbot.synthetic.runner import Runner
from lpbot.synthetic.scenario import load_scenario, parse_scenario
from lpbot.synthetic.target import sandbox_options, start_sandbox
from lpbot.testing import FAST_AGENTS, wait_until

from .conftest import SCENARIOS, options_for

#: every run says its own number and expects the echo of exactly that: no cross-talk
OWN_ECHO = """
[scenario]
name = "own-echo"
timeout = 10

[variables]
word = ["alpha", "bravo", "charlie"]

[[steps]]
open_conversation = {}
[[steps]]
expect_participant = {}
[[steps]]
say = { text = "run {run} says {word}" }
[[steps]]
expect_message = { text = "run {run} says {word}" }
[[steps]]
read_receipt = {}
[[steps]]
close = {}
[[steps]]
expect_closed = {}
"""


@pytest.fixture
def silent_sandbox() -> Any:
    with Sandbox(agents=AgentOptions(mode="silent", accept_delay=0.01)) as sandbox:
        yield sandbox


def test_the_sample_passes_and_the_sandbox_saw_each_step(lp_sandbox: Sandbox) -> None:
    scenario = load_scenario(SCENARIOS / "order_status.toml")
    [result] = Runner(scenario, options_for(lp_sandbox), seed=7).run()
    assert result.ok, result.failure
    assert [step.kind for step in result.steps] == [step.kind for step in scenario.steps]
    assert result.first_response is not None
    record = lp_sandbox.conversation(result.conversation_id or "")
    assert record.consumer_id == result.consumer_id
    assert record.state == "CLOSE"
    assert record.csat is not None
    assert record.ttr[0] == "PRIORITIZED"
    statuses = [event.event.get("status") for event in record.events
                if event.role == "CONSUMER" and event.event.get("type") == "AcceptStatusEvent"]
    assert "READ" in statuses
    said = [line.text for line in result.transcript if line.who == "consumer"]
    assert len(said) == 2
    assert any(text.startswith(("Hello!", "Hi there", "Good morning")) for text in said)


def test_a_silent_agent_fails_the_expect_step_with_its_timeout(
    silent_sandbox: Sandbox, tmp_path: Path
) -> None:
    scenario = load_scenario(SCENARIOS / "silent_agent.toml")
    [result] = Runner(scenario, options_for(silent_sandbox)).run()
    assert not result.ok
    failed = result.failed_step
    assert failed is not None
    assert failed.kind == "expect_message"
    assert failed.name == "steps[3] expect_message (the agent answers)"
    assert failed.error == ("no agent message containing 'anybody' within 2 s "
                            "(agent messages received meanwhile: none)")
    # the run stops at the failed step: the close step never ran
    assert [step.kind for step in result.steps][-1] == "expect_message"
    write_junit(tmp_path / "junit.xml", [result])
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")  # noqa: S314 - our own report
    assert suite is not None
    assert suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None
    assert "steps[3] expect_message (the agent answers)" in (failure.get("message") or "")
    assert "within 2 s" in (failure.get("message") or "")
    assert "consumer: Is anybody there?" in (failure.text or "")


@pytest.mark.lp_sandbox_tls  # over TLS the runner's shared HTTP session trusts the CA file
def test_fifty_concurrent_runs_pass_with_their_own_consumers_and_no_cross_talk(
    lp_sandbox: Sandbox,
) -> None:
    scenario = parse_scenario(OWN_ECHO, file="own_echo.toml")
    finished: list[int] = []
    runner = Runner(scenario, options_for(lp_sandbox), count=50, concurrency=50,
                    ramp_up=0.1, on_result=lambda result: finished.append(result.run))
    results = runner.run()
    assert [result.run for result in results] == list(range(1, 51))
    assert sorted(finished) == list(range(1, 51))
    failures = [result.failure for result in results if not result.ok]
    assert not failures
    consumers = {result.consumer_id for result in results}
    conversations = {result.conversation_id for result in results}
    assert len(consumers) == 50
    assert len(conversations) == 50
    for result in results:
        record = lp_sandbox.conversation(result.conversation_id or "")
        assert record.consumer_id == result.consumer_id
        texts = [event.event.get("message") for event in record.events
                 if event.event.get("type") == "ContentEvent"
                 and event.role == "CONSUMER"]
        assert len(texts) == 1
        assert str(texts[0]).startswith(f"run {result.run} says ")
        heard = [line.text for line in result.transcript if line.who in ("agent", "consumer")]
        assert all(f"run {result.run} says " in text for text in heard if "says" in text)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lpbot-synth")]


def test_the_json_report_agrees_with_the_transcript(lp_sandbox: Sandbox, tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIOS / "order_status.toml")
    results = Runner(scenario, options_for(lp_sandbox), count=3, concurrency=3).run()
    write_json(tmp_path / "report.json", results)
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report == json.loads(json.dumps(json_report(results)))
    assert report["summary"]["runs"] == 3
    assert report["summary"]["failed"] == 0
    for run in report["runs"]:
        steps, lines = run["steps"], run["transcript"]
        assert len(steps) == len(scenario.steps)
        for before, after in itertools.pairwise(steps):
            assert before["started_at"] <= before["ended_at"] <= after["started_at"]
        assert run["started_at"] <= steps[0]["started_at"]
        assert steps[-1]["ended_at"] <= run["started_at"] + run["duration"] + 0.001
        # what the consumer said shows up in the transcript after its say step began
        says = [step for step in steps if step["kind"] == "say"]
        said = [line for line in lines if line["who"] == "consumer"]
        assert len(said) == len(says)
        for step, line in zip(says, said, strict=True):
            assert line["at"] >= step["started_at"]
        # an expect_message step ends after the agent line it matched arrived
        expects = [step for step in steps if step["kind"] == "expect_message"]
        agent_lines = [line for line in lines if line["who"] == "agent"]
        assert agent_lines[0]["at"] <= expects[0]["ended_at"]
        assert agent_lines[-1]["at"] <= expects[-1]["ended_at"]
        first_reply = next(line for line in agent_lines if line["sequence"] > said[0]["sequence"])
        assert run["first_response"] == pytest.approx(first_reply["at"] - says[0]["started_at"])
        # and with the sandbox's own record: each text was stored (server timestamp, whole
        # milliseconds) while its say step ran, and before the consumer saw it come back
        stored = {event.sequence: event.server_timestamp for event in
                  lp_sandbox.conversation(run["conversation_id"]).events if event.text}
        for step, line in zip(says, said, strict=True):
            assert step["started_at"] - 0.001 <= stored[line["sequence"]] / 1000 \
                <= step["ended_at"] + 0.001
        for line in lines:
            if line["sequence"] is not None:
                assert stored[line["sequence"]] / 1000 <= line["at"] + 0.001
    ET.fromstring(junit_xml(results))  # noqa: S314 - our own report


def test_stop_interrupts_a_waiting_run(silent_sandbox: Sandbox) -> None:
    scenario = parse_scenario("""
[[steps]]
open_conversation = {}
[[steps]]
say = { text = "hello?" }
[[steps]]
expect_message = { timeout = 60 }
""")
    runner = Runner(scenario, options_for(silent_sandbox))
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.extend(runner.run()), name="test-runner")
    thread.start()
    try:
        conversation = silent_sandbox.wait_for_conversation(timeout=10)
        silent_sandbox.wait_for_consumer_message(conversation.conversation_id, timeout=10)
        wait_until(lambda: runner._active, 10, "the run to be waiting")
    finally:
        runner.stop()
        thread.join()
    [result] = results
    assert not result.ok
    assert (result.failure or "").startswith((
        "steps[2] expect_message: interrupted: the runner was stopped",
        "interrupted: the runner was stopped before steps[2] expect_message"))


def test_a_run_that_cannot_connect_fails_with_the_reason() -> None:
    scenario = parse_scenario("[[steps]]\nopen_conversation = {}")
    with Sandbox(agents=FAST_AGENTS) as sandbox:
        options = options_for(sandbox)
    [result] = Runner(scenario, options, connect_timeout=2).run()
    assert not result.ok
    assert result.steps == ()
    assert (result.failure or "").startswith("could not connect: ")


def test_the_scenario_sandbox_table_sets_the_agents_rules() -> None:
    scenario = parse_scenario("""
[scenario.sandbox]
agent_mode = "rules"
accept_delay = 0.01
reply_delay = 0.01
greeting = ""
rules = [['where is (\\w+-\\d+)', 'Order \\1 ships today']]

[variables]
order = ["A-1", "B-2"]

[[steps]]
open_conversation = {}
[[steps]]
say = { text = "where is {order}?" }
[[steps]]
expect_message = { text = "Order {order} ships today", timeout = 10 }
""")
    sandbox = start_sandbox(scenario.sandbox)
    try:
        [result] = Runner(scenario, sandbox_options(sandbox), seed=3).run()
    finally:
        sandbox.stop()
    assert result.ok, result.failure
    assert [line.who for line in result.transcript if line.who != "system"] == [
        "consumer", "agent"]
