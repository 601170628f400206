"""The rich scenario steps against the sandbox's flow bot: each step kind passing, and failing
with a message that says what was expected and what arrived; what a click puts on the wire."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpbot.loadtest.consumer import measured_names
from lpbot.protocol.notifications import MessagingEvent
from lpbot.sandbox import AgentOptions, Sandbox, load_flow
from lpbot.synthetic.content import MAX_DEPTH, received
from lpbot.synthetic.reports import json_report, junit_xml
from lpbot.synthetic.results import RunResult
from lpbot.synthetic.runner import Run, Runner
from lpbot.synthetic.scenario import parse_scenario

from .conftest import ROOT, options_for

PIZZA = ROOT / "config" / "flows" / "pizza.toml"
SUPPORT = ROOT / "config" / "flows" / "support.toml"
HEAD = """
[scenario]
name = "bot"
timeout = 5
client_properties = { features = ["RICH_CONTENT", "QUICK_REPLIES", "MULTI_DIALOG"] }

[[steps]]
open_conversation = {}
"""


def flow_sandbox(flow: Path) -> Sandbox:
    agents = AgentOptions(mode="flow", flow=load_flow(flow), accept_delay=0.01,
                          reply_delay=0.01)
    return Sandbox(agents=agents)


@pytest.fixture
def pizza() -> Iterator[Sandbox]:
    with flow_sandbox(PIZZA) as sandbox:
        yield sandbox


@pytest.fixture
def support() -> Iterator[Sandbox]:
    with flow_sandbox(SUPPORT) as sandbox:
        yield sandbox


def run(sandbox: Sandbox, steps: str) -> RunResult:
    [result] = Runner(parse_scenario(HEAD + steps), options_for(sandbox), seed=3).run()
    return result


ORDER = """
[[steps]]
expect_quick_replies = { replies = ["Order a pizza", "Opening hours"], contains = "Welcome" }
[[steps]]
click = { text = "Order a pizza" }
[[steps]]
expect_quick_replies = { replies = ["Small", "Medium", "Large"], match = "exact" }
[[steps]]
click = { position = 3 }
[[steps]]
expect_rich_content = { types = ["carousel", "image"], titles = ["Margherita"], buttons = [
    "Funghi"] }
[[steps]]
click = { text = "Funghi" }
[[steps]]
capture = { pattern = 'Order number (?P<order>P-\\d+)' }
"""


def test_an_order_through_quick_replies_a_carousel_and_a_card(pizza: Sandbox) -> None:
    result = run(pizza, ORDER + """
[[steps]]
click = { text = "Confirm" }
[[steps]]
expect_message = { text = "Thank you! Your order {order} is on its way." }
[[steps]]
expect_closed = {}
""")
    assert result.ok, result.failure
    said = [line.text for line in result.transcript if line.who == "consumer"]
    assert said == ["Order a pizza", "Large", "Funghi", "Confirm"]
    assert any(line.text == "captured order='P-4711'" for line in result.transcript)


def test_any_and_all_of_quick_replies_and_buttons(pizza: Sandbox) -> None:
    result = run(pizza, """
[[steps]]
expect_quick_replies = { replies = ["Pasta", "Opening hours"], match = "any" }
[[steps]]
click = { text = "Order a pizza" }
[[steps]]
expect_quick_replies = { replies = ["Small", "Pasta"], timeout = 0.5 }
""")
    assert result.failed_step is not None
    assert result.failed_step.index == 3
    error = result.failed_step.error or ""
    assert error.startswith("no quick replies (all of ['Small', 'Pasta']) within 0.5 s")
    assert "'Which size? [quick replies: Small, Medium, Large]'" in error


def test_a_click_is_the_action_receipt_then_the_text_with_the_buttons_metadata(
        pizza: Sandbox) -> None:
    result = run(pizza, """
