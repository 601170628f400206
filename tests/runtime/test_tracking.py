"""The tracker remembers a bounded number of closed conversations, forgetting the longest closed."""

from __future__ import annotations

import pytest

from lpbot.runtime import tracking

from .conftest import MakeHarness


def test_the_longest_closed_conversations_are_forgotten_beyond_the_bound(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracking, "KEEP_CLOSED", 2)
    with make_harness() as harness:
        tracker = harness.bot.tracker
        closed = []
        for _ in range(3):  # one open conversation per consumer at a time (protocol notes §8.5)
            conversation = harness.open_conversation()
            conversation.close()
            assert tracker.wait_until(lambda c=conversation: tracker.activity(c.id).closed, 5)
            closed.append(conversation.id)
        still_open = harness.open_conversation()

        remembered = [cid for cid in closed if tracker.activity(cid).closed]
        assert remembered == closed[1:]
        assert tracker.wait_until(
            lambda: [cid for cid, _ in tracker.open_conversations()] == [still_open.id], 5)


def test_closed_conversations_are_forgotten_after_the_retention(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running bot's memory stays flat: a count alone is reached only after hours."""
    monkeypatch.setattr(tracking, "CLOSED_RETENTION", 0.0)
    with make_harness() as harness:
        tracker = harness.bot.tracker
        closed = []
        for _ in range(3):
            conversation = harness.open_conversation()
            conversation.close()
            assert tracker.wait_until(lambda c=conversation: tracker.activity(c.id).closed, 5)
            closed.append(conversation.id)
        remembered = [cid for cid in closed if tracker.activity(cid).closed]
        assert remembered == closed[-1:]  # each close forgets those closed before it
