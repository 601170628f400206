"""Frames arrive intact and in order when one socket read holds many of them, or part of one."""

from __future__ import annotations

from lpbot.client.frames import READ_SIZE

from .support import agent_assigned


def test_small_and_large_frames_back_to_back_arrive_whole_and_in_order(sandbox, make_client):
    client, recorder = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    large = "".join(chr(0x41 + i % 26) for i in range(5 * READ_SIZE + 123))
    wide = "é€😀" * (READ_SIZE // 3)  # multi-byte UTF-8 across read boundaries

    sandbox.agents.burst(conversation.id, 300, prefix="a")
    sandbox.agents.say(conversation.id, large)
    sandbox.agents.burst(conversation.id, 300, prefix="b")
    sandbox.agents.say(conversation.id, wide)
    sandbox.agents.burst(conversation.id, 10, prefix="c")

    texts = recorder.wait_agent_texts(612)
    expected = ([f"a {i}" for i in range(300)] + [large] + [f"b {i}" for i in range(300)]
                + [wide] + [f"c {i}" for i in range(10)])
    assert texts == expected
    sequences = recorder.sequences(conversation.id)
    assert sequences == sorted(set(sequences))
