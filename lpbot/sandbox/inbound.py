r"""Text and numbers on the way in: the sandbox stores only what it can send back.

Every JSON body the sandbox accepts (consumer WebSocket frames, identity and console requests,
token headers and payloads) is parsed by :func:`loads`, which refuses with :class:`BadInput`
(answered 400 by the caller) what standard JSON parsers disagree on or what the sandbox could
not encode again:

- lone UTF-16 surrogates (``"\ud800"``): legal as a JSON escape, but not text; stored, such a
  message could never be sent (every replay of its dialog would fail);
- ``NaN``, ``Infinity`` and numbers that overflow to them (``1e400``);
- numerals longer than :data:`MAX_NUMERAL` characters (no sequence, timestamp or size needs
  more, and Python's conversion of long numerals costs quadratic time);
- nesting deeper than :data:`MAX_DEPTH` (the documented payloads use five levels);
- bytes that are not UTF-8.

This checks encoding only; what a request means is checked by its handler.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

__all__ = ["MAX_DEPTH", "MAX_NUMERAL", "BadInput", "check_text", "loads"]

#: the deepest nesting of arrays and objects accepted
MAX_DEPTH: Final = 32
#: the longest numeral accepted, in characters (sign, digits, point and exponent included)
MAX_NUMERAL: Final = 40

#: an escape that decodes to a UTF-16 surrogate: only then can a parsed string hold one
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_STRINGS: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS: Final = re.compile(r"[\[\]{}]")


class BadInput(ValueError):
    """A body the sandbox refuses before reading its meaning (answered with 400).

    ``parsed`` is the value when the JSON itself was readable (it held a lone surrogate), so a
    caller can still echo the request's id; None otherwise.
    """

    def __init__(self, message: str, parsed: Any = None) -> None:
        super().__init__(message)
        self.parsed = parsed


def _number(text: str) -> float:
    if len(text) > MAX_NUMERAL:
        raise BadInput(f"a number longer than {MAX_NUMERAL} characters")
    value = float(text)
    if not math.isfinite(value):
        raise BadInput("a number out of range")
    return value


def _integer(text: str) -> int:
    if len(text) > MAX_NUMERAL:
        raise BadInput(f"a number longer than {MAX_NUMERAL} characters")
    return int(text)


def _constant(name: str) -> Any:
    raise BadInput(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(
    parse_float=_number, parse_int=_integer, parse_constant=_constant
)


def loads(data: str | bytes) -> Any:
    """Parse JSON text the sandbox can store and send back; raises :class:`BadInput`."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput("the body is not UTF-8") from exc
    else:
        text = data
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise BadInput(f"nested deeper than {MAX_DEPTH} levels")
    try:
        value = _DECODER.decode(text)
    except BadInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise BadInput("malformed JSON") from exc
    try:
        if _SURROGATE_ESCAPE.search(text):
            _check_strings(value)
        else:
            check_text(text)  # a str handed in may hold surrogates of its own
    except BadInput as exc:
        raise BadInput(str(exc), value) from exc
    return value


def check_text(text: str, what: str = "text") -> str:
    """Return ``text`` if it encodes as UTF-8 (no lone surrogate), else raise BadInput."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadInput(f"{what} holds a lone UTF-16 surrogate") from exc
    return text


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                check_text(key, "a key")
                stack.append(inner)
        elif isinstance(item, list):
            stack.extend(item)


def _depth(text: str) -> int:
    """The deepest bracket nesting of JSON ``text``, brackets inside strings not counted."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
