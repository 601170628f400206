"""Text frames to typed objects and back: the client's only JSON encoding and decoding.

:class:`Decoder` is on the receive hot path, so it does one JSON parse and one dispatch
per frame. It never raises for an unknown notification or event type (those are logged once
per type and counted); a frame that is not a JSON object with a ``kind`` raises
:class:`~lpbot.errors.ProtocolError` carrying the (truncated) raw text.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from lpbot.errors import ProtocolError
from lpbot.protocol.envelope import Request, Response, request_frame
from lpbot.protocol.events import UnknownEvent
from lpbot.protocol.notifications import (
    ExConversationChangeNotification,
    MessagingEventNotification,
    UnknownNotification,
    parse_notification,
)
from lpbot.protocol.requests import RequestType, parse_request

__all__ = [
    "Decoder",
    "Inbound",
    "decode_request",
    "encode",
    "encode_client_properties",
]

log = logging.getLogger(__name__)

Inbound = (
    Response | ExConversationChangeNotification | MessagingEventNotification | UnknownNotification
)

# orjson parses a frame in about half the time of the standard library's scanner, which is most
# of what decoding costs on the receive thread (benchmarks/codec.py). It keeps to RFC 8259 more
# strictly: NaN, Infinity and lone surrogate escapes are refused, nesting deeper than 1,024
# levels is refused, and an integer beyond 64 bits becomes a float. A lone surrogate escape
# ("\ud800") is valid JSON text, though, and one in a message must not cost the other events of
# its frame: a frame orjson refuses is read again by the standard library (_loads_lenient),
# off the hot path, since only a refused frame pays for it.
_loads: Final = orjson.loads
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# Compact separators: frames are small and many; ensure_ascii=False keeps text as UTF-8.
_dumps: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# Exceptions a parser may meet on a frame of valid JSON but an unusable shape; the decoder
# turns them into ProtocolError so the reader thread sees one error type.
_SHAPE_ERRORS: Final = (AttributeError, KeyError, TypeError, ValueError, IndexError)


def encode(request: Request[Any], req_id: str) -> str:
    """Return the text frame for ``request`` with id ``req_id`` (protocol notes §4.1)."""
    return _dumps(request_frame(request, req_id))


def encode_client_properties(properties: Mapping[str, Any]) -> str:
    """Return the ``Client-Properties`` handshake header value (protocol notes §3.2)."""
    return _dumps(
        {"type": ".ClientProperties", **{k: v for k, v in properties.items() if k != "type"}}
    )


def _loads_object(text: str | bytes) -> dict[str, Any]:
    if not isinstance(text, str | bytes):
        raise ProtocolError("frame is not text", raw=repr(text))
    try:
        frame = _loads(text)
    except ValueError as exc:  # orjson.JSONDecodeError: not JSON, bad UTF-8, nested too deep
        try:
            frame = _loads_lenient(text)
        except (ValueError, RecursionError):
            raise ProtocolError(f"frame is not JSON: {exc}"[:120], raw=text) from exc
    if type(frame) is not dict:
        raise ProtocolError("frame is not a JSON object", raw=text)
    return frame


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _loads_lenient(text: str | bytes) -> Any:
    """Read a frame orjson refused as the standard library does, within RFC 8259.

    What it accepts beyond orjson is a lone surrogate escape; each becomes U+FFFD, so the text
    can be logged, stored and sent again. NaN, Infinity and overflowing numbers stay refused.
    """
    value = json.loads(text, parse_constant=_not_json, parse_float=_finite)
    return _replace_surrogates(value)


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def decode_request(text: str | bytes) -> RequestType:
    """Parse a request frame (for tests and scripted servers; the client never receives one).

    Raises:
        ProtocolError: not a JSON object, or not a request lpbot knows.
    """
    frame = _loads_object(text)
    try:
        return parse_request(frame)
    except _SHAPE_ERRORS as exc:
        raise ProtocolError(f"unreadable request: {exc}"[:120], raw=text) from exc


class Decoder:
    """Decode inbound frames; one per connection, used from one (reader) thread.

    Unknown notification and event types are logged at WARNING the first time each is seen,
    then only counted: ``unknown_count`` (total), ``unknown_types`` (per type).
    ``error_count`` counts frames that raised ProtocolError. "First time" is per decoder, or
    per ``logged`` set when one is shared: a client passes the same set to the decoder of each
    of its sockets, so a type is logged once however often it reconnects.
    """

    __slots__ = ("_logged", "_unknown", "error_count", "unknown_count")

    def __init__(self, logged: set[str] | None = None) -> None:
        self._logged: set[str] = set() if logged is None else logged
        self._unknown: dict[str, int] = {}
        self.unknown_count = 0
        self.error_count = 0

    @property
    def unknown_types(self) -> Mapping[str, int]:
        """How often each unknown type (``notification:<t>`` / ``event:<t>``) was seen."""
        return dict(self._unknown)

    def decode(self, text: str | bytes) -> Inbound:
        """Return the typed frame.

        Raises:
            ProtocolError: not JSON, not an object, no/unknown ``kind``, or a known type whose
                required fields are unusable.
        """
        try:
            frame = _loads_object(text)
            kind = frame.get("kind")
            if kind == "notification":
                result = parse_notification(frame)
                if type(result) is MessagingEventNotification:
                    for change in result.changes:
                        if type(change.event) is UnknownEvent:
                            self._note_unknown("event", change.event.event_type)
                elif type(result) is UnknownNotification:
                    self._note_unknown("notification", result.notification_type)
                return result
            if kind == "resp":
                return Response.from_wire(frame)
            if kind is None:
                # protocol notes §4.1 calls ``kind`` optional, and the API reference's examples of
                # two responses leave it out (§5.4 ``{"reqId":…,"code":200}``, §5.9): a frame
                # with ``reqId`` and ``code`` is a response, correlated by ``reqId`` (§4.4).
                if "reqId" in frame and "code" in frame:
                    return Response.from_wire(frame)
                raise ProtocolError("frame without kind", raw=text)
            raise ProtocolError(f"unexpected kind {kind!r}"[:120], raw=text)
        except ProtocolError as exc:
            if exc.raw is None:
                exc.raw = _truncate(text)
            self.error_count += 1
            raise
        except _SHAPE_ERRORS as exc:
            self.error_count += 1
            raise ProtocolError(f"unreadable frame: {exc}"[:120], raw=text) from exc

    def _note_unknown(self, what: str, type_name: str) -> None:
        key = f"{what}:{type_name}"
        self._unknown[key] = self._unknown.get(key, 0) + 1
        self.unknown_count += 1
        if key not in self._logged:
            self._logged.add(key)
            log.warning("unknown %s type %r: kept as raw, logged once", what, type_name)


def _truncate(text: str | bytes) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return raw[:200]
