"""Files over the sandbox: send a file (upload, PUT, hosted-file message), fetch one back;
the documented limits checked before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lpbot.client import Client
from lpbot.protocol.events import ContentEvent
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

from .support import Recorder

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def hosted(sandbox: Sandbox, conversation_id: str) -> list[dict[str, Any]]:
    return [e.event for e in sandbox.conversation(conversation_id).events
            if e.event.get("contentType") == "hosted/file"]


def test_send_a_file_from_a_path_and_fetch_it_back(
        sandbox: Sandbox, make_client: Callable[..., tuple[Client, Recorder]],
        tmp_path: Path) -> None:
    client, recorder = make_client()
    client.connect(timeout=10)
    conversation = client.open_conversation(timeout=10)
    image = tmp_path / "receipt.png"
    image.write_bytes(PNG)
    sequence = conversation.send_file(image, caption="my receipt")
    [event] = hosted(sandbox, conversation.id)
    assert event["message"]["caption"] == "my receipt"
    assert event["message"]["fileType"] == "PNG"
    assert event["message"]["relativePath"].endswith(".PNG")
    echo = sandbox.wait_for_event(conversation.id, lambda e: e.sequence == sequence)
    assert echo.role == "CONSUMER"
    assert conversation.fetch_file(event["message"]["relativePath"]) == PNG
    mine = wait_until(lambda: [e for e in list(recorder.events) if e.sequence == sequence],
                      5.0, "the echo")
    assert isinstance(mine[0].event, ContentEvent)
    assert conversation.fetch_file(mine[0]) == PNG


@pytest.mark.parametrize(("source", "file_type", "message"), [
    (b"%PDF-1.4", "PDF", "file type 'PDF' cannot be uploaded"),
    (b"", "PNG", "a shared file has 1 byte to 3 MB, not 0 bytes"),
    (b"x" * (3 * 1024 * 1024 + 1), "JPG", "a shared file has 1 byte to 3 MB"),
    (PNG, None, "file type None cannot be uploaded"),
])
def test_the_documented_limits_are_checked_before_anything_is_sent(
        sandbox: Sandbox, make_client: Callable[..., tuple[Client, Recorder]],
        source: bytes, file_type: str | None, message: str) -> None:
    client, _ = make_client()
    client.connect(timeout=10)
    conversation = client.open_conversation(timeout=10)
    sent_before = client.stats.requests
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        conversation.send_file(source, file_type=file_type)
    assert client.stats.requests == sent_before
    assert hosted(sandbox, conversation.id) == []


def test_fetching_a_text_message_as_a_file_is_refused(
        make_client: Callable[..., tuple[Client, Recorder]]) -> None:
    client, recorder = make_client()
    client.connect(timeout=10)
    conversation = client.open_conversation(timeout=10)
    sequence = conversation.send_text("not a file")
    [mine] = wait_until(lambda: [e for e in list(recorder.events) if e.sequence == sequence],
                      5.0, "the echo")
    with pytest.raises(ValueError, match="not a hosted file"):
        conversation.fetch_file(mine)