[[steps]]
expect_quick_replies = {}
[[steps]]
click = { text = "Opening hours" }
[[steps]]
expect_message = { contains = "11:00" }
""")
    assert result.ok, result.failure
    events = pizza.conversation(result.conversation_id or "").events
    question = next(e for e in events if e.event.get("quickReplies"))
    button = next(r for r in question.event["quickReplies"]["replies"]
                  if r["title"] == "Opening hours")
    mine = [e for e in events if e.role == "CONSUMER" and e.event["type"] != "ChatStateEvent"]
    action = next(e for e in mine if e.event.get("status") == "ACTION")
    text = mine[mine.index(action) + 1]
    assert action.event == {"type": "AcceptStatusEvent", "status": "ACTION",
                            "sequenceList": [question.sequence]}
    assert list(action.metadata) == button["click"]["metadata"]
    assert text.event == {"type": "ContentEvent", "contentType": "text/plain",
                          "message": "Opening hours"}
    assert list(text.metadata) == button["click"]["metadata"]


@pytest.mark.parametrize(("step", "expected", "arrived"), [
    ('expect_quick_replies = { replies = ["Pasta"], timeout = 0.3 }',
     "no quick replies (all of ['Pasta']) within 0.3 s",
     "Welcome to Pizza Bot! What would you like? [quick replies: Order a pizza, "
     "Opening hours, Talk to a person]"),
    ('expect_rich_content = { titles = ["Pasta"], timeout = 0.3 }',
     "no structured content (all of titles ['Pasta']) within 0.3 s", "Welcome to Pizza Bot!"),
    ('expect_file = { type = "PDF", timeout = 0.3 }', "no file (type PDF) within 0.3 s",
     "Welcome to Pizza Bot!"),
    ('capture = { pattern = "(?P<n>\\\\d{5})", timeout = 0.3 }',
     "no agent message matching /(?P<n>\\d{5})/ to capture from within 0.3 s",
     "Welcome to Pizza Bot!"),
    ('answer_survey = { answers = ["5"], timeout = 0.3 }',
     "no survey question 1 (quick replies in a survey dialog) within 0.3 s",
     "Welcome to Pizza Bot!"),
    ('click = { text = "Pasta" }', "cannot click 'Pasta'", "'Order a pizza', 'Opening hours'"),
    ('click = { position = 7 }', "cannot click button #7", "offers 3"),
])
def test_a_failing_step_says_what_it_expected_and_what_arrived(
        pizza: Sandbox, step: str, expected: str, arrived: str) -> None:
    result = run(pizza, """
[[steps]]
expect_quick_replies = { timeout = 5 }
""" * step.startswith("click") + f"""
[[steps]]
{step}
""")
    failed = result.failed_step
    assert failed is not None, result
    assert failed.error is not None
    assert expected in failed.error
    assert arrived in failed.error
    xml = junit_xml([result])
    failure = ET.fromstring(xml).find(".//failure")  # noqa: S314 - our own report
    assert failure is not None
    assert failure.text is not None
    assert "transcript tail" in failure.text
    assert "Welcome to Pizza Bot!" in failure.text


def test_a_click_before_any_buttons_fails_naming_what_arrived(support: Sandbox) -> None:
    result = run(support, """
[[steps]]
expect_message = { contains = "business" }
[[steps]]
click = { position = 1 }
""")
    assert result.failed_step is not None
    assert result.failed_step.error is not None
    assert result.failed_step.error.startswith("cannot click button #1: no agent message "
                                               "offered buttons or quick replies")
    assert "Are you a business or a private customer?" in result.failed_step.error


BRANCHES = """
[[steps]]
expect_message = { contains = "business or a private" }
[[steps]]
say = { text = "{kind} customer" }

[[steps]]
name = "the bot's question picks the way"
[[steps.branch]]
expect_message = { contains = "account number" }
steps = [ { say = { text = "12345" } } ]
[[steps.branch]]
expect_quick_replies = { replies = ["Email", "Phone"] }
steps = [ { click = { text = "Phone" } } ]

