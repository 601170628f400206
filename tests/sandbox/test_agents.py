"""Simulated agents: accept, greet, receipts, typing, modes, idle close, control API (§7.2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from lpbot.sandbox import AgentOptions, Sandbox

from .conftest import CANONICAL, Consumer, load_fixture, open_consumer, signup


def _agent_events(sandbox: Sandbox, cid: str) -> list[tuple[str, object]]:
    return [
        (e.event_type, e.event.get("chatState") or e.event.get("status") or e.event.get("message"))
        for e in sandbox.conversation(cid).events
        if e.role == "ASSIGNED_AGENT"
    ]


@pytest.fixture
def rules_sandbox() -> Iterator[Sandbox]:
    options = AgentOptions(
        mode="rules",
        rules=((r"hours", "We are open 9-17."), (r"order (\d+)", r"Order \1 has shipped.")),
        accept_delay=0,
        reply_delay=0,
        greeting=None,
        typing=False,
    )
    with Sandbox(agents=options, wire_variants=CANONICAL) as sandbox:
        yield sandbox


def test_accept_greet_receipts_typing_reply_order(sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.subscribe_conversations()
    cid = consumer.request_conversation()
    consumer.conversation_change(
        lambda c: len(c["result"]["conversationDetails"]["participants"]) == 2
    )
    greeting = sandbox.wait_for_event(cid, lambda e: e.role == "ASSIGNED_AGENT")
    assert greeting.text is not None
    assert greeting.text.startswith("Hi, I'm ")
    seq = consumer.publish_text(cid, "hello")
    sandbox.wait_for_event(cid, lambda e: e.event.get("chatState") == "ACTIVE")
    assert _agent_events(sandbox, cid)[1:] == [
        ("AcceptStatusEvent", "ACCEPT"),
        ("AcceptStatusEvent", "READ"),
        ("ChatStateEvent", "COMPOSING"),
        ("ContentEvent", "hello"),
        ("ChatStateEvent", "ACTIVE"),
    ]
    receipts = [e for e in sandbox.conversation(cid).events if e.event_type == "AcceptStatusEvent"]
    assert all(e.event["sequenceList"] == [seq] for e in receipts)


def test_rules_mode(rules_sandbox: Sandbox) -> None:
    client = open_consumer(rules_sandbox, signup(rules_sandbox))
    try:
        cid = client.request_conversation()
        client.publish_text(cid, "what are your hours?")
        client.publish_text(cid, "where is order 1234")
        last = client.publish_text(cid, "unmatched text")
        rules_sandbox.wait_for_event(cid, lambda e: e.text == "Order 1234 has shipped.")
        rules_sandbox.wait_for_event(
            cid, lambda e: e.event.get("sequenceList") == [last] and e.event.get("status") == "READ"
        )
        assert rules_sandbox.conversation(cid).texts("ASSIGNED_AGENT") == [
            "We are open 9-17.",
            "Order 1234 has shipped.",
        ]
    finally:
        client.close()


def test_silent_mode_accepts_but_never_writes() -> None:
    options = AgentOptions(mode="silent", accept_delay=0, receipts=False)
    with Sandbox(agents=options, wire_variants=CANONICAL) as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        try:
            client.subscribe_conversations()
            cid = client.request_conversation()
            client.conversation_change(
                lambda c: len(c["result"]["conversationDetails"]["participants"]) == 2
            )
            client.publish_text(cid, "anyone?")
            client.ok("GetClock")
            assert _agent_events(sandbox, cid) == []
        finally:
            client.close()


def test_messages_before_acceptance_are_answered_after(
    quiet_sandbox: Sandbox, quiet_consumer: Consumer
) -> None:
    cid = quiet_consumer.request_conversation()
    quiet_consumer.publish_text(cid, "early")
    agent_id = quiet_sandbox.agents.accept(cid)
    event = quiet_sandbox.wait_for_event(
        cid, lambda e: e.role == "ASSIGNED_AGENT" and e.text == "early"
    )
    assert event.originator_id == agent_id
    assert quiet_sandbox.agents.accept(cid) == agent_id  # accepting twice keeps the agent


def test_idle_close_is_visible_to_subscribers() -> None:
    options = AgentOptions(accept_delay=0, reply_delay=0, idle_close=0.2)
    with Sandbox(agents=options, wire_variants=CANONICAL) as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        try:
            client.subscribe_conversations()
            cid = client.request_conversation()
            closed = client.conversation_change(
                lambda c: c["result"]["conversationDetails"]["state"] == "CLOSE"
            )
            details = closed["result"]["conversationDetails"]
            assert details["closeReason"] == "AGENT"
            assert details["dialogs"][0]["closedBy"] == "AGENT"
            assert sandbox.conversation(cid).close_reason == "AGENT"
        finally:
            client.close()


def test_control_api(quiet_sandbox: Sandbox, quiet_consumer: Consumer) -> None:
    client, agents = quiet_consumer, quiet_sandbox.agents
    client.subscribe_conversations()
    cid = client.request_conversation()
    client.subscribe_events(cid)
    agent_id = agents.accept(cid, agents.profiles[1][0])
    assert agent_id == agents.profiles[1][0]
    seq = agents.say(cid, "pick one", quick_replies={"type": "quickReplies", "replies": []})
    said = client.event(lambda c: c.get("sequence") == seq)
    assert said["event"]["quickReplies"]["type"] == "quickReplies"
    assert said["originatorMetadata"] == {"id": agent_id, "role": "ASSIGNED_AGENT"}
    card = load_fixture("18-event-RichContentEvent.json")["content"]
    seq = agents.say_rich(cid, card)
    assert client.event(lambda c: c.get("sequence") == seq)["event"] == {
        "type": "RichContentEvent",
        "content": card,
    }
    agents.typing(cid)
    assert "sequence" not in client.event(lambda c: c["event"].get("chatState") == "COMPOSING")
    mine = client.publish_text(cid, "one")
    seq = agents.read(cid, [mine])
    assert client.event(lambda c: c.get("sequence") == seq)["event"]["sequenceList"] == [mine]
    sequences = agents.burst(cid, 20, prefix="n")
    assert sequences == list(range(sequences[0], sequences[0] + 20))
    for index, sequence in enumerate(sequences):
        assert (
            client.event(lambda c, s=sequence: c.get("sequence") == s)["event"]["message"]
            == f"n {index}"
        )
    agents.close(cid)
    closed = client.conversation_change(
        lambda c: c["result"]["conversationDetails"]["state"] == "CLOSE"
    )
    assert closed["result"]["conversationDetails"]["closeReason"] == "AGENT"
    with pytest.raises(ValueError, match="closed"):
        agents.say(cid, "too late")
    with pytest.raises(KeyError):
        agents.say("nope", "x")


def test_profiles_are_served(sandbox: Sandbox) -> None:
    assert len(sandbox.agents.profiles) == 3
    agent_id, nickname, picture_url, employee_id = sandbox.agents.profiles[0]
    url = (
        f"{sandbox.http_url}/api/account/{sandbox.account}/configuration/le-users/users/{agent_id}"
    )
    profile = requests.get(url, timeout=5).json()
    assert set(profile) == set(load_fixture("24-agent-public-profile.json"))
    assert (profile["nickname"], profile["pictureUrl"], profile["employeeId"]) == (
        nickname,
        picture_url,
        employee_id,
    )
    picture = requests.get(picture_url, timeout=5)
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/svg+xml"
    assert requests.get(url.replace(agent_id, "nobody"), timeout=5).status_code == 404
    jsonp = requests.get(url, params={"cb": "show"}, timeout=5)
    assert jsonp.text.startswith("show({")


def test_no_agents_means_no_acceptance() -> None:
    with Sandbox(agents=AgentOptions(count=0, accept_delay=0)) as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        try:
            cid = client.request_conversation()
            client.ok("GetClock")
            with pytest.raises(ValueError, match="no agents"):
                sandbox.agents.accept(cid)
            assert sandbox.conversation(cid).assigned_agent_id is None
        finally:
            client.close()


@pytest.mark.parametrize(
    "bad", [{"mode": "chatty"}, {"count": -1}, {"mode": "rules", "rules": (("(", "x"),)}]
)
def test_agent_options_are_validated(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        AgentOptions(**bad)  # type: ignore[arg-type]


def _assigned_agents(change: dict[str, object]) -> list[str]:
    details = change["result"]["conversationDetails"]  # type: ignore[index]
    return [p["id"] for p in details["participants"] if p["role"] == "ASSIGNED_AGENT"]


def test_transfer_changes_the_assigned_agent(
    quiet_sandbox: Sandbox, quiet_consumer: Consumer
) -> None:
    client, agents = quiet_consumer, quiet_sandbox.agents
    client.subscribe_conversations()
    cid = client.request_conversation()
    first = agents.accept(cid, agents.profiles[0][0])
    client.conversation_change(lambda c: _assigned_agents(c) == [first])

    second = agents.transfer(cid)
    assert second not in (first, None)
    change = client.conversation_change(lambda c: second in _assigned_agents(c))
    assert _assigned_agents(change) == [second]  # the first left as the second joined
    details = change["result"]["conversationDetails"]
    assert [p["id"] for p in details["dialogs"][0]["participantsDetails"]].count(first) == 0
    greeting = quiet_sandbox.wait_for_event(
        cid, lambda e: e.originator_id == second and e.text is not None
    )
    assert greeting.role == "ASSIGNED_AGENT"
    client.publish_text(cid, "still there?")
    echo = quiet_sandbox.wait_for_event(
        cid, lambda e: e.text == "still there?" and e.role != "CONSUMER"
    )
    assert echo.originator_id == second
    assert quiet_sandbox.conversation(cid).assigned_agent_id == second

    third = agents.profiles[2][0]
    assert agents.transfer(cid, third) == third
    client.conversation_change(lambda c: _assigned_agents(c) == [third])
    with pytest.raises(ValueError, match="already"):
        agents.transfer(cid, third)
    with pytest.raises(ValueError, match="unknown agent"):
        agents.transfer(cid, "nobody")
    agents.close(cid)
    with pytest.raises(ValueError, match="closed"):
        agents.transfer(cid)
    with pytest.raises(KeyError):
        agents.transfer("nope")


def test_transfer_needs_another_agent() -> None:
    with Sandbox(agents=AgentOptions(count=1, accept_delay=None)) as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        try:
            cid = client.request_conversation()
            sandbox.agents.accept(cid)
            with pytest.raises(ValueError, match="no other agent"):
                sandbox.agents.transfer(cid)
        finally:
            client.close()


def test_close_by_the_system(quiet_sandbox: Sandbox, quiet_consumer: Consumer) -> None:
    client, agents = quiet_consumer, quiet_sandbox.agents
    client.subscribe_conversations()
    cid = client.request_conversation()
    agents.accept(cid)
    with pytest.raises(ValueError, match="no survey"):
        agents.close(cid, survey=True, reason="SYSTEM")
    with pytest.raises(ValueError, match="reason"):
        agents.close(cid, reason="BORED")
    assert quiet_sandbox.conversation(cid).state == "OPEN"
    agents.close(cid, reason="SYSTEM")
    closed = client.conversation_change(
        lambda c: c["result"]["conversationDetails"]["state"] == "CLOSE"
    )
    details = closed["result"]["conversationDetails"]
    assert (details["closeReason"], details["stage"]) == ("SYSTEM", "CLOSE")
    assert len(details["dialogs"]) == 1
    assert quiet_sandbox.conversation(cid).close_reason == "SYSTEM"
