"""A long backlog is replayed in pages the socket can take, so a late reader catches up."""

from __future__ import annotations

import json

from lpbot.sandbox import Sandbox
from lpbot.sandbox.wire import PAGE_BYTES

from .conftest import Consumer, open_consumer, signup

BACKLOG = 20_000


def test_a_long_backlog_is_replayed_in_pages_without_a_drop(quiet_sandbox: Sandbox) -> None:
    sandbox = quiet_sandbox
    token = signup(sandbox)
    consumer = open_consumer(sandbox, token)
    try:
        consumer.subscribe_conversations()
        cid = consumer.request_conversation()
        sandbox.agents.accept(cid)
        sandbox.agents.burst(cid, BACKLOG, prefix="backlog message with some length to it")
    finally:
        consumer.close()
    total = sandbox.conversation(cid).dialogs[0].next_sequence  # the burst and what came before
    late = open_consumer(sandbox, token)  # the same consumer, back after a restart
    try:
        late.ok("ms.SubscribeMessagingEvents", {"dialogId": cid, "fromSeq": 0})
        sizes, sequences = [], []
        while len(sequences) < total:
            raw = late.ws.recv(timeout=10)
            frame = json.loads(raw)
            if frame.get("type") != "ms.MessagingEventNotification":
                continue
            sizes.append(len(raw))
            sequences += [c["sequence"] for c in frame["body"]["changes"] if "sequence" in c]
        assert sequences == sorted(sequences)
        assert sequences == list(range(total))
        assert total > BACKLOG
        assert len(sizes) > 1
        assert max(sizes) <= PAGE_BYTES + 1024
        assert sandbox.connection_count == 1  # not dropped as a slow reader
    finally:
        late.close()


def test_an_empty_replay_is_one_empty_notification(consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    assert consumer.subscribe_events(cid) == []
