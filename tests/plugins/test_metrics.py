"""The metrics plugin: scraped over HTTP, parsed with prometheus-client's parser; /healthz."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import lpbot
from lpbot.protocol import MessagingEvent
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import BotHarness
from lpbot_plugins.metrics import Metrics, Options

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def job_ok(**kwargs: object) -> None:
    """A scheduled job that succeeds."""


def job_fails(**kwargs: object) -> None:
    raise RuntimeError("this job always fails")


class Raiser:
    """A plugin whose message hook always raises: counted as hook errors."""

    @lpbot.hookimpl
    def lpbot_message_received(self, message: MessagingEvent) -> None:
        raise RuntimeError("broken plugin")


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (http on localhost)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), bytes(error.read())


def scrape(metrics: Metrics) -> Samples:
    status, body = get(f"{metrics.url}/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "key"), [
    ({"enabled": "yes"}, "plugins.metrics.enabled"),
    ({"port": 70000}, "plugins.metrics.port"),
    ({"host": ""}, "plugins.metrics.host"),
    ({"path": "/m"}, "plugins.metrics.path"),
])
def test_config_mistakes_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        Options.from_config(lpbot.PluginConfig(name="metrics", table=table,
                                                path="plugins.metrics", file="bot.toml"))
    assert caught.value.key == key


def test_defaults_are_off_and_local() -> None:
    defaults = Options.from_config(lpbot.PluginConfig(name="metrics"))
    assert defaults == Options(enabled=False, host="127.0.0.1", port=0)


# --- against the sandbox ----------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(agents=AgentOptions(accept_delay=0.01, reply_delay=0.01)) as running:
        yield running


def metrics_of(harness: BotHarness) -> Metrics:
    plugin = harness.bot.plugin_manager.get_plugin("metrics.instance")
    assert isinstance(plugin, Metrics)
    return plugin


def test_off_unless_enabled(sandbox: Sandbox, tmp_path: Path) -> None:
    with BotHarness(sandbox, state_dir=tmp_path, plugins=["lpbot_plugins.metrics"]) as harness:
        assert harness.bot.plugin_manager.get_plugin("metrics.instance") is None
        assert "lpbot-metrics" not in [t.name for t in threading.enumerate()]


def test_counters_match_what_happened(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {
        "plugins": {"metrics": {"enabled": True, "port": 0}, "csat_submitter": {"score": 3}},
        "jobs": [
            {"id": "ok", "kind": "call", "ref": f"{__name__}:job_ok", "every": 3600,
             "start_now": True},
            {"id": "fails", "kind": "call", "ref": f"{__name__}:job_fails", "every": 3600,
             "start_now": True},
            {"id": "late", "kind": "call", "ref": f"{__name__}:job_ok",
             "at": "2020-01-01T00:00:00Z", "misfire_grace_time": 1},
        ],
    }
    plugins = ["lpbot_plugins.metrics", "lpbot_plugins.csat_submitter", Raiser()]
    with BotHarness(sandbox, state_dir=tmp_path, plugins=plugins, config=config) as harness:
        metrics = metrics_of(harness)
        assert metrics.address[0] == "127.0.0.1"
        conversation = harness.open_conversation(first_message="hello")
        # greeting, then the echo of "hello": two agent messages
        harness.events.wait_for("lpbot_message_received",
                                lambda c: c["message"].role == "ASSIGNED_AGENT", count=2)
        sandbox.agents.close(conversation.id)
        wait_until(lambda: sandbox.conversation(conversation.id).csat, 5, "the CSAT")
        harness.events.wait_for("lpbot_conversation_changed",
                                lambda c: c["current"].csat is not None)
        for hook in ("lpbot_job_ran", "lpbot_job_failed", "lpbot_job_missed"):
            harness.events.wait_for(hook)
        sandbox.faults.drop_all()
        harness.events.wait_for("lpbot_connection_state_changed",
                                lambda c: c["change"].state == "connected", count=2)
        wait_until(lambda: value(scrape(metrics), "lpbot_connects_total",
                                 reason="initial") == 1, 5, "the connect counted")
        record = sandbox.conversation(conversation.id)
        samples = scrape(metrics)
        received = [c["message"] for c in harness.events.calls("lpbot_message_received")]
    assert value(samples, "lpbot_connections_open") == 1
    assert value(samples, "lpbot_connects_total", reason="initial") == 1
    reconnect_reasons = {dict(labels)["reason"] for (name, labels) in samples
                         if name == "lpbot_reconnects_total"}
    assert len(reconnect_reasons) == 1
    (reason,) = reconnect_reasons
    assert value(samples, "lpbot_connects_total", reason=reason) == 1
    agent_texts = sum(1 for e in record.events if e.role == "ASSIGNED_AGENT" and e.text)
    own_texts = sum(1 for e in record.events if e.role == "CONSUMER" and e.text)
    assert value(samples, "lpbot_messages_total", direction="in",
                 event_type="ContentEvent") == agent_texts == 2
    assert value(samples, "lpbot_messages_total", direction="out",
                 event_type="ContentEvent") == own_texts == 1
    assert value(samples, "lpbot_hook_calls_total", plugin="raiser-0",
                 hook="lpbot_message_received") == len(received) == 3
    assert value(samples, "lpbot_hook_errors_total", plugin="raiser-0",
                 hook="lpbot_message_received") == 3
    assert value(samples, "lpbot_hook_errors_total", plugin="metrics.instance",
                 hook="lpbot_message_received") == 0
    assert value(samples, "lpbot_hook_calls_total", plugin="metrics.instance",
                 hook="lpbot_conversation_opened") == 1
    assert value(samples, "lpbot_jobs_total", outcome="ran") == 1
    assert value(samples, "lpbot_jobs_total", outcome="failed") == 1
    assert value(samples, "lpbot_jobs_total", outcome="missed") == 1
    assert value(samples, "lpbot_conversations_opened_total") == 1
    assert value(samples, "lpbot_conversations_closed_total", closed_by="AGENT") == 1
    assert value(samples, "lpbot_csat_submitted_total", score="3") == 1
    assert value(samples, "lpbot_agent_first_response_seconds_count") == 1
    assert value(samples, "lpbot_time_to_agent_join_seconds_count") == 1
    first = next(e for e in record.events if e.role == "ASSIGNED_AGENT" and e.text)
    expected = ((first.server_timestamp or 0) - record.start_ts) / 1000
    assert value(samples, "lpbot_agent_first_response_seconds_sum") == pytest.approx(expected,
                                                                                   abs=1e-6)


def test_healthz_flips_to_503_while_the_sandbox_refuses_connections(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {"plugins": {"metrics": {"enabled": True, "port": 0}}}
    with BotHarness(sandbox, state_dir=tmp_path, plugins=["lpbot_plugins.metrics"],
                    config=config) as harness:
        metrics = metrics_of(harness)
        status, body = get(f"{metrics.url}/healthz")
        assert (status, json.loads(body)["status"]) == (200, "ok")
        sandbox.faults.reject_handshakes(1_000_000, status=503)
        sandbox.faults.drop_all()
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(
            get(f"{metrics.url}/healthz")), 5, "/healthz answering 503")
        report = json.loads(body)
        assert report["status"] == "down"
        assert "connection:default" in report["down"]
        assert report["scheduler"] == "running"
        assert value(scrape(metrics), "lpbot_connections_open") == 0
        sandbox.faults.reset()
        wait_until(lambda: get(f"{metrics.url}/healthz")[0] == 200, 10, "/healthz back to 200")
        assert get(f"{metrics.url}/nothing")[0] == 404
    assert "lpbot-metrics" not in [t.name for t in threading.enumerate()]


def test_healthz_names_a_consumer_whose_connector_was_revoked_and_the_bot_serves_on(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"plugins": {"metrics": {"enabled": True, "port": 0}},
              "account": {"auth": "anonymous", "connector_id": "acr0"}}
    with BotHarness(sandbox, state_dir=tmp_path, plugins=["lpbot_plugins.metrics"],
                    config=config, consumers=("sales", "support")) as harness:
        metrics = metrics_of(harness)
        sales = harness.bot.client("sales")
        sandbox.faults.revoke_connector()
        # only sales must obtain its identity again (4407); support keeps its valid token
        assert sandbox.faults.drop_all(4407, consumer=sales.consumer_id) == 1
        status, body = wait_until(lambda: (lambda r: r if b"failed" in r[1] else None)(
            get(f"{metrics.url}/healthz")), 10, "/healthz naming the failed consumer")
        report = json.loads(body)
        assert status == 503
        assert set(report["down"]) == {"connection:sales"}
        assert report["down"]["connection:sales"].startswith("failed: IDP refused ")
        assert "/app/acr0/authenticate: HTTP 403" in report["failures"]["sales"]
        assert report["connections"]["support"] == "connected"
        assert value(scrape(metrics), "lpbot_connections_failed") == 1
        assert value(scrape(metrics), "lpbot_connections_open") == 1
        # the bot serves on: the other consumer still converses
        conversation = harness.bot.open_conversation(consumer="support")
        harness.events.wait_for("lpbot_participant_joined")
        assert conversation.send_text("still here") >= 0
        assert not harness.bot.fatal.is_set()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "(sales) stopped, it will not reconnect" in errors[0]


def test_each_bot_has_its_own_registry(sandbox: Sandbox, tmp_path: Path) -> None:
    """A second bot in the same process starts from zero (the global registry would refuse it)."""
    config = {"plugins": {"metrics": {"enabled": True, "port": 0}}}
    with BotHarness(sandbox, state_dir=tmp_path / "a", plugins=["lpbot_plugins.metrics"],
                    config=config) as first:
        first.open_conversation()
        first.events.wait_for("lpbot_conversation_opened")
        assert value(scrape(metrics_of(first)), "lpbot_conversations_opened_total") == 1
    with BotHarness(sandbox, state_dir=tmp_path / "b", plugins=["lpbot_plugins.metrics"],
                    config=config) as second:
        second_metrics = metrics_of(second)
        assert second_metrics.registry is not metrics_of(first).registry
        assert value(scrape(second_metrics), "lpbot_conversations_opened_total") == 0
