"""The auto-responder: rules and their checks, and replies to the sandbox's agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lpbot
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.sandbox.records import RecordedEvent
from lpbot.testing.harness import BotHarness
from lpbot_plugins.auto_responder import AutoResponder, Options, Rule, RuleSpec, Template

PLUGIN = "lpbot_plugins.auto_responder"
QUICK: dict[str, Any] = {"accept_delay": 0.01, "reply_delay": 0.01}
NO_DELAY = {"typing_delay": 0, "typing_per_char": 0}


def config(table: dict[str, Any]) -> lpbot.PluginConfig:
    return lpbot.PluginConfig(name="auto_responder", table=table, path="plugins.auto_responder",
                              file="bot.toml")


def options(*rules: dict[str, Any], **table: Any) -> Options:
    return Options.from_config(config({"rules": list(rules), **table}))


def rule(**table: Any) -> Rule:
    return Rule.compile(RuleSpec(**table), key="k", file="bot.toml", index=0)


# --- rules -------------------------------------------------------------------------------------


def test_a_bad_regex_fails_naming_the_rule_and_its_key() -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        options({"name": "fine", "keyword": "hours", "reply": "9-17"},
                {"name": "broken", "regex": "order (\\d+", "reply": "ok"})
    message = str(caught.value)
    assert message.startswith("bot.toml: plugins.auto_responder.rules[1] (broken).regex: ")
    assert "bad regex" in message


def test_a_bad_regex_in_the_rule_file_names_the_file_and_the_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nname = "ok"\nany = true\nreply = "hi"\n\n'
                     '[[rules]]\nname = "orders"\nregex = "[unclosed"\nreply = "x"\n')
    with pytest.raises(lpbot.ConfigError) as caught:
        Options.from_config(config({"rules_file": "rules.toml"}), base=tmp_path)
    assert str(caught.value).startswith(f"{rules}: rules[1] (orders).regex: bad regex")


@pytest.mark.parametrize(("table", "problem"), [
    ({"name": "r", "keyword": "x", "reply": "hello {nick}"},
     "rules[0] (r).reply: unknown placeholder {nick}"),
    ({"name": "r", "regex": "(a)", "reply": "{2}"}, "rules[0] (r).reply: unknown placeholder {2}"),
    ({"name": "r", "any": True, "reply": "a { b"}, "rules[0] (r).reply: stray '{'"),
    ({"name": "r", "keyword": "x", "regex": "y", "reply": "z"},
     "rules[0] (r): a rule needs exactly one of"),
    ({"name": "r", "keyword": "", "reply": "z"}, "rules[0] (r).keyword: expected a non-empty"),
    ({"name": "r", "any": True}, "rules[0] (r).reply: a rule needs a reply, a file or both"),
    ({"name": "r", "any": "yes", "reply": "z"}, "rules[0].any: expected true or false"),
    ({"name": "r", "any": True, "reply": "z", "anything": 1}, "rules[0].anything: unknown key"),
])
def test_rule_mistakes_fail_at_start_up(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        options(table)
    assert str(caught.value).startswith("bot.toml: plugins.auto_responder.")
    assert problem in str(caught.value)


@pytest.mark.parametrize(("table", "key"), [
    ({"match": "some"}, "plugins.auto_responder.match"),
    ({"max_replies": 0}, "plugins.auto_responder.max_replies"),
    ({"cooldown": -1}, "plugins.auto_responder.cooldown"),
    ({"typing": "on"}, "plugins.auto_responder.typing"),
    ({"replies": 3}, "plugins.auto_responder.replies"),
])
def test_option_mistakes_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        options({"any": True, "reply": "x"}, **table)
    assert caught.value.key == key


def test_no_rules_is_a_mistake() -> None:
    with pytest.raises(lpbot.ConfigError, match="no rules"):
        Options.from_config(config({}))


def test_keyword_regex_groups_and_placeholders() -> None:
    keyword = rule(keyword="hours", reply="9-17")
    assert keyword.match("What are your HOURS?") is not None
    assert keyword.match("no hoursless words") is None
    regex = rule(regex=r"order (?P<number>\d+) (\w+)",
                 reply="{{#{number}}} is {2} ({1}), {nickname}, {time}")
    values = regex.match("my order 42 shipped?")
    assert values is not None
    text = regex.reply.render({**values, "nickname": "Ann", "time": "09:00"})
    assert text == "{#42} is shipped (42), Ann, 09:00"
    assert Template.parse("plain", ["x"]).render({}) == "plain"


def test_first_match_and_all_match() -> None:
    rules = ({"name": "a", "keyword": "price", "reply": "A"},
             {"name": "b", "regex": "pri", "reply": "B"},
             {"name": "c", "any": True, "reply": "C"})
    first = AutoResponder(options(*rules))
    every = AutoResponder(options(*rules, match="all"))
    assert [rule.name for rule, _ in first.matches("the price?")] == ["a"]
    assert [rule.name for rule, _ in every.matches("the price?")] == ["a", "b", "c"]
    assert [rule.name for rule, _ in every.matches(None)] == ["c"]  # rich content: only "any"


def test_typing_delay_grows_with_the_reply_and_is_capped() -> None:
    opts = options({"any": True, "reply": "x"}, typing_delay=0.5, typing_per_char=0.1,
                   typing_max=1.0)
    assert opts.delay_for("abc") == pytest.approx(0.8)
    assert opts.delay_for("a" * 100) == 1.0


# --- against the sandbox ----------------------------------------------------------------------


@pytest.fixture
def echo_sandbox() -> Iterator[Sandbox]:
    with Sandbox(agents=AgentOptions(**QUICK)) as running:
        yield running


@pytest.fixture
def quiet_sandbox() -> Iterator[Sandbox]:
    """Agents that accept but never speak on their own: the test speaks for them."""
    with Sandbox(agents=AgentOptions(mode="silent", greeting=None, **QUICK)) as running:
        yield running


def consumer_texts(sandbox: Sandbox, conversation_id: str) -> list[str]:
    return sandbox.conversation(conversation_id).texts(role="CONSUMER")


def harness(sandbox: Sandbox, tmp_path: Path, **table: Any) -> BotHarness:
    return BotHarness(sandbox, state_dir=tmp_path, plugins=[PLUGIN],
                      config={"plugins": {"auto_responder": table}})


def close_and_settle(bot: BotHarness, sandbox: Sandbox, conversation_id: str) -> None:
    """Close as the agent and wait for the bot to see it: every earlier event was handled."""
    sandbox.agents.close(conversation_id)
    bot.events.wait_for("lpbot_conversation_closed", timeout=5)


def test_answers_the_agents_greeting_and_stops_at_its_cap(
    echo_sandbox: Sandbox, tmp_path: Path
) -> None:
    table = {"max_replies": 3, "cooldown": 0, **NO_DELAY,
             "rules": [{"name": "greeting", "regex": "^Hi, I'm (\\w+)",
                        "reply": "Hello {nickname} ({1}), this is {conversation_id}"},
                       {"name": "echoes", "any": True, "reply": "again, {nickname}"}]}
    with harness(echo_sandbox, tmp_path, **table) as bot:
        conversation = bot.open_conversation()
        # the echo agent repeats every reply, so without the cap the two would talk forever
        bot.events.wait_for("lpbot_message_received", lambda c: c["message"].role ==
                            "ASSIGNED_AGENT", count=4, timeout=10)
        close_and_settle(bot, echo_sandbox, conversation.id)
        record = echo_sandbox.conversation(conversation.id)
    nickname = next(nick for agent_id, nick, *_ in echo_sandbox.agents.profiles
                    if agent_id == record.assigned_agent_id)
    assert consumer_texts(echo_sandbox, conversation.id) == [
        f"Hello {nickname} ({nickname}), this is {conversation.id}",
        f"again, {nickname}",
        f"again, {nickname}",
    ]
    events: list[RecordedEvent] = list(record.events)
    greeting = next(e for e in events if e.role == "ASSIGNED_AGENT" and e.text)
    reply = next(i for i, e in enumerate(events) if e.role == "CONSUMER" and e.text)
    before = events[:reply]
    assert any(e.event == {"type": "AcceptStatusEvent", "status": "READ",
                           "sequenceList": [greeting.sequence]} for e in before)
    assert before[-1].event == {"type": "ChatStateEvent", "chatState": "COMPOSING"}


def test_cooldown_holds_back_a_second_reply(quiet_sandbox: Sandbox, tmp_path: Path) -> None:
    table = {"cooldown": 3600, "read_receipt": False, "typing": False,
             "rules": [{"name": "hours", "keyword": "hours", "reply": "We are open 9-17."}]}
    with harness(quiet_sandbox, tmp_path, **table) as bot:
        conversation = bot.open_conversation()
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT")
        quiet_sandbox.agents.say(conversation.id, "Want our opening hours?")
        quiet_sandbox.wait_for_consumer_message(conversation.id, timeout=5)
        quiet_sandbox.agents.say(conversation.id, "Hours again?")
        quiet_sandbox.agents.say(conversation.id, "Something else")
        close_and_settle(bot, quiet_sandbox, conversation.id)
        events = quiet_sandbox.conversation(conversation.id).events
    assert consumer_texts(quiet_sandbox, conversation.id) == ["We are open 9-17."]
    own_types = {e.event_type for e in events if e.role == "CONSUMER"}
    assert own_types == {"ContentEvent"}  # typing and read receipts were off


def test_all_match_replies_once_per_matching_rule_and_ignores_own_echo(
    quiet_sandbox: Sandbox, tmp_path: Path
) -> None:
    table = {"match": "all", "cooldown": 0, "typing": False,
             "rules": [{"name": "price", "keyword": "price", "reply": "It costs 5."},
                       {"name": "polite", "regex": "(?i)please", "reply": "Of course!"},
                       {"name": "never", "keyword": "refund", "reply": "no"}]}
    with harness(quiet_sandbox, tmp_path, **table) as bot:
        conversation = bot.open_conversation(first_message="price please")  # own: no answer
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT")
        quiet_sandbox.agents.say(conversation.id, "The price, please?")
        quiet_sandbox.wait_for_event(conversation.id, lambda e: e.text == "Of course!")
        close_and_settle(bot, quiet_sandbox, conversation.id)
    assert consumer_texts(quiet_sandbox, conversation.id) == [
        "price please", "It costs 5.", "Of course!"]


def test_a_broken_rule_stops_the_bot_at_start_up(quiet_sandbox: Sandbox, tmp_path: Path) -> None:
    table = {"rules": [{"name": "orders", "regex": "(unclosed", "reply": "x"}]}
    with pytest.raises(lpbot.LpError) as caught, harness(quiet_sandbox, tmp_path, **table):
        pass
    assert "rules[0] (orders).regex" in str(caught.value)
    assert quiet_sandbox.conversations() == []


def test_a_typing_delay_holds_up_only_its_own_conversation(
    quiet_sandbox: Sandbox, tmp_path: Path
) -> None:
    slow_reply = "s" * 400  # 400 characters at 0.01 s each: the 3 s cap
    table = {"cooldown": 0, "max_replies": 10, "read_receipt": False, "typing_delay": 0,
             "typing_per_char": 0.01, "typing_max": 3.0,
             "rules": [{"name": "slow", "keyword": "slow", "reply": slow_reply},
                       {"name": "quick", "keyword": "quick", "reply": "q"}]}
    with BotHarness(quiet_sandbox, state_dir=tmp_path, plugins=[PLUGIN], consumers=("a", "b"),
                    config={"bot": {"workers": 1},
                            "plugins": {"auto_responder": table}}) as bot:
        first = bot.open_conversation("a")
        second = bot.open_conversation("b")
        bot.events.wait_for("lpbot_participant_joined",
                            lambda c: c["participant"].role == "ASSIGNED_AGENT", count=2)
        quiet_sandbox.agents.say(first.id, "a slow question")
        quiet_sandbox.agents.say(first.id, "and a quick one")
        quiet_sandbox.wait_for_event(first.id, lambda e: e.role == "CONSUMER" and e.event == {
            "type": "ChatStateEvent", "chatState": "COMPOSING"})
        # The first conversation now waits 3 s on the only worker; the second answers at once.
        quiet_sandbox.agents.say(second.id, "quick?")
        quiet_sandbox.wait_for_consumer_message(second.id)
        assert consumer_texts(quiet_sandbox, first.id) == []  # still typing its slow reply
        # ... and within the first conversation, the quick question waited for the slow reply.
        quiet_sandbox.wait_for_event(first.id, lambda e: e.text == "q", timeout=5)
        close_and_settle(bot, quiet_sandbox, first.id)
    assert consumer_texts(quiet_sandbox, first.id) == [slow_reply, "q"]
    assert consumer_texts(quiet_sandbox, second.id) == ["q"]


# --- files ------------------------------------------------------------------------------------

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("menu.pdf", b"%PDF", "a consumer can send JPG, JPEG, PNG, GIF files only"),
    ("empty.png", b"", "a shared file has 1 byte to 3 MB"),
    ("absent.png", None, "cannot read"),
])
def test_a_rule_file_beyond_the_limits_fails_at_start_up(
        tmp_path: Path, name: str, data: bytes | None, problem: str) -> None:
    if data is not None:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(lpbot.ConfigError, match=problem) as caught:
        Options.from_config(config({"rules": [{"name": "r", "any": True, "file": name}]}),
                            base=tmp_path)
    assert caught.value.key == "plugins.auto_responder.rules[0] (r).file"


def test_a_rule_sends_a_file_after_its_reply(quiet_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "receipt.png").write_bytes(PNG)
    table = {"cooldown": 0, "read_receipt": False, "typing": False,
             "rules": [{"name": "receipt", "keyword": "receipt", "reply": "Here it is.",
                        "file": str(tmp_path / "receipt.png"), "caption": "your receipt"}]}
    with harness(quiet_sandbox, tmp_path, **table) as bot:
        conversation = bot.open_conversation()
        quiet_sandbox.agents.say(conversation.id, "Shall I need your receipt?")
        sent = quiet_sandbox.wait_for_event(
            conversation.id, lambda e: e.event.get("contentType") == "hosted/file")
    assert consumer_texts(quiet_sandbox, conversation.id) == ["Here it is."]
    assert sent.role == "CONSUMER"
    assert sent.event["message"]["caption"] == "your receipt"
    assert sent.event["message"]["fileType"] == "PNG"