[[steps]]
expect_message = { contains = "screenshot" }
[[steps]]
send_file = { type = "PNG", size = 2048, caption = "my screen" }
[[steps]]
expect_message = { pattern = 'ticket number is (T-\\d+)' }
[[steps]]
expect_closed = {}
"""


@pytest.mark.parametrize(("kind", "taken", "said"), [
    ("business", 0, "12345"), ("private", 1, "Phone")])
def test_a_branch_follows_the_question_the_bot_asks(
        support: Sandbox, kind: str, taken: int, said: str) -> None:
    scenario = parse_scenario(HEAD + BRANCHES.replace("{kind}", kind))
    [result] = Runner(scenario, options_for(support)).run()
    assert result.ok, result.failure
    names = [step.name for step in result.steps]
    assert f"steps[3].branch[{taken}].steps[0] " + ("say" if taken == 0 else "click") in names
    assert f"steps[3].branch[{1 - taken}].steps[0]" not in " ".join(names)
    assert f"branch {taken} taken" in " ".join(line.text for line in result.transcript)
    consumer = [e for e in support.conversation(result.conversation_id or "").events
                if e.role == "CONSUMER" and e.event.get("type") == "ContentEvent"]
    assert consumer[1].event["message"] == said
    hosted = consumer[-1].event
    assert hosted["contentType"] == "hosted/file"
    assert hosted["message"]["caption"] == "my screen"
    assert hosted["message"]["fileType"] == "PNG"
    report = json_report([result])
    assert [s["name"] for s in report["runs"][0]["steps"]] == names
    locust = measured_names(scenario)
    assert "bot/steps[3].branch[0].steps[0] say" in locust
    assert "bot/steps[3].branch[1].steps[0] click" in locust


def test_a_branch_that_no_case_meets_fails_listing_both(support: Sandbox) -> None:
    result = run(support, """
[[steps]]
timeout = 1
[[steps.branch]]
expect_message = { contains = "weather", timeout = 0.3 }
[[steps.branch]]
expect_quick_replies = { timeout = 0.2 }
""".replace("[[steps]]\ntimeout = 1\n", "[[steps]]\n"))
    assert result.failed_step is not None
    assert result.failed_step.error is not None
    error = result.failed_step.error
    assert error.startswith("none of the branches within 0.3 s: expected agent message "
                            "containing 'weather' or quick replies (any)")
    assert "Are you a business or a private customer?" in error


def test_expect_file_downloads_the_bots_file(pizza: Sandbox) -> None:
    result = run(pizza, """
[[steps]]
expect_quick_replies = {}
[[steps]]
say = { text = "show me the menu" }
[[steps]]
expect_file = { type = "PDF", caption = "menu", download = true }
""")
    assert result.ok, result.failure
    assert any(line.text.startswith("downloaded PDF file 'menu' (") for line in result.transcript)


REPEAT = """
[[steps]]
expect_quick_replies = {}
[[steps]]
name = "ask for the hours again and again"
[steps.repeat]
times = %d
steps = [
    { click = { text = "Opening hours" } },
    { expect_message = { contains = "11:00" } },
    { expect_quick_replies = {} },
]
"""
UNTIL = """
[[steps]]
expect_quick_replies = {}
[[steps]]
[steps.repeat]
times = %d
steps = [{ click = { position = %d } }]
until = { expect_message = { contains = "Which size" } }
"""


def test_repeat_runs_its_steps_the_number_of_times(pizza: Sandbox) -> None:
    result = run(pizza, REPEAT % 3)
    assert result.ok, result.failure
    clicks = [s for s in result.steps if s.kind == "click"]
    assert len(clicks) == 3
    assert {s.name for s in clicks} == {"steps[2].repeat.steps[0] click"}


def test_repeat_until_stops_when_met_and_fails_when_never_met(pizza: Sandbox) -> None:
    met = run(pizza, UNTIL % (3, 1))  # "Order a pizza" -> "Which size?" at once
    assert met.ok, met.failure
    assert [s.kind for s in met.steps].count("until") == 1
    never = run(pizza, UNTIL % (2, 2))  # "Opening hours" never leads to the size question
    assert never.failed_step is not None
    assert never.failed_step.error is not None
    assert never.failed_step.kind == "until"
    assert never.failed_step.error.startswith("expect_message not met after 2 rounds")


def test_a_survey_answered_as_the_pcs_tutorial_shows(pizza: Sandbox) -> None:
    result = run(pizza, """
