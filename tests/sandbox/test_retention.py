"""A sandbox with ``closed_retention`` forgets closed conversations: its memory stays flat."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lpbot.sandbox import Sandbox

from .conftest import QUICK, Consumer, open_consumer, signup


@pytest.fixture
def forgetful() -> Iterator[Sandbox]:
    with Sandbox(agents=QUICK, closed_retention=0.0) as running:
        yield running


def close(consumer: Consumer, cid: str) -> None:
    consumer.ok("cm.UpdateConversationField", {
        "conversationId": cid,
        "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}],
    })


def test_closed_conversations_are_forgotten_after_the_retention(forgetful: Sandbox) -> None:
    consumer = open_consumer(forgetful, signup(forgetful))
    try:
        consumer.subscribe_conversations()
        for _ in range(20):
            cid = consumer.request_conversation()
            consumer.publish_text(cid, "hello")
            close(consumer, cid)
        cid = consumer.request_conversation()  # forgetting happens as conversations come and go
        assert [c.conversation_id for c in forgetful.conversations()] == [cid]
        world = forgetful._world
        assert set(world.dialogs) == {cid}
        assert sum(len(v) for v in world.by_consumer.values()) == 1
        members = [m for s in world.live_sessions() for m in s.subscription_members.values()]
        assert all(m <= {cid} for m in members)
        unknown = consumer.request("ms.SubscribeMessagingEvents", {"dialogId": "nope"})
        assert unknown["code"] == 400
        consumer.subscribe_events(cid)  # the live one is untouched
    finally:
        consumer.close()


def test_without_a_retention_closed_conversations_stay(sandbox: Sandbox,
                                                       consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    close(consumer, cid)
    assert sandbox.conversation(cid).stage == "CLOSE"


def test_a_csat_after_the_close_leaves_nothing_behind_in_the_agents(
        sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    close(consumer, cid)
    consumer.ok("cm.UpdateConversationField", {
        "conversationId": cid, "conversationField": [{"field": "CSATRate", "csatRate": 5,
                                                     "csatResolutionConfirmation": True,
                                                     "status": "FILLED"}],
    })
    pool = sandbox.agents._pool
    assert cid not in pool._last_activity
