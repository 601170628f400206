"""``lpbot transcript CONVERSATION_ID``: print a logged conversation readably, or as JSON.

Reads what the bundled transcript logger wrote (the format is :mod:`lpbot.transcripts`):
``<dir>/<conversation id>.jsonl`` (one file per conversation) or the per-day files
``<dir>/YYYY-MM-DD.jsonl`` (lines of that conversation only). A partial last line, left by a
crash mid-write, is ignored. Scheduled synthetic scenario
runs show as what their consumer saw, then a line with the outcome.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from lpbot.errors import ConfigError
from lpbot.runtime.config import Config, default_state_dir
from lpbot.transcripts import find_records

__all__ = ["configure_parser", "format_record", "run"]

log = logging.getLogger(__name__)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the subcommand's arguments."""
    parser.add_argument("conversation_id", metavar="CONVERSATION_ID")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="readable lines (default) or a JSON array of the records")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the transcript folder (default: from --config, else "
                             "<state dir>/transcripts)")
    parser.add_argument("--config", type=Path, default=None,
                        help="read the folder from this config's [plugins.transcript_logger]")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the state directory (default: from the config, else the user's)")


def _when(record: Mapping[str, Any]) -> str:
    stamp = record.get("server_timestamp")
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    for key in ("at", "logged_at"):  # "at": when a scenario's consumer saw it
        logged = record.get(key)
        if isinstance(logged, str):
            return logged[:19].replace("T", " ")
    return " " * 19


def _scenario_result(record: Mapping[str, Any]) -> str:
    outcome = "passed" if record.get("ok") else f"FAILED {record.get('failure')}"
    duration = record.get("duration")
    took = f" in {duration:.3f} s" if isinstance(duration, int | float) else ""
    first = record.get("first_response")
    reply = (f", first response {first * 1000:.0f} ms" if isinstance(first, int | float)
             else "")
    return f"-- scenario {record.get('scenario')} run {record.get('run')} {outcome}{took}{reply}"


def _what(record: Mapping[str, Any]) -> str:
    kind = record.get("kind")
    event = record.get("event") or {}
    if kind == "message":
        message = event.get("message")
        if event.get("type") == "ContentEvent" and isinstance(message, str):
            if event.get("contentType", "text/plain") == "text/plain":
                return message
            return f"[{event.get('contentType')}] {message}"
        return f"[{event.get('type', 'event')}] {json.dumps(event.get('content', message))}"
    if kind == "accept_status":
        sequences = ", ".join(str(s) for s in event.get("sequenceList") or ())
        return f"({event.get('status')} {sequences})"
    if kind == "chat_state":
        return f"({event.get('chatState')})"
    if kind in ("participant_joined", "participant_left"):
        participant = record.get("participant") or {}
        verb = "joined" if kind == "participant_joined" else "left"
        return f"-- {participant.get('role')} {participant.get('id')} {verb}"
    if kind == "ttr_changed":
        ttr = record.get("ttr") or {}
        return f"-- TTR {ttr.get('type')} {ttr.get('value')} s"
    if kind == "csat":
        csat = record.get("csat") or {}
        return (f"-- CSAT {csat.get('rate')} (resolved: {csat.get('resolution_confirmation')}, "
                f"{csat.get('status')})")
    if kind == "opened":
        return "-- conversation opened"
    if kind == "closed":
        return f"-- conversation closed by {record.get('closed_by') or 'unknown'}"
    if kind == "scenario_line":
        text = str(record.get("text"))
        return text if record.get("who") in ("consumer", "agent") else f"-- {text}"
    if kind == "scenario_result":
        return _scenario_result(record)
    return f"-- {kind}"


def format_record(record: Mapping[str, Any]) -> str:
    """One readable line: time, who, sequence, what."""
    role = record.get("role") or ""
    sequence = record.get("sequence")
    if sequence is None:
        sequence = record.get("scenario_sequence")
    number = f"#{sequence}" if sequence is not None else ""
    return f"{_when(record)}  {role:<14} {number:>5}  {_what(record)}"


def _directory(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    state_dir: Path | None = args.state_dir
    configured: str | None = None
    if args.config is not None:
        config = Config.load(args.config)
        state_dir = state_dir or config.bot.state_dir
        table = config.plugins.tables.get("transcript_logger", {})
        value = table.get("directory")
        configured = value if isinstance(value, str) else None
    state = Path(state_dir) if state_dir is not None else default_state_dir()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else state / path
    return state / "transcripts"


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """Print the transcript; exit code 0, 1 when nothing was found, 2 on a config error."""
    out = stdout if stdout is not None else sys.stdout
    try:
        directory = _directory(args)
    except ConfigError as exc:
        sys.stderr.write(f"lpbot transcript: {exc}\n")
        return 2
    records = find_records(directory, args.conversation_id) if directory.is_dir() else None
    if records is None:
        sys.stderr.write(f"lpbot transcript: no transcript of {args.conversation_id} "
                         f"in {directory}\n")
        return 1
    if args.format == "json":
        out.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(f"conversation {args.conversation_id}\n")
        for record in records:
            out.write(format_record(record) + "\n")
    return 0
