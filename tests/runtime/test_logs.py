"""Log redaction and formats: no JWT or secret reaches a handler's output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from lpbot.runtime.logs import JsonLinesFormatter, RedactingFilter, configure_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(level="DEBUG", patterns=[r"card-\d{4}"],
                                secrets=["hunter2"], stream=stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_jwts_in_message_and_args_are_masked(output: io.StringIO) -> None:
    log = logging.getLogger("lpbot.test")
    log.info("token %s for %s", JWT, "consumer-1")
    log.info(f"inline {JWT}")  # noqa: G004 -- what a careless plugin might write
    log.info("dict %s", {"jwt": JWT})
    text = output.getvalue()
    assert JWT not in text
    assert "eyJ" not in text
    assert "token *** for consumer-1" in text
    assert "inline ***" in text


def test_authorization_values_patterns_and_secrets_are_masked(output: io.StringIO) -> None:
    log = logging.getLogger("lpbot.test")
    log.debug("headers %s", {"Authorization": "Bearer abc.def"})
    log.debug("Authorization: jwt opaque-token-value")
    log.debug("paid with card-1234, password hunter2")
    text = output.getvalue()
    assert "abc.def" not in text
    assert "opaque-token-value" not in text
    assert "{'Authorization': '***'}" in text
    assert "card-1234" not in text
    assert "hunter2" not in text
    assert "paid with ***, password ***" in text


def test_tracebacks_are_masked(output: io.StringIO) -> None:
    log = logging.getLogger("lpbot.test")
    try:
        raise ValueError(f"bad token {JWT}")
    except ValueError:
        log.exception("failed")
    text = output.getvalue()
    assert "ValueError: bad token ***" in text
    assert JWT not in text


def test_json_lines_are_one_object_per_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("lpbot.test.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("conversation %s\nclosed with %s", "c-1", JWT)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "conversation c-1\nclosed with ***"
    assert (entry["level"], entry["logger"]) == ("WARNING", "lpbot.test.json")
    assert entry["ts"].endswith("+00:00")
