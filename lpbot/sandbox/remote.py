"""Fault injection and agent control over HTTP, for a sandbox run with ``lpbot sandbox``.

Python tests use ``sandbox.faults`` and ``sandbox.agents``; a sandbox in another process (or used
from another language) gets the same controls as POSTs under ``/_sandbox/`` on its HTTP port::

    curl -X POST 'http://127.0.0.1:8383/_sandbox/faults/drop_all?code=4401'
    curl -X POST 'http://127.0.0.1:8383/_sandbox/conversations/CID/say?text=hello'
    curl -X POST 'http://127.0.0.1:8383/_sandbox/conversations/CID/invite?kind=video'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .http import HttpReply, HttpRequest

if TYPE_CHECKING:
    from . import Sandbox

__all__ = ["install"]

_PREFIX = r"/_sandbox"


def _int(request: HttpRequest, name: str, default: int | None = None) -> int:
    value = request.query.get(name)
    if value is None:
        if default is None:
            raise ValueError(f"query parameter {name} is required")
        return default
    return int(value)


def install(sandbox: Sandbox) -> None:
    """Register the ``/_sandbox/`` routes on a started sandbox."""
    faults, agents = sandbox.faults, sandbox.agents

    def fault(name: str, action: Callable[[HttpRequest], Any]) -> None:
        sandbox.add_route("POST", rf"{_PREFIX}/faults/{name}", _guarded(action))

    def drop_all(request: HttpRequest) -> Any:
        code = request.query.get("code", "1006")
        return {"dropped": faults.drop_all(None if code.lower() == "none" else int(code))}

    fault("drop_all", drop_all)
    fault("expire_tokens", lambda r: faults.expire_tokens())
    fault("reject_next", lambda r: faults.reject_next(_int(r, "count", 1), _int(r, "code", 429)))
    fault(
        "reject_handshakes",
        lambda r: faults.reject_handshakes(_int(r, "count", 1), _int(r, "status", 503)),
    )
    fault("delay_responses", lambda r: faults.delay_responses(float(r.query.get("seconds", "0"))))
    fault(
        "send_malformed",
        lambda r: {"sent": faults.send_malformed(r.body.decode() if r.body else "{not json")},
    )
    fault("send_unknown_notification", lambda r: {"sent": faults.send_unknown_notification()})
    fault("reset", lambda r: faults.reset())

    def conversation(action: str, run: Callable[[HttpRequest, str], Any]) -> None:
        pattern = rf"{_PREFIX}/conversations/(?P<cid>[^/]+)/{action}"
        sandbox.add_route("POST", pattern, _guarded(lambda r: run(r, r.match["cid"])))

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

    sandbox.add_route("GET", rf"{_PREFIX}/conversations", listing)


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
