"""The frame envelope (protocol notes §4): responses, request frames, and wire value coercions.

Every inbound value passes through the small coercion helpers here, so a field of an
unexpected JSON type becomes ``None`` (or a :class:`~lpbot.errors.ProtocolError` where the
field is required) instead of an ``AttributeError`` deep inside a parser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar

from lpbot.errors import ProtocolError
from lpbot.protocol.names import Kind

__all__ = [
    "Request",
    "Response",
    "request_frame",
]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_E = TypeVar("_E", bound=StrEnum)


class Request(Protocol[_T_co]):
    """What every request class in :mod:`lpbot.protocol.requests` provides.

    ``Request[T]`` lets a client type ``send(request: Request[T]) -> T``: ``parse_response``
    turns the matching :class:`Response` into the request's success value.
    """

    type_name: ClassVar[str]

    def body(self) -> dict[str, Any] | None:
        """Return the frame's ``body``, or ``None`` when the request sends none."""
        ...

    def envelope(self) -> dict[str, Any]:
        """Return extra envelope-level keys (``headers``, ``metadata``); usually empty."""
        ...

    def parse_response(self, resp: Response) -> _T_co:
        """Return the typed success value, or raise RequestRejected / ProtocolError."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """One ``kind: resp`` frame (protocol notes §4.1); correlate it by ``req_id`` alone (§4.4).

    ``req_id`` is always a string (servers send numbers too) and is ``""`` when the frame
    carried none; ``body`` is whatever JSON value arrived (string, object, array) or ``None``.
    """

    req_id: str
    code: int
    response_type: str | None = None
    body: Any = field(default=None, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx code."""
        return 200 <= self.code < 300

    @classmethod
    def from_wire(cls, frame: Mapping[str, Any]) -> Response:
        """Build from a decoded ``resp`` frame; ProtocolError when ``code`` is unusable."""
        req_id = frame.get("reqId")
        code = frame.get("code")
        if type(code) is not int:
            code = _code(code)
        response_type = frame.get("type")
        return cls(
            req_id="" if req_id is None else str(req_id),
            code=code,
            response_type=response_type if type(response_type) is str else None,
            body=frame.get("body"),
            raw=frame,
        )

    def to_wire(self) -> dict[str, Any]:
        """Return the frame as a JSON-ready dict (used by tests and scripted servers)."""
        frame: dict[str, Any] = {"kind": Kind.RESP.value, "reqId": self.req_id, "code": self.code}
        if self.response_type is not None:
            frame["type"] = self.response_type
        if self.body is not None:
            frame["body"] = self.body
        return frame


def _code(value: object) -> int:
    # Some proxies stringify numbers; anything else is a frame we cannot act on.
    if type(value) is str and value.isdigit() and len(value) < 5:
        return int(value)
    if type(value) is float and value.is_integer() and 0 <= value < 10000:
        return int(value)
    raise ProtocolError(f"response without a usable code: {value!r}"[:120])


def request_frame(request: Request[Any], req_id: str) -> dict[str, Any]:
    """Return the JSON-ready ``kind: req`` frame for ``request`` (protocol notes §4.1).

    ``body`` is omitted when the request has none (GetClock, minimal
    ConsumerRequestConversation); ``headers``/``metadata`` come from ``request.envelope()``.
    """
    frame: dict[str, Any] = {"kind": Kind.REQ.value, "id": req_id, "type": request.type_name}
    body = request.body()
    if body is not None:
        frame["body"] = body
    extra = request.envelope()
    if extra:
        frame.update(extra)
    return frame


# --- wire value coercions shared by the parsers of this package (not public API) ---------


def enum_table(enum: type[_E]) -> Mapping[str, _E]:
    """Return a value -> member table, for :func:`enum_or_str`.

    A plain dict typed read-only: ``MappingProxyType.get`` costs twice a dict's on the hot path.
    """
    return {member.value: member for member in enum}


def enum_or_str(table: Mapping[str, _E], value: object) -> _E | str | None:
    """Map a wire string to its enum member; keep an undocumented value as the plain string."""
    if type(value) is str:
        return table.get(value, value)
    return None


def opt_str(value: object) -> str | None:
    """A string, or a number stringified (ids sometimes arrive as numbers); else ``None``."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        return str(value)
    return None


def opt_int(value: object) -> int | None:
    """An integer (an integral float is accepted: ``1.5E9`` style timestamps); else ``None``."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def opt_mapping(value: object) -> Mapping[str, Any] | None:
    """The value when it is a JSON object, else ``None``."""
    return value if isinstance(value, Mapping) else None


def as_list(value: object) -> list[Any] | tuple[Any, ...]:
    """A JSON array as is; a single element stands for a one-element array (protocol notes §4.2)."""
    if isinstance(value, (list, tuple)):
        return value
    if value is None:
        return ()
    return (value,)


def require_objects(value: object, what: str) -> list[Mapping[str, Any]]:
    """A required array of JSON objects (a single object stands for one, §4.2).

    Raises ProtocolError when it is absent, not an array or holds a non-object: a notification
    whose ``changes`` cannot be read must be counted as bad input, not delivered as empty.
    """
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, list):
        raise ProtocolError(f"{what} missing or not an array", raw=repr(value))
    for item in value:
        if not isinstance(item, Mapping):
            raise ProtocolError(f"{what} holds a non-object element", raw=repr(item))
    return value


def require_str(value: object, what: str) -> str:
    """A required id-like string (numbers are stringified); ProtocolError when absent."""
    text = opt_str(value)
    if text is None:
        raise ProtocolError(f"{what} missing or not a string", raw=repr(value))
    return text


def positional_builder(cls: type[_T]) -> Callable[..., _T]:
    """Return ``build(*values)``: ``cls`` from every field's value, in declaration order.

    The receive hot path builds a few frozen dataclasses per frame; their generated keyword
    ``__init__`` costs about 2.5 times as much as setting the slots directly
    (benchmarks/codec.py). Every field must be given, defaults included.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({', '.join(f'v{i}' for i in range(len(names)))}):", "    o = _new(_cls)"]
    for i, name in enumerate(names):
        # Slot descriptors set the value directly, past the frozen __setattr__, as the
        # dataclass __init__ itself does with object.__setattr__ (one unrolled call each).
        namespace[f"_set{i}"] = vars(cls)[name].__set__
        lines.append(f"    _set{i}(o, v{i})")
    lines.append("    return o")
    # Generated source, like dataclasses' own __init__: only field names, all identifiers.
    exec("\n".join(lines), namespace)  # noqa: S102
    build: Callable[..., _T] = namespace["build"]
    build.__qualname__ = f"build_{cls.__name__}"
    return build
