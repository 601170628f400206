"""The CSAT submitter: score sources, and one rating per closed conversation in the sandbox."""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lpbot
from lpbot.client import Conversation
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import BotHarness
from lpbot_plugins.csat_submitter import Options, ScoreSource

PLUGIN = "lpbot_plugins.csat_submitter"


def score_by_length(conversation: Conversation) -> int:
    """A custom score function, referenced from the config as a string."""
    return 1 + len(conversation.id) % 5


def not_a_score(conversation: Conversation) -> int:
    return 9


# --- score sources and options ----------------------------------------------------------------


def source(score: Any) -> ScoreSource:
    table = {"score": score}
    return Options.from_config(lpbot.PluginConfig(name="csat_submitter", table=table)).score


def test_fixed_random_and_function_scores(tmp_path: Path) -> None:
    fixed = source(4)
    ranged = source({"min": 2, "max": 4})
    ranged = ScoreSource(kind=ranged.kind, low=ranged.low, high=ranged.high,
                         rng=random.Random(7))
    function = source(f"{__name__}:score_by_length")
    conversation: Any = type("Stub", (), {"id": "abcdef"})()  # only .id is read
    assert fixed.score(conversation) == 4
    assert {ranged.score(conversation) for _ in range(200)} == {2, 3, 4}
    assert function.score(conversation) == 2
    broken = source(f"{__name__}:not_a_score")
    with pytest.raises(ValueError, match="not a score from 1 to 5"):
        broken.score(conversation)


@pytest.mark.parametrize(("table", "key", "problem"), [
    ({"score": 6}, "plugins.csat_submitter.score", "1 to 5"),
    ({"score": {"min": 4, "max": 2}}, "plugins.csat_submitter.score", "above max"),
    ({"score": {"min": 0, "max": 2}}, "plugins.csat_submitter.score.min", "at least 1"),
    ({"score": {"min": 2}}, "plugins.csat_submitter.score.max", "missing required key"),
    ({"score": "no.such.module:score"}, "plugins.csat_submitter.score", "cannot import"),
    ({"score": "five"}, "plugins.csat_submitter.score", "function reference"),
    ({"status": "DONE"}, "plugins.csat_submitter.status", "FILLED"),
    ({"resolved": "yes"}, "plugins.csat_submitter.resolved", "true or false"),
    ({"closed_by": "AGENT"}, "plugins.csat_submitter.closed_by", "array"),
    ({"closed_by": ["AGENT", "AGNET"]}, "plugins.csat_submitter.closed_by[1]", "'AGNET'"),
    ({"rating": 5}, "plugins.csat_submitter.rating", "unknown key"),
])
def test_config_mistakes_name_the_key(table: dict[str, Any], key: str, problem: str) -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        Options.from_config(lpbot.PluginConfig(name="csat_submitter", table=table,
                                                path="plugins.csat_submitter", file="bot.toml"))
    assert caught.value.key == key
    assert problem in str(caught.value)


# --- against the sandbox ----------------------------------------------------------------------


