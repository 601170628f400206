"""Log output for the command line: human or JSON-lines format, with secrets redacted.

The library itself only adds a ``NullHandler``; :func:`configure_logging` is called by the CLI.
Every handler it installs carries a :class:`RedactingFilter`, which masks JWTs,
``Authorization`` values, configured patterns and known secret values in the message, its
arguments, and any traceback, before any formatter sees the record; what a secret looks like is
:mod:`lpbot.redaction`'s to say.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from lpbot.redaction import Redactor

__all__ = [
    "HumanFormatter",
    "JsonLinesFormatter",
    "RedactingFilter",
    "configure_logging",
]


class RedactingFilter(logging.Filter):
    """Mask secrets in a record's message, arguments and traceback; never drops a record.

    Args:
        patterns: Extra regular expressions whose matches are masked (from ``[logging]``).
        secrets: Literal secret values to mask (from the config's ``{ env = ... }`` values).
    """

    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = Redactor(patterns, secrets)
        """``redact(text)``: ``text`` with every secret replaced by ``***`` (see
        :mod:`lpbot.redaction`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place: the message with its arguments merged, then the traceback."""
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class HumanFormatter(logging.Formatter):
    """``2030-01-01 09:00:00 INFO    lpbot.runtime.bot: message``: one readable line per record."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                         datefmt="%Y-%m-%d %H:%M:%S")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, thread, message, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single line of JSON."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    *,
    level: str = "INFO",
    log_format: str = "human",
    patterns: Iterable[str] = (),
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install one redacting handler on the root logger; returns it so it can be removed.

    APScheduler's own chatter (a line per job run, a second line per failure) is quieted
    unless ``level`` is DEBUG: lpbot's scheduler logs every missed or failed run itself.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if log_format == "json" else HumanFormatter())
    handler.addFilter(RedactingFilter(patterns, secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    debug = level == "DEBUG"
    logging.getLogger("apscheduler").setLevel("DEBUG" if debug else "WARNING")
    # its executors log each failure and miss too; lpbot's scheduler logs them once, with context
    logging.getLogger("apscheduler.executors").setLevel("DEBUG" if debug else "CRITICAL")
    return handler
