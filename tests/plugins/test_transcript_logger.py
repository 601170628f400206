"""The transcript logger: crash-safe lines, de-duplication, redaction, and the sandbox's record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lpbot
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import BotHarness
from lpbot_plugins.transcript_logger import (
    Options,
    Redactor,
    TranscriptFile,
    TranscriptLogger,
    read_transcript,
    record_key,
)

QUICK = AgentOptions(accept_delay=0.01, reply_delay=0.01)
SEQUENCED = ("message", "accept_status")


def message_record(sequence: int, text: str = "hi", dialog: str = "d1") -> dict[str, Any]:
    return {"kind": "message", "conversation_id": "c1", "dialog_id": dialog,
            "sequence": sequence, "server_timestamp": 1000 + sequence, "originator_id": "a1",
            "role": "ASSIGNED_AGENT",
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text}}


# --- the file ------------------------------------------------------------------------------


def test_each_record_is_one_complete_line(tmp_path: Path) -> None:
    handle = TranscriptFile(tmp_path / "c1.jsonl", fsync="always")
    assert handle.append(message_record(0, "line one\nstill one"))
    assert handle.append(message_record(1, "two"))
    handle.close()
    lines = (tmp_path / "c1.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["sequence"] for line in lines[:-1]] == [0, 1]


def test_a_repeated_sequence_is_not_written_twice_even_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c1.jsonl"
    first = TranscriptFile(path, fsync="never")
    assert first.append(message_record(0))
    assert not first.append(message_record(0))
    first.close()
    second = TranscriptFile(path, fsync="interval", fsync_interval=0.0)
    assert not second.append(message_record(0))  # found in the file's existing lines
    assert second.append(message_record(1))
    assert second.append(message_record(1, dialog="survey"))  # another dialog, same sequence
    second.close()
    assert [(r["dialog_id"], r["sequence"]) for r in read_transcript(path)] == [
        ("d1", 0), ("d1", 1), ("survey", 1)]


def test_chat_states_are_never_deduplicated_but_metadata_is() -> None:
    chat = {"kind": "chat_state", "conversation_id": "c1", "sequence": None}
    joined = {"kind": "participant_joined", "conversation_id": "c1", "sequence": None,
              "participant": {"id": "a1", "role": "ASSIGNED_AGENT"}}
    assert record_key(chat) is None
    assert record_key(joined) == ("participant_joined", "c1", "a1", "ASSIGNED_AGENT")
    assert record_key({"kind": "closed", "conversation_id": "c1"}) == ("closed", "c1")


def test_a_partial_last_line_is_never_read_and_is_cut_off_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c1.jsonl"
    complete = json.dumps(message_record(0)) + "\n"
    path.write_text(complete + '{"kind": "message", "sequence": 1, "ev')
    assert [r["sequence"] for r in read_transcript(path)] == [0]
    handle = TranscriptFile(path, fsync="always")
    assert handle.append(message_record(1))
    handle.close()
    assert [r["sequence"] for r in read_transcript(path)] == [0, 1]
    assert path.read_text().startswith(complete)


def test_many_conversations_from_many_threads_with_few_open_files(tmp_path: Path) -> None:
    logger = TranscriptLogger(Options(max_open_files=2, fsync="never"), tmp_path)

    def write(worker: int) -> None:
        for sequence in range(40):
            record = message_record(sequence, dialog=f"conv-{worker}-{sequence % 4}")
            logger.write({**record, "conversation_id": f"conv-{worker}-{sequence % 4}"})

    threads = [threading.Thread(target=write, args=(n,), name=f"lpbot-test-{n}")
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    logger.close()
    files = sorted(tmp_path.glob("*.jsonl"))
    assert len(files) == 16
    assert all(len(list(read_transcript(path))) == 10 for path in files)


def test_redactor_masks_jwts_and_configured_patterns_in_values_only() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    redact = Redactor((r"card=\d+",))
    record = {"event": {"message": f"token {token} and card=4111 ok", "card=1": ["card=22"]}}
    assert redact(record) == {"event": {"message": "token *** and *** ok", "card=1": ["***"]}}


def test_values_json_would_stringify_are_masked_too(tmp_path: Path) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"

    class Opaque:
        def __str__(self) -> str:
            return f"opaque {token}"

    logger = TranscriptLogger(Options(fsync="never"), tmp_path)
    assert logger.write({**message_record(0), "extra": Opaque(), "path": Path(token)})
    logger.close()
    text = (tmp_path / "c1.jsonl").read_text()
    assert token not in text
    [record] = read_transcript(tmp_path / "c1.jsonl")
    assert (record["extra"], record["path"], record["sequence"]) == ("opaque ***", "***", 0)


@pytest.mark.parametrize(("table", "key"), [
    ({"per": "week"}, "plugins.transcript_logger.per"),
    ({"fsync": "sometimes"}, "plugins.transcript_logger.fsync"),
    ({"fsync_interval": -1}, "plugins.transcript_logger.fsync_interval"),
    ({"redact": ["ok", "(unclosed"]}, "plugins.transcript_logger.redact[1]"),
    ({"chat_states": "yes"}, "plugins.transcript_logger.chat_states"),
    ({"folder": "x"}, "plugins.transcript_logger.folder"),
])
def test_config_mistakes_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(lpbot.ConfigError) as caught:
        Options.from_config(lpbot.PluginConfig(name="transcript_logger", table=table,
                                                path="plugins.transcript_logger", file="bot.toml"))
    assert caught.value.key == key
    assert str(caught.value).startswith(f"bot.toml: {key}: ")


# --- against the sandbox --------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(agents=QUICK) as running:
        yield running


def comparable(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["dialog_id"], record["sequence"], record["originator_id"], record["role"],
            record["server_timestamp"], record["event"])


def sandbox_lines(sandbox: Sandbox, conversation_id: str, *, chat_states: bool) -> list[Any]:
    return [(e.dialog_id, e.sequence, e.originator_id, e.role, e.server_timestamp, e.event)
            for e in sandbox.conversation(conversation_id).events
            if chat_states or e.sequence is not None]


def test_scripted_conversation_matches_the_sandbox_record_line_for_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {"plugins": {"transcript_logger": {"fsync": "always", "directory": "logs"}}}
    with BotHarness(sandbox, state_dir=tmp_path, plugins=["lpbot_plugins.transcript_logger"],
                    config=config) as harness:
        conversation = harness.open_conversation(first_message="Where is my order?")
        sandbox.wait_for_event(conversation.id, lambda e: e.role == "ASSIGNED_AGENT"
                               and e.text == "Where is my order?", timeout=5)
        agent_says = sandbox.agents.say(conversation.id, "It ships today.")
        harness.events.wait_for("lpbot_message_received",
                                lambda c: c["message"].sequence == agent_says)
        conversation.mark_read([agent_says])
        conversation.send_text("Thanks!")
        sandbox.wait_for_event(conversation.id, lambda e: e.text == "Thanks!"
                               and e.role == "ASSIGNED_AGENT", timeout=5)
        conversation.close()
        harness.events.wait_for("lpbot_conversation_closed", timeout=5)
        last = sandbox.conversation(conversation.id).events[-1]
        path = tmp_path / "logs" / f"{conversation.id}.jsonl"
        wait_until(lambda: any(r.get("sequence") == last.sequence
                               for r in read_transcript(path)), 5, "the last event logged")
    records = list(read_transcript(path))
    sequenced = [comparable(r) for r in records if r["kind"] in SEQUENCED]
    assert sequenced == sandbox_lines(sandbox, conversation.id, chat_states=False)
    every_event = [comparable(r) for r in records if r["kind"] in (*SEQUENCED, "chat_state")]
    assert every_event == sandbox_lines(sandbox, conversation.id, chat_states=True)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "opened"
    assert kinds[-1] == "closed"
    assert records[-1]["closed_by"] == "CONSUMER"
    assert "participant_joined" in kinds
    assert "ttr_changed" in kinds
    assert all(r["conversation_id"] == conversation.id for r in records)


def test_jwts_in_messages_are_redacted_and_ttr_and_csat_are_logged(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token = sandbox.mint_brand_token("someone")
    config = {"plugins": {"transcript_logger": {"per": "day", "redact": [r"secret-\w+"]}}}
    with BotHarness(sandbox, state_dir=tmp_path, plugins=["lpbot_plugins.transcript_logger"],
                    config=config) as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == "ASSIGNED_AGENT")
        sandbox.agents.say(conversation.id, f"your token is {token}, key secret-abc")
        conversation.set_ttr("URGENT", 0)
        harness.events.wait_for("lpbot_ttr_changed", lambda c: c["ttr"].ttr_type == "URGENT")
        sandbox.agents.close(conversation.id)
        harness.events.wait_for("lpbot_conversation_closed")
        conversation.rate(3, resolved=False)
        harness.events.wait_for("lpbot_conversation_changed",
                                lambda c: c["current"].csat is not None)
        days = list((tmp_path / "transcripts").glob("*.jsonl"))
        assert len(days) == 1
        wait_until(lambda: any(r["kind"] == "csat" for r in read_transcript(days[0])), 5,
                   "the CSAT line")
    text = days[0].read_text()
    assert token not in text
    assert "secret-abc" not in text
    assert "your token is ***, key ***" in text
    records = list(read_transcript(days[0]))
    assert {"type": "URGENT", "value": 0} in [r.get("ttr") for r in records]
    csat = next(r for r in records if r["kind"] == "csat")["csat"]
    assert csat == {"rate": 3, "resolution_confirmation": False, "status": "FILLED"}
    closed = next(r for r in records if r["kind"] == "closed")
    assert closed["closed_by"] == "AGENT"


# --- kill -9 of the daemon -------------------------------------------------------------------


def write_config(path: Path, sandbox: Sandbox, transcripts: Path) -> None:
    path.write_text(f"""
