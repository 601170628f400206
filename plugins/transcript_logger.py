r"""Transcript logger: every conversation event as crash-safe, de-duplicated JSON Lines.

One append-only file per conversation (``<directory>/<conversation id>.jsonl``) or per UTC day
(``<directory>/<YYYY-MM-DD>.jsonl``). Each line is one JSON object written whole by a single
``write()`` on an ``O_APPEND`` descriptor, so a ``kill -9`` at any moment leaves every complete
line readable; a partial last line (only possible if the system dies mid-write) is cut off when
the file is opened again and never parsed as data by :func:`read_transcript`.

Duplicates: the client delivers each (dialog, sequence) exactly once across restarts, and a
sequence is committed only after every hook returned; so the one event that can come again is
the one being logged when the process died. Each file's existing lines are read when it is
opened, and an event whose key is already there is skipped. JWTs and the configured patterns
are masked in every string before it is written.

Scheduled synthetic scenarios (``lpbot_scenario_result``) are logged too, in their
conversation's file: a ``scenario_line`` per line their consumer saw, then a ``scenario_result``
with the outcome and every step's timing. A run that never got a conversation is logged in
``synthetic-<scenario>.jsonl``.

Config (``[plugins.transcript_logger]``)::

    directory = "transcripts"   # relative to the state directory; default: <state>/transcripts
    per = "conversation"        # or "day"
    fsync = "interval"          # "always" | "interval" | "never"
    fsync_interval = 1.0        # seconds, for fsync = "interval"
    redact = ["card=\\d+"]      # extra regular expressions to mask
    chat_states = true          # log COMPOSING / ACTIVE ...
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import lpbot
from lpbot import read_transcript, transcript_path

if TYPE_CHECKING:
    from lpbot import (
        Bot,
        Conversation,
        ConversationDetails,
        MessagingEvent,
        Participant,
        PluginConfig,
        RunResult,
        Ttr,
    )


__all__ = [
    "FileClosedError",
    "Options",
    "Redactor",
    "TranscriptFile",
    "TranscriptLogger",
    "lpbot_configure",
    "read_transcript",
    "record_key",
]

log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's ``[plugins.transcript_logger]`` table, checked."""

    directory: Path | None = None
    per: Literal["conversation", "day"] = "conversation"
    fsync: Literal["always", "interval", "never"] = "interval"
    fsync_interval: float = field(default=1.0, metadata={"min": 0})
    redact: tuple[str, ...] = ()
    chat_states: bool = True
    max_open_files: int = field(default=64, metadata={"min": 1})

    @classmethod
    def from_config(cls, config: PluginConfig) -> Options:
        """Check the table; raises ``ConfigError`` naming the key path of a wrong value."""
        options = config.parse(cls)
        for index, pattern in enumerate(options.redact):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise config.error(f"redact[{index}]",
                                   f"not a valid regular expression: {exc}") from exc
        return options


# ---------------------------------------------------------------------------
# Redaction, keys, reading
# ---------------------------------------------------------------------------


