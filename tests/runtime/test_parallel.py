"""200 consumers, 200 conversations at once: every hook sees each conversation's events in order."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lpbot
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import ConversationDetails, MessagingEvent
from lpbot.sandbox import Sandbox

from .conftest import MakeHarness, wait_for

CONVERSATIONS = 200
BURST = 10


class OrderWatcher:
    """Records, per conversation, every hook call with the worker thread it ran on."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[str, Any, str]]] = defaultdict(list)
        self.lock = threading.Lock()

    def _add(self, conversation: lpbot.Conversation, hook: str, value: Any) -> None:
        with self.lock:
            self.calls[conversation.id].append((hook, value, threading.current_thread().name))

    @lpbot.hookimpl
    def lpbot_conversation_opened(self, conversation: lpbot.Conversation) -> None:
        self._add(conversation, "opened", None)

    @lpbot.hookimpl
    def lpbot_conversation_changed(self, conversation: lpbot.Conversation,
                                   previous: ConversationDetails | None,
                                   current: ConversationDetails) -> None:
        self._add(conversation, "changed", (previous, current))

    @lpbot.hookimpl
    def lpbot_participant_joined(self, conversation: lpbot.Conversation, participant: Any) -> None:
        self._add(conversation, "joined", participant)

    @lpbot.hookimpl
    def lpbot_message_received(self, conversation: lpbot.Conversation,
                               message: MessagingEvent) -> None:
        self._add(conversation, "message", message)

    @lpbot.hookimpl
    def lpbot_accept_status_received(self, conversation: lpbot.Conversation,
                                     message: MessagingEvent) -> None:
        self._add(conversation, "status", message)

    def of(self, conversation_id: str, hook: str) -> list[Any]:
        with self.lock:
            return [value for name, value, _ in self.calls[conversation_id] if name == hook]


def test_200_conversations_in_parallel_keep_their_order_in_every_hook(
    make_harness: MakeHarness, lp_sandbox: Sandbox
) -> None:
    watcher = OrderWatcher()
    config = {"bot": {"workers": 4, "consumers": []}}
    with make_harness(plugins=[watcher], config=config) as harness, \
            ThreadPoolExecutor(16, thread_name_prefix="test-opener") as pool:
        bot = harness.bot

        def open_one(index: int) -> str:
            bot.add_consumer(f"consumer-{index}")
            return bot.open_conversation(f"consumer-{index}").id

        ids = list(pool.map(open_one, range(CONVERSATIONS)))
        assert len(set(ids)) == CONVERSATIONS
        wait_for(lambda: all(any(p.role == Role.ASSIGNED_AGENT for p in watcher.of(i, "joined"))
                             for i in ids), timeout=30, what="an agent in every conversation")
        bursts = dict(zip(ids, pool.map(
            lambda i: lp_sandbox.agents.burst(i, BURST, prefix=i[:8]), ids), strict=True))
        wait_for(lambda: all(bursts[i][-1] in [m.sequence for m in watcher.of(i, "message")]
                             for i in ids), timeout=30, what="every burst to arrive")

    for conversation_id in ids:
        calls = watcher.calls[conversation_id]
        # one conversation, one worker thread: that is what keeps its order
        assert len({thread for _, _, thread in calls}) == 1
        assert calls[0][0] == "opened"
        messages = [m.sequence for m in watcher.of(conversation_id, "message")]
        assert messages == sorted(set(messages)), "messages out of order or repeated"
        assert set(bursts[conversation_id]) <= set(messages)
        statuses = [m.sequence for m in watcher.of(conversation_id, "status")]
        assert statuses == sorted(set(statuses))
        changes = watcher.of(conversation_id, "changed")
        assert changes[0][0] is None
        assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(changes))
        texts = [m.event.text for m in watcher.of(conversation_id, "message")
                 if m.role == Role.ASSIGNED_AGENT and m.event.text.startswith(conversation_id[:8])]
        assert texts == [f"{conversation_id[:8]} {n}" for n in range(BURST)]
