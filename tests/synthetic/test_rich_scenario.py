"""The new step kinds are checked whole before anything connects: errors name the key path."""

from __future__ import annotations

import pytest

from lpbot.errors import ConfigError
from lpbot.synthetic.scenario import parse_scenario

HEAD = "[[steps]]\nopen_conversation = {}\n"
BRANCH = """
[[steps]]
[[steps.branch]]
expect_message = { contains = "a" }
steps = [ { say = { text = "x" } } ]
[[steps.branch]]
"""


@pytest.mark.parametrize(("steps", "key", "message"), [
    ("[[steps]]\nexpect_quick_replies = { match = \"some\" }\n",
     "steps[1].expect_quick_replies.match", "expected one of: all, any, exact"),
    ("[[steps]]\nexpect_rich_content = { types = [1] }\n", "steps[1].expect_rich_content.types[0]",
     "expected a string"),
    ("[[steps]]\nclick = {}\n", "steps[1].click", "give exactly one of text or position"),
    ("[[steps]]\nclick = { position = 0 }\n", "steps[1].click.position", "positions start at 1"),
    ("[[steps]]\ncapture = { pattern = \"(\\\\d+)\" }\n", "steps[1].capture.pattern",
     "capture needs named groups"),
    ("[[steps]]\nsay = { text = \"{later}\" }\n"
     "[[steps]]\ncapture = { pattern = \"(?P<later>x)\" }\n",
     "steps[1].say.text", "unknown variable {later}"),
    ("[[steps]]\nsend_file = { type = \"EXE\" }\n", "steps[1].send_file.type", "expected one of"),
    ("[[steps]]\nsend_file = { path = \"nope.png\" }\n", "steps[1].send_file.path",
     "no such file"),
    ("[[steps]]\nanswer_survey = { answers = [] }\n", "steps[1].answer_survey.answers",
     "give the answers"),
    (BRANCH + "expect_message = {}\nsteps = [ { shout = {} } ]\n",
     "steps[1].branch[1].steps[0].shout", "unknown step 'shout'"),
    (BRANCH + "expect_participant = {}\n", "steps[1].branch[1].expect_participant",
     "unknown key"),
    ("[[steps]]\n[[steps.branch]]\nexpect_message = {}\n", "steps[1].branch",
     "at least two cases"),
    ("[[steps]]\nrepeat = { steps = [ { say = { text = \"x\" } } ] }\n", "steps[1].repeat.times",
     "missing required key"),
    ("[[steps]]\nrepeat = { times = 2, steps = [{ say = { text = \"x\" } }], "
     "until = { say = {} } }\n", "steps[1].repeat.until", "give exactly one of: expect_message"),
])
def test_a_wrong_step_names_its_key_path(steps: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(HEAD + steps, file="s.toml")
    assert caught.value.key == key
    assert message in str(caught.value)


def test_a_variable_captured_in_one_branch_is_known_after_it() -> None:
    scenario = parse_scenario(HEAD + BRANCH.replace(
        'steps = [ { say = { text = "x" } } ]',
        'steps = [ { capture = { pattern = "(?P<ticket>T-1)" } } ]') + """
expect_closed = {}
[[steps]]
say = { text = "my ticket is {ticket}" }
""")
    assert [step.kind for step in scenario.steps] == ["open_conversation", "branch", "say"]