class Redactor:
    """Masks JWTs and configured patterns in every string of a JSON-like value."""

    def __init__(self, patterns: tuple[str, ...] = ()) -> None:
        # lpbot's redaction: JWTs by their structure, then the configured patterns; a message
        # that merely says "authorization: ..." is the consumer's text and is kept
        self._text = lpbot.Redactor(patterns, authorization=False)

    def __call__(self, value: Any) -> Any:
        """A copy of ``value`` with secrets in strings (not keys) replaced by ``***``."""
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            return {key: self(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self(str(value))  # what JSON could only write as str(value) is masked too


def record_key(record: Mapping[str, Any]) -> tuple[object, ...] | None:
    """What makes a line unique: (dialog, sequence) for sequenced events; None for chat states."""
    kind = record.get("kind")
    sequence = record.get("sequence")
    if sequence is not None:
        return ("seq", record.get("dialog_id"), sequence)
    conversation = record.get("conversation_id")
    if kind in ("participant_joined", "participant_left"):
        participant = record.get("participant") or {}
        return (kind, conversation, participant.get("id"), participant.get("role"))
    if kind == "ttr_changed":
        ttr = record.get("ttr") or {}
        return (kind, conversation, ttr.get("type"), ttr.get("value"))
    if kind in ("opened", "closed", "csat"):
        return (kind, conversation)
    if kind in ("scenario_line", "scenario_result"):
        return (kind, conversation, record.get("scenario"), record.get("run_started_at"),
                record.get("line"))
    return None


# ---------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------


class FileClosedError(ValueError):
    """A line was appended to a :class:`TranscriptFile` after it was closed."""


class TranscriptFile:
    """One append-only JSON Lines file: whole-line writes, fsync policy, de-duplication.

    Thread-safe: conversations logged to one per-day file come from several worker threads.
    """

    def __init__(self, path: Path, *, fsync: str = "interval", fsync_interval: float = 1.0) -> None:
        self.path = path
        self._fsync = fsync
        self._interval = fsync_interval
        self._lock = threading.Lock()
        self._keys: set[tuple[object, ...]] = set()
        self._last_sync = time.monotonic()
        self._dirty = False
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not path.exists()
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        if created and fsync != "never":
            _sync_directory(path.parent)  # the new file's name survives a power cut too
        self._repair_and_load()

    def _repair_and_load(self) -> None:
        if self._fd is None:
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("%s: dropping a partial last line of %d bytes", self.path, len(data) - end)
            os.ftruncate(self._fd, end)
        for record in read_transcript(self.path):
            key = record_key(record)
            if key is not None:
                self._keys.add(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def append(self, record: Mapping[str, Any]) -> bool:
        """Write ``record`` as one line unless its key is already in the file; True if written."""
        key = record_key(record)
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
                + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise FileClosedError(f"{self.path} is closed")
            if key is not None and key in self._keys:
                log.debug("%s: %s already logged", self.path, key)
                return False
            view = memoryview(line)
            while view:  # one write() for a regular file; the loop only guards short writes
                written = os.write(self._fd, view)
                view = view[written:]
            if key is not None:
                self._keys.add(key)
            self._dirty = True
            now = time.monotonic()
            if self._fsync == "always" or (
                    self._fsync == "interval" and now - self._last_sync >= self._interval):
                os.fsync(self._fd)
                self._last_sync, self._dirty = now, False
            return True

    def close(self) -> None:
        """Sync (unless fsync is ``never``) and close; idempotent."""
        with self._lock:
            if self._fd is None:
                return
            if self._dirty and self._fsync != "never":
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------


def _sync_directory(directory: Path) -> None:
    """Sync a folder to disk, so that a file just created in it is found after a power cut."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:  # not every platform can open a folder
        log.debug("cannot sync %s: %s", directory, exc)
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        log.debug("cannot sync %s: %s", directory, exc)
    finally:
        os.close(fd)


#: how a scenario transcript's ``who`` is written as a role
_ROLES: Final = {"consumer": "CONSUMER", "agent": "ASSIGNED_AGENT"}


def _wire(value: Any) -> Any:
    """The wire form of a protocol object: its ``raw`` mapping, else ``to_wire()``."""
    raw = getattr(value, "raw", None)
    if isinstance(raw, Mapping) and raw:
        return dict(raw)
    return value.to_wire()


class TranscriptLogger:
    """The per-bot instance: hook implementations writing to :class:`TranscriptFile` objects."""

    def __init__(self, options: Options, directory: Path) -> None:
        self.options = options
        self.directory = directory
        self._redact = Redactor(options.redact)
        self._lock = threading.Lock()
        self._files: OrderedDict[str, TranscriptFile] = OrderedDict()

    def path_for(self, conversation_id: str) -> Path:
        """The file a conversation's next line goes to."""
        if self.options.per == "day":
            return transcript_path(self.directory, day=datetime.now(UTC).date())
        return transcript_path(self.directory, conversation_id)

    def write(self, record: dict[str, Any]) -> bool:
        """Redact and append ``record`` to its conversation's file; True if a line was written."""
        record = self._redact(record)
        path = self.path_for(record["conversation_id"])
        while True:
            with self._lock:
                handle = self._files.get(str(path))
                if handle is None:
                    handle = TranscriptFile(path, fsync=self.options.fsync,
                                            fsync_interval=self.options.fsync_interval)
                    self._files[str(path)] = handle
                    while len(self._files) > self.options.max_open_files:
                        self._files.popitem(last=False)[1].close()
                self._files.move_to_end(str(path))
            try:
                return handle.append(record)
            except FileClosedError:
                continue  # evicted by another thread in between: open it again

    def close(self, conversation_id: str | None = None) -> None:
        """Close one conversation's file (per-conversation mode), or every file."""
        with self._lock:
            if conversation_id is None:
                handles = list(self._files.values())
                self._files.clear()
            elif self.options.per == "conversation":
                found = self._files.pop(str(self.path_for(conversation_id)), None)
                handles = [found] if found is not None else []
            else:
                handles = []
        for handle in handles:
            handle.close()

    def _event(self, kind: str, conversation: Conversation, message: MessagingEvent) -> None:
        self.write({
            "kind": kind,
            "conversation_id": message.conversation_id or conversation.id,
            "dialog_id": message.dialog_id,
            "sequence": message.sequence,
            "server_timestamp": message.server_timestamp,
            "originator_id": message.originator_id,
            "role": None if message.role is None else str(message.role),
            "event": _wire(message.event),
            "metadata": [dict(item) for item in message.metadata],
            "logged_at": _now(),
        })

    def _meta(self, kind: str, conversation: Conversation, **fields: Any) -> None:
        details = conversation.state
        stamp = None if details is None else details.meta_data_last_update_ts
        self.write({"kind": kind, "conversation_id": conversation.id, "dialog_id": None,
                    "sequence": None, "server_timestamp": stamp, **fields,
                    "logged_at": _now()})

    @lpbot.hookimpl
    def lpbot_message_received(self, conversation: Conversation, message: MessagingEvent) -> None:
        """Log a message, the agent's or this consumer's own."""
        self._event("message", conversation, message)

    @lpbot.hookimpl
    def lpbot_accept_status_received(
        self, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Log an ACCEPT / READ status."""
        self._event("accept_status", conversation, message)

    @lpbot.hookimpl
    def lpbot_chat_state_received(
        self, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Log a chat state (COMPOSING, ACTIVE ...) unless ``chat_states`` is off."""
        if self.options.chat_states:
            self._event("chat_state", conversation, message)

    @lpbot.hookimpl
    def lpbot_conversation_opened(self, conversation: Conversation) -> None:
        """Log the conversation's start."""
        details = conversation.state
        self._meta("opened", conversation,
                   start_ts=None if details is None else details.start_ts)

    @lpbot.hookimpl
    def lpbot_participant_joined(
        self, conversation: Conversation, participant: Participant
    ) -> None:
        """Log a participant joining (the agent who accepted, a manager)."""
        self._meta("participant_joined", conversation,
                   participant={"id": participant.id, "role": str(participant.role)})

    @lpbot.hookimpl
    def lpbot_participant_left(self, conversation: Conversation, participant: Participant) -> None:
        """Log a participant leaving."""
        self._meta("participant_left", conversation,
                   participant={"id": participant.id, "role": str(participant.role)})

    @lpbot.hookimpl
    def lpbot_ttr_changed(self, conversation: Conversation, ttr: Ttr) -> None:
        """Log a time-to-respond change."""
        self._meta("ttr_changed", conversation,
                   ttr={"type": str(ttr.ttr_type), "value": ttr.value})

    @lpbot.hookimpl
    def lpbot_conversation_changed(
        self, conversation: Conversation, previous: ConversationDetails | None,
        current: ConversationDetails,
    ) -> None:
        """Log a CSAT rating when it appears in the conversation's details."""
        csat = current.csat
        if csat is not None and (previous is None or previous.csat != csat):
            self._meta("csat", conversation, csat={
                "rate": csat.rate, "resolution_confirmation": csat.resolution_confirmation,
                "status": csat.status})

    @lpbot.hookimpl
    def lpbot_conversation_closed(self, conversation: Conversation, closed_by: str | None) -> None:
        """Log the close and release the conversation's file."""
        details = conversation.state
        self._meta("closed", conversation, closed_by=closed_by,
                   end_ts=None if details is None else details.end_ts)
        self.close(conversation.id)

    @lpbot.hookimpl
    def lpbot_scenario_result(self, result: RunResult) -> None:
        """Log a scheduled scenario run: what its consumer saw, then the outcome and steps."""
        conversation_id = result.conversation_id or f"synthetic-{result.scenario}"
        common = {"conversation_id": conversation_id, "dialog_id": None, "sequence": None,
                  "server_timestamp": None, "scenario": result.scenario, "run": result.run,
                  "run_started_at": _iso(result.started_at)}
        for number, line in enumerate(result.transcript):
            who = line.who
            self.write({"kind": "scenario_line", **common, "line": number,
                        "role": _ROLES.get(who, None if who == "system" else who.upper()),
                        "who": who, "text": line.text,
                        "scenario_sequence": line.sequence, "at": _iso(line.at),
                        "logged_at": _now()})
        self.write({
            "kind": "scenario_result", **common, "file": result.file, "ok": result.ok,
            "failure": result.failure, "duration": result.duration,
            "first_response": result.first_response, "consumer_id": result.consumer_id,
            "steps": [{"index": step.index, "kind": step.kind, "name": step.name,
                       "started_at": _iso(step.started_at), "duration": step.duration,
                       "ok": step.ok, "error": step.error} for step in result.steps],
            "at": _iso(result.started_at + result.duration), "logged_at": _now()})
        if result.conversation_id is not None:
            self.close(result.conversation_id)

    @lpbot.hookimpl
    def lpbot_shutdown(self) -> None:
        """Sync and close every open file."""
        self.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@lpbot.hookimpl
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Check the config and register this bot's :class:`TranscriptLogger`."""
    options = Options.from_config(config)
    state_dir = Path(bot.state_dir)
    directory = options.directory
    if directory is None:
        directory = state_dir / "transcripts"
    elif not directory.is_absolute():
        directory = state_dir / directory
    directory.mkdir(parents=True, exist_ok=True)
    bot.plugin_manager.register(TranscriptLogger(options, directory),
                                name=f"{config.name}.instance")
