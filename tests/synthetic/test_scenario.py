"""Scenario files: every step kind parses to its frozen value; mistakes name the key path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lpbot.errors import ConfigError
from lpbot.synthetic.scenario import (
    Close,
    ExpectClosed,
    ExpectMessage,
    ExpectParticipant,
    OpenConversation,
    ReadReceipt,
    Say,
    SetTtr,
    SubmitCsat,
    Typing,
    Wait,
    load_scenario,
    parse_scenario,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "config" / "scenarios"

FULL = """
[scenario]
name = "everything"
description = "every step kind"
skill = "sales"
campaign_id = 418732213
engagement_id = "425842913"
context = { type = "SharkContext", lang = "en-US" }
client_properties = { appId = "synthetic", features = ["RICH_CONTENT"] }
timeout = 7

[scenario.sandbox]
agent_mode = "silent"
accept_delay = 0.01
rules = [['order (\\w+)', 'Order \\1 ships today']]

[variables]
order = ["A-1", "A-2"]
customer = "Sam"

[[steps]]
open_conversation = { ttr = "URGENT" }
[[steps]]
expect_participant = {}
[[steps]]
name = "greeting"
expect_message = { pattern = "^Hi", timeout = 3 }
[[steps]]
say = { text = "{customer}: where is {order}? (run {run} of {scenario})" }
[[steps]]
say = { choices = ["hello", "hi there"] }
[[steps]]
expect_message = { contains = "hi", text = "hi there" }
[[steps]]
read_receipt = {}
[[steps]]
typing = { state = "ACTIVE" }
[[steps]]
set_ttr = { type = "PRIORITIZED", value = 60 }
[[steps]]
wait = { seconds = 0.5 }
[[steps]]
close = {}
[[steps]]
expect_closed = {}
[[steps]]
submit_csat = { rate = 4, resolved = false }
"""


def test_every_step_kind_parses_to_a_frozen_value() -> None:
    scenario = parse_scenario(FULL, file="full.toml")
    assert scenario.name == "everything"
    assert scenario.sandbox.agent_mode == "silent"
    assert scenario.sandbox.accept_delay == 0.01
    assert scenario.sandbox.rules == (("order (\\w+)", "Order \\1 ships today"),)
    assert scenario.variables == {"order": ("A-1", "A-2"), "customer": ("Sam",)}
    assert dict(scenario.client_properties or {}) == {"appId": "synthetic",
                                                      "features": ["RICH_CONTENT"]}
    kinds = [type(step) for step in scenario.steps]
    assert kinds == [OpenConversation, ExpectParticipant, ExpectMessage, Say, Say, ExpectMessage,
                     ReadReceipt, Typing, SetTtr, Wait, Close, ExpectClosed, SubmitCsat]
    opening = scenario.steps[0]
    assert isinstance(opening, OpenConversation)
    assert (opening.skill, opening.campaign_id, opening.engagement_id, opening.ttr) == (
        "sales", 418732213, "425842913", "URGENT")
    assert dict(opening.context or {}) == {"type": "SharkContext", "lang": "en-US"}
    assert opening.timeout == 7
    greeting = scenario.steps[2]
    assert isinstance(greeting, ExpectMessage)
    assert greeting.timeout == 3
    assert greeting.matches("Hi, I'm Alex")
    assert not greeting.matches("Oh hi")
    assert scenario.step_names[2] == "steps[2] expect_message (greeting)"
    assert scenario.step_names[3] == "steps[3] say"
    exact = scenario.steps[5]
    assert isinstance(exact, ExpectMessage)
    assert exact.matches("hi there")
    assert not exact.matches("hi")
    assert scenario.steps[4] == Say(choices=("hello", "hi there"))
    assert scenario.steps[8] == SetTtr(ttr_type="PRIORITIZED", value=60)
    assert scenario.steps[12] == SubmitCsat(rate=4, resolved=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.steps[9].seconds = 1  # type: ignore[misc, union-attr]


@pytest.mark.parametrize(("steps", "key", "words"), [
    ('[[steps]]\nexpect_message = { pattern = "(" }', "steps[0].expect_message.pattern",
     "regular expression"),
    ('[[steps]]\nsay = { text = "a" }\n[[steps]]\nteleport = {}', "steps[1].teleport",
     "unknown step 'teleport'"),
    ('[[steps]]\nexpect_message = { patern = "x" }', "steps[0].expect_message.patern",
     "unknown key"),
    ('[[steps]]\nwait = { seconds = "soon" }', "steps[0].wait.seconds", "expected a number"),
    ('[[steps]]\nwait = {}', "steps[0].wait.seconds", "missing required key"),
    ('[[steps]]\nsay = { text = "hi {who}" }', "steps[0].say.text", "unknown variable {who}"),
    ('[[steps]]\nsay = { choices = ["ok", 3] }', "steps[0].say.choices[1]", "expected a string"),
    ('[[steps]]\nsay = {}', "steps[0].say", "exactly one of text or choices"),
    ('[[steps]]\nsubmit_csat = { rate = 9 }', "steps[0].submit_csat.rate", "1 to 5"),
    ('[[steps]]\nset_ttr = { type = "SOON" }', "steps[0].set_ttr.type", "URGENT"),
    ('[[steps]]\ntyping = { state = "TYPING" }', "steps[0].typing.state", "COMPOSING"),
    ('[[steps]]\nexpect_closed = { timeout = 0 }', "steps[0].expect_closed.timeout", "positive"),
    ('[[steps]]\nexpect_participant = { role = "BOSS" }', "steps[0].expect_participant.role",
     "ASSIGNED_AGENT"),
    ('[[steps]]\nclose = { now = true }', "steps[0].close.now", "takes none"),
    ('[[steps]]\nclose = {}\nsay = { text = "x" }', "steps[0]", "exactly one step key"),
    ('[[steps]]\nclose = true', "steps[0].close", "expected a table"),
    ("", "steps", "at least one"),
])
def test_mistakes_name_the_step_and_the_key_path(steps: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(steps, file="bad.toml")
    assert caught.value.key == key
    assert caught.value.path == "bad.toml"
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"bad.toml: {key}: ")


@pytest.mark.parametrize(("text", "key"), [
    ('[scenario]\nname = 3\n[[steps]]\nclose = {}', "scenario.name"),
    ('[scenario]\nskil = "x"\n[[steps]]\nclose = {}', "scenario.skil"),
    ('[scenario.sandbox]\nagent_mode = "rude"\n[[steps]]\nclose = {}',
     "scenario.sandbox.agent_mode"),
    ('[variables]\nrun = "x"\n[[steps]]\nclose = {}', "variables.run"),
    ('[variables]\nx = []\n[[steps]]\nclose = {}', "variables.x"),
    ('[extra]\n[[steps]]\nclose = {}', "extra"),
    ('[scenario.sandbox]\nrules = [["(", "x"]]\n[[steps]]\nclose = {}',
     "scenario.sandbox.rules[0]"),
    ('[scenario.sandbox]\nrules = [["a"]]\n[[steps]]\nclose = {}', "scenario.sandbox.rules[0]"),
])
def test_metadata_mistakes_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(text, file="bad.toml")
    assert caught.value.key == key


def test_a_file_that_is_not_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[steps]\nsay = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_scenario(path)
    assert caught.value.path == str(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")


def test_the_samples_parse() -> None:
    samples = sorted(SCENARIOS.glob("*.toml"))
    assert len(samples) >= 2
    for path in samples:
        scenario = load_scenario(path)
        assert scenario.steps
    silent = load_scenario(SCENARIOS / "silent_agent.toml")
    assert silent.sandbox.agent_mode == "silent"