[bot]
name = "transcript-test"
consumers = ["default"]
stop_timeout = 5.0

[account]
id = "{sandbox.account}"
csds_domain = "{sandbox.csds_domain}"
tls = false

[[jobs]]
id = "open"
kind = "open_conversation"
every = 3600
start_now = true
args = {{ first_message = "hello from the daemon" }}

[plugins]
enabled = ["transcript_logger"]

[plugins.transcript_logger]
directory = "{transcripts}"
fsync = "never"
""")


def start_daemon(config: Path, state: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "lpbot", "run", "--config", str(config),
             "--state-dir", str(state)],
            stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def running(daemon: subprocess.Popen[bytes], log: Path) -> bool:
    """True while the daemon runs; fails the test with its log if it ended early."""
    if daemon.poll() is not None:
        raise AssertionError(f"lpbot run exited with {daemon.returncode}:\n"
                             f"{log.read_text()[-3000:]}")
    return True


def texts_logged(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [r["event"].get("message") for r in read_transcript(path) if r["kind"] == "message"]


def test_transcript_survives_kill_9_of_the_daemon_without_losing_or_repeating_lines(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    transcripts = tmp_path / "transcripts"
    config = tmp_path / "bot.toml"
    write_config(config, sandbox, transcripts)
    log = tmp_path / "daemon.log"
    daemon = start_daemon(config, tmp_path / "state", log)
    try:
        wait_until(lambda: running(daemon, log) and sandbox.conversations(), 15,
                   "the daemon's conversation")
        record = sandbox.wait_for_conversation(timeout=1)
        path = transcripts / f"{record.conversation_id}.jsonl"
        wait_until(lambda: running(daemon, log) and "hello from the daemon" in
                   texts_logged(path), 15, "the first message in the transcript")
        sandbox.agents.burst(record.conversation_id, 300, prefix="before")
        wait_until(lambda: len(texts_logged(path)) >= 20, 10, "some of the burst logged")
        daemon.send_signal(signal.SIGKILL)
        assert daemon.wait(timeout=10) == -signal.SIGKILL
        sandbox.agents.burst(record.conversation_id, 20, prefix="while down")
        daemon = start_daemon(config, tmp_path / "state", log)
        wait_until(lambda: running(daemon, log) and "while down 19" in texts_logged(path), 20,
                   "the messages sent while the daemon was down")
        sandbox.agents.close(record.conversation_id)
        wait_until(lambda: any(r["kind"] == "closed" for r in read_transcript(path)), 10,
                   "the close")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0, log.read_text()[-2000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
    records = list(read_transcript(path))
    sequenced = [comparable(r) for r in records if r["kind"] in SEQUENCED]
    assert len(sequenced) == len(set(map(repr, sequenced))), "a line was written twice"
    assert sequenced == sandbox_lines(sandbox, record.conversation_id, chat_states=False)
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert all(json.loads(line) for line in raw.splitlines())


# --- kill -9 of a process in the middle of writing ------------------------------------------

#: appends 1 MiB lines to a transcript until it is killed, continuing the file's sequences
WRITER = """
import sys
from pathlib import Path
from lpbot_plugins.transcript_logger import TranscriptFile, read_transcript
path = Path(sys.argv[1])
handle = TranscriptFile(path, fsync="never")
sequence = sum(1 for _ in read_transcript(path))
while True:
    text = str(sequence % 10) * (1 << 20)
    handle.append({"kind": "message", "conversation_id": "c1", "dialog_id": "d1",
                   "sequence": sequence, "event": {"message": text}})
    sequence += 1
"""


def test_kill_9_while_writing_never_leaves_a_corrupt_or_partial_record(tmp_path: Path) -> None:
    path = tmp_path / "c1.jsonl"
    for round_number in range(3):
        size = path.stat().st_size if path.exists() else 0
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])  # noqa: S603
        try:
            wait_until(lambda size=size: path.exists() and path.stat().st_size > size + (8 << 20),
                       30, f"round {round_number}: the writer's lines")
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
        records = list(read_transcript(path))
        # every record read is whole, and none is missing or repeated
        assert [r["sequence"] for r in records] == list(range(len(records)))
        assert all(r["event"]["message"] == str(r["sequence"] % 10) * (1 << 20)
                   for r in records)
    # reopening cuts off a partial tail, keeps every complete line and knows what it holds
    complete = len(records)
    handle = TranscriptFile(path, fsync="always")
    assert not handle.append(message_record(complete - 1, dialog="d1"))
    assert handle.append(message_record(complete, dialog="d1"))
    handle.close()
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    assert [json.loads(line)["sequence"] for line in raw.splitlines()] == list(
        range(complete + 1))
