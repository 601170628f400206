"""The transcript format: JSON Lines files, one per conversation or one per UTC day.

The bundled transcript logger writes them and ``lpbot transcript`` reads them; both go through
this module, so the two agree on file names and on how a file is read. Each line is one JSON
object, written whole by a single ``write()``; a partial last line (only possible if the system
died mid-write) is never read as data. Standard library only, so any layer may use it.

Files: ``<directory>/<conversation id>.jsonl`` (the id made safe for a file name), or
``<directory>/<YYYY-MM-DD>.jsonl`` holding every conversation of that UTC day.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Final

__all__ = ["DAY_FILE", "find_records", "read_transcript", "transcript_path"]

log = logging.getLogger(__name__)

#: the name of a per-day transcript file
DAY_FILE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\.jsonl")


def transcript_path(directory: Path, conversation_id: str | None = None, *,
                    day: date | None = None) -> Path:
    """The file of one conversation, or (with ``day``) the file of one UTC day.

    A conversation id is a UUID; anything else is made safe for a file name.
    """
    if (conversation_id is None) == (day is None):
        raise TypeError("give exactly one of conversation_id or day")  # a bug, not input
    if day is not None:
        return directory / f"{day:%Y-%m-%d}.jsonl"
    assert conversation_id is not None  # noqa: S101 -- checked above, for mypy
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", conversation_id).lstrip(".") or "_"
    return directory / f"{safe}.jsonl"


def read_transcript(path: Path | str) -> Iterator[dict[str, Any]]:
    """Yield the records of a transcript file; a trailing partial line is never yielded.

    A complete line that is not a JSON object is skipped with a warning.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            log.warning("%s:%d: not a JSON line, skipped", path, number)
            continue
        if isinstance(record, dict):
            yield record


def find_records(directory: Path, conversation_id: str) -> list[dict[str, Any]] | None:
    """Every record of a conversation, from its own file or else the per-day files, in order.

    Returns None when the conversation is in no file.
    """
    own = transcript_path(directory, conversation_id)
    if own.is_file():
        return list(read_transcript(own))
    found: list[dict[str, Any]] = []
    for day in sorted(p for p in directory.glob("*.jsonl") if DAY_FILE.fullmatch(p.name)):
        found.extend(r for r in read_transcript(day)
                     if r.get("conversation_id") == conversation_id)
    return found or None