[[steps]]
expect_quick_replies = {}
[[steps]]
click = { text = "Order a pizza" }
[[steps]]
expect_quick_replies = {}
[[steps]]
click = { text = "Small" }
[[steps]]
expect_rich_content = { types = ["carousel"] }
[[steps]]
click = { text = "Margherita" }
[[steps]]
expect_rich_content = { buttons = ["Confirm"] }
[[steps]]
click = { text = "Confirm" }
[[steps]]
expect_closed = {}
[[steps]]
answer_survey = { answers = ["4", 2] }
[[steps]]
expect_message = { text = "Thank you for your feedback!" }
""")
    assert result.ok, result.failure
    record = pizza.conversation(result.conversation_id or "")
    survey = next(d for d in record.dialogs if d.dialog_type == "POST_SURVEY")
    assert survey.state == "CLOSE"
    assert survey.closed_cause == "Completed"
    events = [e for e in record.events if e.dialog_id == survey.dialog_id]
    questions = [e for e in events if e.role == "AGENT" and e.event.get("quickReplies")]
    answers = [e for e in events if e.role == "CONSUMER"]
    assert [e.event.get("status") or e.event.get("message") for e in answers] == [
        "ACTION", "4", "ACTION", "No"]
    for question, (action, text) in zip(questions, (answers[0:2], answers[2:4]), strict=True):
        assert action.event["sequenceList"] == [question.sequence]
        [meta] = action.metadata
        assert meta["type"] == "Answer"
        assert meta["questionId"] == question.metadata[0]["id"]
        assert meta["id"] in question.metadata[0]["replies"]
        assert text.metadata == action.metadata
    assert record.stage == "CLOSE"


def test_every_new_step_kind_reaches_the_reports(pizza: Sandbox, tmp_path: Path) -> None:
    result = run(pizza, ORDER)
    assert result.ok, result.failure
    kinds = {"expect_quick_replies", "click", "expect_rich_content", "capture"}
    report = json.loads(json.dumps(json_report([result])))
    assert kinds <= {step["kind"] for step in report["runs"][0]["steps"]}
    assert any("[quick replies: Order a pizza" in line["text"]
               for line in report["runs"][0]["transcript"])
    assert any(line["text"].startswith("[carousel/vertical/image")
               for line in report["runs"][0]["transcript"])
    out = ET.fromstring(junit_xml([result])).find(".//system-out")  # noqa: S314
    assert out is not None
    assert out.text is not None
    assert "steps[2] click: ok" in out.text


def test_consumed_messages_keep_no_buttons_but_the_one_a_click_may_press(
        pizza: Sandbox) -> None:
    scenario = HEAD + ORDER + '[[steps]]\nclick = { text = "Confirm" }\n' \
        '[[steps]]\nexpect_message = { contains = "on its way" }\n'
    runner = Runner(parse_scenario(scenario), options_for(pizza))
    run_ = Run(runner, 1)
    result = run_.execute()
    assert result.ok, result.failure
    # (the survey that follows the close may be arriving: only the main dialog counts)
    messages = [m for m in run_.record.agent_messages if m.dialog_id == result.conversation_id]
    clickable = [m for m in messages if m.clickable]
    # the card clicked last may still be clicked; the questions and carousel before it are thin
    assert len(clickable) == 1
    assert clickable[0].buttons[0].title == "Confirm"
    assert messages[-1].text == "Thank you! Your order P-4711 is on its way."
    assert [m.text for m in messages[:2]] == ["Welcome to Pizza Bot! What would you like?",
                                            "Which size?"]
    assert messages[0].quick_replies == ()


def test_structured_content_nested_beyond_reason_is_read_to_a_bounded_depth() -> None:
    content: dict[str, Any] = {"type": "text", "text": "deep"}
    for _ in range(5000):  # deeper than Python's recursion limit
        content = {"type": "vertical", "elements": [content]}
    event = MessagingEvent.from_wire({"sequence": 1, "dialogId": "d", "originatorId": "a",
                                      "event": {"type": "RichContentEvent", "content": content}})
    message = received(event, 0.0)
    assert message is not None
    assert message.types == ("vertical",) * (MAX_DEPTH + 1)
