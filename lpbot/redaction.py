"""Redaction: masks JWTs, ``Authorization`` values, configured patterns and secret values.

The one place that decides what a secret looks like, for log handlers
(:mod:`lpbot.runtime.logs`), the client's malformed-frame reports, the transcript logger and
``lpbot sandbox``'s log lines.

A JWT is found by its structure, not by its first characters: a run of base64url segments
joined by dots (three for a signed token, five for an encrypted one) whose first segment
decodes to a JSON object, the JOSE header (or, for a signed token, whose second segment does:
the claims). ``eyJ`` is only how a header that begins ``{"``
encodes; ``{ "alg"`` (a space) encodes as ``eyAi``, and a header with a leading newline as
``Cnsi``, which a prefix pattern lets through.

Standard library only, so every layer may use it (``lpbot sandbox``'s log filter, in
``lpbot.cli``, too; the sandbox package itself logs no tokens).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Final

__all__ = [
    "AUTHORIZATION_PATTERN",
    "JWT_PATTERN",
    "MASK",
    "Redactor",
    "find_jwts",
    "is_jwt",
    "mask_jwts",
]

#: what replaces a secret
MASK: Final = "***"
#: the shape of a JWS (3 segments) or JWE (5 segments) compact serialization. A match is a JWT
#: only if its first segment is a JOSE header (:func:`is_jwt`), so search with :func:`find_jwts`
JWT_PATTERN: Final = r"[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){2}(?:(?:\.[A-Za-z0-9_-]*){2})?"
#: the value of an Authorization header or field, in headers, JSON, or key=value text
AUTHORIZATION_PATTERN: Final = (
    r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|jwt|basic)\s+)?[^\s\"',;}]+"
)

_SHAPE: Final = re.compile(JWT_PATTERN)
#: dot-joined runs of base64url text with at least three segments: where JWTs can be (the
#: look-behind starts each try at a word's start, which keeps the search linear)
_RUN: Final = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){2,}")
#: where a header glued to the text before it may start (``{"`` encodes as ``eyJ``/``eyI``)
_GLUED: Final = re.compile("ey")
_AUTHORIZATION: Final = re.compile(AUTHORIZATION_PATTERN)


def _header(segment: str) -> dict[str, object] | None:
    """The JOSE header that ``segment`` encodes (a JSON object), or None."""
    # "{" and the whitespace JSON allows before it encode to one of these first characters
    if len(segment) < 4 or segment[0] not in "eICD":
        return None
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        if not decoded.lstrip().startswith(b"{"):
            return None
        parsed = json.loads(decoded)
    except (binascii.Error, ValueError):  # not base64, not UTF-8, not JSON
        return None
    return parsed if isinstance(parsed, dict) else None


def _spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every JWT in ``text``."""
    spans: list[tuple[int, int]] = []
    for run in _RUN.finditer(text):
        segments = run.group().split(".")
        starts = [run.start()]
        for segment in segments[:-1]:
            starts.append(starts[-1] + len(segment) + 1)
        index = 0
        while index <= len(segments) - 3:
            segment = segments[index]
            offset, header = 0, _header(segment)
            if header is None and index == 0:  # glued to a word: "tokeneyJ..."
                for glued in _GLUED.finditer(segment, 1):
                    header = _header(segment[glued.start():])
                    if header is not None:
                        offset = glued.start()
                        break
            if header is None:
                claims = _header(segments[index + 1])
                if claims is None or "alg" in claims:  # nothing here, or a header comes next
                    index += 1
                    continue
            # A header that does not decode but is followed by JSON claims (a header glued to
            # the word before it, or mangled) is masked with them.
            count = 5 if header is not None and "enc" in header and len(
                segments) - index >= 5 else 3
            last = index + count - 1
            spans.append((starts[index] + offset, starts[last] + len(segments[last])))
            index += count
    return spans


def is_jwt(text: str) -> bool:
    """Whether ``text`` is one JWS or JWE compact serialization: its header a JSON object.

    >>> is_jwt("eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
    True
    >>> is_jwt("lpbot.client.supervisor")
    False
    """
    return _SHAPE.fullmatch(text) is not None and _spans(text) == [(0, len(text))]


def find_jwts(text: str) -> list[str]:
    """Every JWT in ``text``, in order."""
    return [text[start:end] for start, end in _spans(text)]


def mask_jwts(text: str, mask: str = MASK) -> str:
    """``text`` with every JWT replaced by ``mask``."""
    if text.count(".") < 2:  # most log lines, cheaply
        return text
    parts: list[str] = []
    done = 0
    for start, end in _spans(text):
        parts += [text[done:start], mask]
        done = end
    return "".join(parts) + text[done:] if parts else text


class Redactor:
    """Masks JWTs, ``Authorization`` values, extra patterns and literal secrets in text.

    Args:
        patterns: Regular expressions whose matches are masked (``[logging] redact`` ...).
        secrets: Literal values to mask (the config's ``{ env = ... }`` secrets).
        authorization: Also mask the value after ``Authorization:`` / ``authorization=``.

    >>> Redactor(["card=[0-9]+"])("card=4111 Authorization: Bearer abc")
    '*** Authorization: ***'
    """

    def __init__(self, patterns: Iterable[str] = (), secrets: Iterable[str] = (), *,
                 authorization: bool = True) -> None:
        # Each pattern on its own: joined into one alternation, a pattern with inline global
        # flags ("(?i)card") would no longer compile, though it is valid by itself.
        self._patterns = [re.compile(pattern) for pattern in patterns]
        secrets = [re.escape(secret) for secret in secrets if secret]
        if secrets:
            self._patterns.append(re.compile("|".join(secrets)))
        self._authorization = authorization

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        if self._authorization:
            text = _AUTHORIZATION.sub(lambda match: match.group(1) + MASK, text)
        text = mask_jwts(text)
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        return text
