"""The flow bot agent: flow files checked whole (key paths in errors), ``--flow`` on the
command line, and a transfer to another skill as the consumer sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lpbot.client import Client, ClientOptions
from lpbot.sandbox import AgentOptions, ConversationRecord, FlowError, Sandbox, load_flow
from lpbot.sandbox.flow import parse_flow

ROOT = Path(__file__).resolve().parents[2]
GOOD = '[states.a]\ntext = "hi"\non = [{ text = "x", goto = "a" }]\n'


@pytest.mark.parametrize(("text", "key", "message"), [
    ('[states.a]\ntext = "hi"\ngoto = "b"\n', "states.a.goto", "unknown state 'b'"),
    ('[states.a]\ntext = "hi"\non = [{ text = "x", goto = "nowhere" }]\n', "states.a.on[0].goto",
     "unknown state 'nowhere'"),
    ('[flow]\nstart = "z"\n' + GOOD, "flow.start", "unknown state 'z'"),
    ('[states.a]\ntext = "hi"\nsend = "x"\n', "states.a.send", "unknown key"),
    ('[states.a]\ntext = "hi"\nquick_replies = ["A"]\non = [{ button = "B", goto = "a" }]\n',
     "states.a.on[0].button", "no button 'B' in this state (buttons: A)"),
    ('[states.a]\ntext = "hi"\non = [{ text = "(", goto = "a" }]\n', "states.a.on[0].text",
     "not a valid regular expression"),
    ('[states.a]\ncard = { title = 3 }\n', "states.a.card.title", "expected a string"),
    ('[states.a]\ntext = "x"\ntransfer = "billing"\n', "states.a.transfer", "needs goto"),
    ('[states.a]\nfile = { type = "EXE" }\n', "states.a.file.type", "expected one of"),
    (GOOD + '[survey]\nquestions = [{ text = "?" }]\n', "survey.questions[0].replies",
     "quick-reply answers"),
    ('[bot]\n' + GOOD, "bot", "unknown key"),
])
def test_a_wrong_flow_names_the_key_path(text: str, key: str, message: str) -> None:
    with pytest.raises(FlowError) as caught:
        parse_flow(text, file="f.toml")
    assert caught.value.key == key
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"f.toml: {key}: ")


def test_the_sample_flows_load() -> None:
    for path in sorted((ROOT / "config" / "flows").glob("*.toml")):
        flow = load_flow(path)
        assert flow.start in flow.states


def test_lpbot_sandbox_with_a_wrong_flow_exits_2_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[states.a]\ntext = "hi"\ngoto = "b"\n', encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", "--flow", str(bad)],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"lpbot sandbox: {bad}: states.a.goto: unknown state 'b' "
                                   "(states: a)")


def test_a_scenario_naming_a_wrong_flow_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[states.a]\ntext = 1\n', encoding="utf-8")
    scenario = tmp_path / "s.toml"
    scenario.write_text('[scenario.sandbox]\nflow = "bad.toml"\n[[steps]]\nclose = {}\n',
                        encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", str(scenario)], capture_output=True,
        text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert f"{tmp_path / 'bad.toml'}: states.a.text: expected a string" in done.stderr


HELLO = "Hi, a person here. How can I help?"


def ask_for_a_person(agents: int) -> tuple[ConversationRecord, ConversationRecord, str]:
    """A consumer of the pizza bot with ``agents`` agents asks for a person: the conversation
    before and after, and who said the second skill's hello."""
    options = AgentOptions(count=agents, mode="flow", accept_delay=0.01, reply_delay=0.01,
                           flow=load_flow(ROOT / "config" / "flows" / "pizza.toml"))
    with Sandbox(agents=options) as sandbox, Client(ClientOptions(
            account=sandbox.account, csds_domain=sandbox.csds_domain, tls=False)) as client:
        client.connect(timeout=10)
        conversation = client.open_conversation(timeout=10)
        sandbox.wait_for_event(conversation.id, lambda e: bool(e.event.get("quickReplies")))
        before = sandbox.conversation(conversation.id)
        conversation.send_text("Talk to a person please", timeout=10)
        hello = sandbox.wait_for_event(conversation.id, lambda e: e.event.get("message") == HELLO,
                                       timeout=10)
        return before, sandbox.conversation(conversation.id), hello.originator_id


def test_a_transfer_moves_the_conversation_to_the_skill_and_a_new_agent_goes_on() -> None:
    before, after, speaker = ask_for_a_person(agents=3)
    assert before.skill_id == "-1"
    assert after.skill_id == "human-support"
    assert after.assigned_agent_id is not None
    assert after.assigned_agent_id != before.assigned_agent_id
    assert speaker == after.assigned_agent_id


def test_with_one_agent_a_transfer_changes_the_skill_and_the_same_agent_goes_on() -> None:
    before, after, speaker = ask_for_a_person(agents=1)
    assert after.skill_id == "human-support"
    assert speaker == after.assigned_agent_id == before.assigned_agent_id


def test_synth_in_flow_mode_without_a_flow_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", str(ROOT / "config" / "scenarios" /
                                                     "order_status.toml"),
         "--agent-mode", "flow"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == ("lpbot synth: --agent-mode flow needs --flow FILE "
                                   "(or [scenario.sandbox] flow)")


def test_synth_reads_a_configs_relative_flow_next_to_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "bad.toml").write_text('[states.a]\ntext = "hi"\ngoto = "b"\n', encoding="utf-8")
    (folder / "lpbot.toml").write_text(
        '[sandbox]\nenabled = true\nagent_mode = "flow"\nflow = "bad.toml"\n', encoding="utf-8")
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", str(ROOT / "config" / "scenarios" /
                                                     "order_status.toml"),
         "--config", str(folder / "lpbot.toml")], capture_output=True, text=True, timeout=30,
        check=False, cwd=tmp_path)
    assert done.returncode == 2
    assert f"{folder / 'bad.toml'}: states.a.goto: unknown state 'b'" in done.stderr
