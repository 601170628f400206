"""Fault injection and agent control over HTTP, for a sandbox run with ``lpbot sandbox``.

Python tests use ``sandbox.faults`` and ``sandbox.agents``; a sandbox in another process (or used
from another language) gets the same controls as POSTs under ``/_sandbox/`` on its HTTP port::

    curl -X POST 'http://127.0.0.1:8383/_sandbox/faults/drop_all?code=4401'
    curl -X POST 'http://127.0.0.1:8383/_sandbox/conversations/CID/say?text=hello'
    curl -X POST 'http://127.0.0.1:8383/_sandbox/conversations/CID/invite?kind=video'

The routes act for whoever runs the sandbox, so they refuse what a web page could send for
someone else (a form post, another origin, a DNS-rebinding ``Host``), and numbers are bounded:
counts up to :data:`MAX_COUNT`, delays up to :data:`MAX_DELAY` seconds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .http import HttpReply, HttpRequest

if TYPE_CHECKING:
    from . import Sandbox

__all__ = ["MAX_COUNT", "MAX_DELAY", "install"]

_PREFIX = r"/_sandbox"
#: the most requests or handshakes one fault call may reject
MAX_COUNT: Final = 10_000
#: the longest response delay, in seconds
MAX_DELAY: Final = 60.0


def _int(
    request: HttpRequest, name: str, default: int | None = None, *, low: int = 0, high: int
) -> int:
    value = request.query.get(name)
    if value is None:
        if default is None:
            raise ValueError(f"query parameter {name} is required")
        return default
    number = int(value) if value.strip().lstrip("-").isdigit() and len(value) < 12 else None
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}")
    return number


def _seconds(request: HttpRequest, name: str) -> float:
    value = request.query.get(name, "0")
    try:
        seconds = float(value) if len(value) < 24 else math.nan
    except ValueError:
        seconds = math.nan
    if not 0.0 <= seconds <= MAX_DELAY:  # NaN fails both
        raise ValueError(f"{name} must be a number of seconds from 0 to {MAX_DELAY:g}")
    return seconds


def install(sandbox: Sandbox) -> None:
    """Register the ``/_sandbox/`` routes on a started sandbox."""
    faults, agents = sandbox.faults, sandbox.agents

    def fault(name: str, action: Callable[[HttpRequest], Any]) -> None:
        sandbox.add_route("POST", rf"{_PREFIX}/faults/{name}", _guarded(action), local=True)

    def drop_all(request: HttpRequest) -> Any:
        consumer = request.query.get("consumer")
        if request.query.get("code", "").lower() == "none":
            return {"dropped": faults.drop_all(None, consumer=consumer)}
        code = _int(request, "code", 1006, low=1000, high=4999)
        return {"dropped": faults.drop_all(code, consumer=consumer)}

    fault("drop_all", drop_all)
    fault("expire_tokens", lambda r: faults.expire_tokens())
    fault(
        "reject_next",
        lambda r: faults.reject_next(
            _int(r, "count", 1, high=MAX_COUNT), _int(r, "code", 429, low=100, high=599)
        ),
    )
    fault(
        "reject_handshakes",
        lambda r: faults.reject_handshakes(
            _int(r, "count", 1, high=MAX_COUNT), _int(r, "status", 503, low=100, high=599)
        ),
    )
    fault("delay_responses", lambda r: faults.delay_responses(_seconds(r, "seconds")))
    fault(
        "fail_identity",
        lambda r: faults.fail_identity(
            _int(r, "count", 1, high=MAX_COUNT), _int(r, "status", 503, low=100, high=599)
        ),
    )
    fault("revoke_connector", lambda r: faults.revoke_connector(r.query.get("connector")))
    fault("refuse_codes", lambda r: faults.refuse_codes(_int(r, "count", 1, high=MAX_COUNT)))
    fault(
        "send_malformed",
        lambda r: {"sent": faults.send_malformed(r.body.decode() if r.body else "{not json")},
    )
    fault("send_unknown_notification", lambda r: {"sent": faults.send_unknown_notification()})
    fault("reset", lambda r: faults.reset())

    def conversation(action: str, run: Callable[[HttpRequest, str], Any]) -> None:
        pattern = rf"{_PREFIX}/conversations/(?P<cid>[^/]+)/{action}"
        sandbox.add_route("POST", pattern, _guarded(lambda r: run(r, r.match["cid"])), local=True)

    conversation("accept", lambda r, cid: {"agentId": agents.accept(cid, r.query.get("agent"))})
    conversation("say", lambda r, cid: {"sequence": agents.say(cid, r.query.get("text", ""))})
    conversation("typing", lambda r, cid: agents.typing(cid, r.query.get("state", "COMPOSING")))
    conversation("transfer", lambda r, cid: {"agentId": agents.transfer(cid, r.query.get("agent"))})
    conversation(
        "invite", lambda r, cid: {"dialogId": agents.invite(cid, r.query.get("kind", "cobrowse"))}
    )
    conversation(
        "session_state",
        lambda r, cid: agents.session_state(
            cid, r.query.get("dialog", ""), r.query.get("state", "")
        ),
    )
    conversation(
        "close",
        lambda r, cid: agents.close(
            cid, survey=r.query.get("survey") == "1", reason=r.query.get("reason", "AGENT")
        ),
    )

    def listing(request: HttpRequest) -> HttpReply:
        records = sandbox.conversations(consumer_id=request.query.get("consumer"))
        return HttpReply.json(200, [_summary(dataclasses.asdict(r)) for r in records])

    sandbox.add_route("GET", rf"{_PREFIX}/conversations", listing, local=True)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    record["events"] = len(record["events"])
    return record


def _guarded(action: Callable[[HttpRequest], Any]) -> Callable[[HttpRequest], HttpReply]:
    def route(request: HttpRequest) -> HttpReply:
        try:
            result = action(request)
        except KeyError as exc:
            return HttpReply.json(404, {"error": str(exc.args[0]) if exc.args else "not found"})
        except ValueError as exc:
            return HttpReply.json(400, {"error": str(exc)})
        return HttpReply.json(200, result if result is not None else {"ok": True})

    return route
