"""``lpbot transcript CONVERSATION_ID``: readable lines, JSON, per-day files, partial tails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lpbot.cli import main
from lpbot_plugins.transcript_logger import TranscriptFile

CONVERSATION = "6b2622de-26b7-4e05-a7f2-5c2d50b3502f"


def records(conversation_id: str = CONVERSATION) -> list[dict[str, Any]]:
    base = {"conversation_id": conversation_id, "dialog_id": conversation_id,
            "logged_at": "2030-01-01T09:00:00.000+00:00"}
    return [
        {**base, "kind": "opened", "dialog_id": None, "sequence": None,
         "server_timestamp": None},
        {**base, "kind": "participant_joined", "sequence": None, "server_timestamp": None,
         "participant": {"id": "agent-1", "role": "ASSIGNED_AGENT"}},
        {**base, "kind": "message", "sequence": 0, "server_timestamp": 1893488400000,
         "originator_id": "agent-1", "role": "ASSIGNED_AGENT",
         "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "Hi there"}},
        {**base, "kind": "accept_status", "sequence": 1, "server_timestamp": 1893488401000,
         "originator_id": "me", "role": "CONSUMER",
         "event": {"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]}},
        {**base, "kind": "chat_state", "sequence": None, "server_timestamp": None,
         "originator_id": "me", "role": "CONSUMER",
         "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"}},
        {**base, "kind": "closed", "sequence": None, "server_timestamp": 1893488402000,
         "closed_by": "AGENT"},
    ]


def write(path: Path, items: list[dict[str, Any]]) -> None:
    handle = TranscriptFile(path, fsync="never")
    for item in items:
        handle.append(item)
    handle.close()


def test_prints_a_conversation_readably(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / f"{CONVERSATION}.jsonl", records())
    with (tmp_path / f"{CONVERSATION}.jsonl").open("a") as partial:
        partial.write('{"kind": "message", "sequ')  # a crash mid-line: never shown
    assert main(["transcript", CONVERSATION, "--dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"conversation {CONVERSATION}"
    assert lines[1].endswith("-- conversation opened")
    assert "ASSIGNED_AGENT agent-1 joined" in lines[2]
    assert lines[3] == "2030-01-01 09:00:00  ASSIGNED_AGENT    #0  Hi there"
    assert lines[4].endswith("#1  (READ 0)")
    assert lines[5].endswith("(COMPOSING)")
    assert lines[6].endswith("-- conversation closed by AGENT")
    assert len(lines) == 7


def test_prints_json_and_finds_lines_in_per_day_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "2030-01-01.jsonl", records()[:3] + records("other")[:2])
    write(tmp_path / "2030-01-02.jsonl", records()[3:])
    assert main(["transcript", CONVERSATION, "--dir", str(tmp_path), "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in printed] == [r["kind"] for r in records()]
    assert {r["conversation_id"] for r in printed} == {CONVERSATION}


def test_reads_the_folder_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "state" / "logs" / f"{CONVERSATION}.jsonl", records())
    config = tmp_path / "bot.toml"
    config.write_text(f'[bot]\nstate_dir = "{tmp_path / "state"}"\n\n'
                      '[account]\nid = "123"\ncsds_domain = "example.com"\n\n'
                      '[plugins]\nenabled = ["transcript_logger"]\n\n'
                      '[plugins.transcript_logger]\ndirectory = "logs"\n')
    assert main(["transcript", CONVERSATION, "--config", str(config)]) == 0
    assert "Hi there" in capsys.readouterr().out


def test_an_unknown_conversation_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcript", "nope", "--dir", str(tmp_path)]) == 1
    assert "no transcript of nope" in capsys.readouterr().err


def test_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("[bot]\nname = 3\n")
    assert main(["transcript", CONVERSATION, "--config", str(config)]) == 2
    assert "bot.name" in capsys.readouterr().err