class ScoreWatcher:
    """Sees every score request (and lets the submitter's own source answer)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @lpbot.hookimpl
    def lpbot_csat_score(self, conversation: Conversation) -> int | None:
        with self._lock:
            self.calls[conversation.id] += 1
        return None


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(agents=AgentOptions(accept_delay=0.01, reply_delay=0.01)) as running:
        yield running


def harness(sandbox: Sandbox, state: Path, watcher: ScoreWatcher, **table: Any) -> BotHarness:
    return BotHarness(sandbox, state_dir=state, plugins=[PLUGIN, watcher],
                      config={"plugins": {"csat_submitter": table}})


def rated(sandbox: Sandbox, conversation_id: str) -> dict[str, Any]:
    csat: dict[str, Any] = wait_until(lambda: sandbox.conversation(conversation_id).csat, 5,
                                      f"CSAT of {conversation_id} in the sandbox")
    return csat


def test_csat_reaches_the_sandbox_once_per_closed_conversation(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    watcher = ScoreWatcher()
    with harness(sandbox, tmp_path, watcher, score=4, resolved=False) as bot:
        by_agent = bot.open_conversation()
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT")
        sandbox.agents.close(by_agent.id)
        assert rated(sandbox, by_agent.id) == {"field": "CSATRate", "csatRate": 4,
                                               "csatResolutionConfirmation": False,
                                               "status": "FILLED"}
        by_consumer = bot.open_conversation(first_message="bye")
        by_consumer.close()
        assert rated(sandbox, by_consumer.id)["csatRate"] == 4
        bot.events.wait_for("lpbot_conversation_changed", lambda c: c["current"].csat
                            is not None, count=2)
        # a dropped connection re-sends the closed conversations: no second rating
        sandbox.faults.drop_all()
        bot.events.wait_for("lpbot_connection_state_changed",
                            lambda c: c["change"].state == "connected", count=2)
        bot.events.clear()
        third = bot.open_conversation()
        sandbox.agents.close(third.id)
        rated(sandbox, third.id)
        bot.events.wait_for("lpbot_conversation_changed",
                            lambda c: c["conversation"].id == third.id
                            and c["current"].csat is not None)
    # and neither does a restart on the same state directory
    with harness(sandbox, tmp_path, watcher, score=4) as bot:
        fourth = bot.open_conversation()
        fourth.close()
        rated(sandbox, fourth.id)
    assert watcher.calls == {by_agent.id: 1, by_consumer.id: 1, third.id: 1, fourth.id: 1}
    assert [sandbox.conversation(c).close_reason for c in (by_agent.id, by_consumer.id)] == [
        "AGENT", "CONSUMER"]


def test_conversations_closed_by_idle_timeout_are_rated(tmp_path: Path) -> None:
    agents = AgentOptions(accept_delay=0.01, reply_delay=0.01, idle_close=0.2)
    watcher = ScoreWatcher()
    with Sandbox(agents=agents) as sandbox, \
            harness(sandbox, tmp_path, watcher, score={"min": 1, "max": 2}) as bot:
        conversation = bot.open_conversation(first_message="anyone?")
        assert rated(sandbox, conversation.id)["csatRate"] in (1, 2)
        bot.events.wait_for("lpbot_conversation_closed")
    assert watcher.calls == {conversation.id: 1}


def test_close_reasons_not_configured_are_not_rated(sandbox: Sandbox, tmp_path: Path) -> None:
    watcher = ScoreWatcher()
    with harness(sandbox, tmp_path, watcher, closed_by=["AGENT"]) as bot:
        conversation = bot.open_conversation()
        conversation.close()
        bot.events.wait_for("lpbot_conversation_closed")
        assert sandbox.conversation(conversation.id).csat is None
    assert watcher.calls == {}


@pytest.mark.parametrize("code", [400, 404])  # refused as already rated / too old; not found
def test_an_error_response_is_logged_not_raised(
    sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    watcher = ScoreWatcher()
    caplog.set_level(logging.WARNING, logger="lpbot_plugins.csat_submitter")
    with harness(sandbox, tmp_path, watcher, score=5) as bot:
        refused = bot.open_conversation()
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT")
        sandbox.faults.reject_next(1, code=code)
        sandbox.agents.close(refused.id)
        wait_until(lambda: f"refused by the server (code {code})" in caplog.text, 5,
                   "the refusal in the log")
        assert sandbox.conversation(refused.id).csat is None
        later = bot.open_conversation()
        later.close()
        assert rated(sandbox, later.id)["csatRate"] == 5
    assert bot.bot.counters.total("hook_errors") == 0


def test_a_conversation_that_ran_a_survey_gets_no_csat(sandbox: Sandbox, tmp_path: Path) -> None:
    """protocol notes §7.7: the survey replaces CSAT; the strict sandbox would refuse it."""
    watcher = ScoreWatcher()
    properties = {"features": ["RICH_CONTENT", "QUICK_REPLIES", "MULTI_DIALOG"]}
    with BotHarness(sandbox, state_dir=tmp_path, plugins=[PLUGIN, watcher],
                    config={"plugins": {"csat_submitter": {"score": 5}},
                            "account": {"client_properties": properties}}) as bot:
        surveyed = bot.open_conversation()
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT")
        sandbox.agents.close(surveyed.id, survey=True)
        bot.events.wait_for("lpbot_conversation_closed")
    assert sandbox.conversation(surveyed.id).csat_submissions == ()
    assert watcher.calls == {}
