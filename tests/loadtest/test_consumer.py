"""One load-test consumer on threads, against the sandbox: one identity, the scenario in a loop.

These run without Locust (the consumer does not import it); the Locust tests run it on gevent.
"""

from __future__ import annotations

import threading

from lpbot.loadtest.consumer import Measurement, ScenarioConsumer, measured_names
from lpbot.sandbox import Sandbox
from lpbot.synthetic.scenario import parse_scenario
from lpbot.synthetic.target import sandbox_options as options_for
from lpbot.testing import AgentOptions

from .conftest import QUICK, UNANSWERED


class Recorder:
    """Collects measurements; the consumer reports on the thread that runs it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[Measurement] = []

    def __call__(self, measurement: Measurement) -> None:
        with self.lock:
            self.seen.append(measurement)

    def names(self) -> list[str]:
        return [m.name for m in self.seen]


def test_one_consumer_runs_its_scenario_again_on_one_identity(lp_sandbox: Sandbox) -> None:
    scenario = parse_scenario(QUICK, file="quick.toml")
    recorder = Recorder()
    consumer = ScenarioConsumer(scenario, options_for(lp_sandbox), number=1, report=recorder)
    try:
        results = [consumer.run_once() for _ in range(3)]
    finally:
        consumer.close()
    assert all(r is not None and r.ok for r in results), [r and r.failure for r in results]
    assert len({r.consumer_id for r in results if r}) == 1
    conversations = [r.conversation_id for r in results if r]
    assert len(set(conversations)) == 3
    for conversation_id in conversations:
        assert lp_sandbox.conversation(conversation_id).state == "CLOSE"
    names = recorder.names()
    assert names.count("quick/connect") == 1
    for name in measured_names(scenario)[1:]:
        assert names.count(name) == 3, name
    assert not any("wait" in name for name in names)
    assert all(m.error is None and m.seconds >= 0 for m in recorder.seen)
    assert "quick/steps[1] expect_participant (agent joined)" in names


def test_a_failed_run_leaves_no_open_conversation_to_the_next() -> None:
    scenario = parse_scenario(UNANSWERED, file="unanswered.toml")
    recorder = Recorder()
    silent = AgentOptions(mode="silent", accept_delay=0.01)
    with Sandbox(host="127.0.0.1", port=0, ws_port=0, agents=silent) as sandbox:
        consumer = ScenarioConsumer(scenario, options_for(sandbox), number=2, report=recorder)
        try:
            first, second = consumer.run_once(), consumer.run_once()
        finally:
            consumer.close()
        assert first is not None
        assert second is not None
        assert first.conversation_id != second.conversation_id
        for result in (first, second):
            assert result.failed_step is not None
            assert result.failed_step.kind == "expect_message"
            assert result.conversation_id is not None
            assert sandbox.conversation(result.conversation_id).state == "CLOSE"
    failed = [m for m in recorder.seen if m.error is not None]
    name = "unanswered/steps[3] expect_message (the agent answers)"
    assert [m.name for m in failed] == [name, name]
    assert "no agent message containing 'anybody' within 0.5 s" in failed[0].error


def test_a_consumer_is_replaced_after_its_runs(lp_sandbox: Sandbox) -> None:
    scenario = parse_scenario(QUICK, file="quick.toml")
    recorder = Recorder()
    consumer = ScenarioConsumer(scenario, options_for(lp_sandbox), number=3, report=recorder,
                                runs_per_consumer=2)
    try:
        results = [consumer.run_once() for _ in range(3)]
    finally:
        consumer.close()
    consumers = [r.consumer_id for r in results if r is not None]
    assert consumers[0] == consumers[1] != consumers[2]
    assert recorder.names().count("quick/connect") == 2


def test_a_consumer_that_cannot_connect_reports_it(lp_sandbox: Sandbox) -> None:
    scenario = parse_scenario(QUICK, file="quick.toml")
    recorder = Recorder()
    lp_sandbox.faults.reject_handshakes(100, status=503)
    consumer = ScenarioConsumer(scenario, options_for(lp_sandbox), number=4, report=recorder,
                                connect_timeout=0.5)
    try:
        assert consumer.run_once() is None
    finally:
        consumer.close()
    [connect] = recorder.seen
    assert connect.name == "quick/connect"
    assert connect.error is not None
    assert "could not connect" in connect.error
