"""The HTTP control API under /_sandbox/ (faults and agents for an out-of-process sandbox)."""

from __future__ import annotations

import requests

from lpbot.sandbox import Sandbox

from .conftest import Consumer


def _post(sandbox: Sandbox, path: str, **params: str) -> requests.Response:
    return requests.post(f"{sandbox.http_url}/_sandbox/{path}", params=params, timeout=5)


def test_faults_over_http(sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.ok("GetClock")
    assert _post(sandbox, "faults/reject_next", count="1", code="500").json() == {"ok": True}
    assert consumer.request("GetClock")["code"] == 500
    assert _post(sandbox, "faults/send_unknown_notification").json() == {"sent": 1}
    consumer.notification("UnknownTestNotification")
    assert _post(sandbox, "faults/reject_next", count="x").status_code == 400
    assert _post(sandbox, "faults/reset").status_code == 200
    assert _post(sandbox, "faults/drop_all", code="4000").json() == {"dropped": 1}
    assert consumer.closed()[0] == 4000


def test_agents_over_http(sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    assert "agentId" in _post(sandbox, f"conversations/{cid}/accept").json()
    seq = _post(sandbox, f"conversations/{cid}/say", text="from curl").json()["sequence"]
    assert consumer.event(lambda c: c.get("sequence") == seq)["event"]["message"] == "from curl"
    listing = requests.get(f"{sandbox.http_url}/_sandbox/conversations", timeout=5).json()
    assert listing[0]["conversation_id"] == cid
    first = sandbox.conversation(cid).assigned_agent_id
    moved = _post(sandbox, f"conversations/{cid}/transfer").json()["agentId"]
    assert moved != first
    assert sandbox.conversation(cid).assigned_agent_id == moved
    assert _post(sandbox, f"conversations/{cid}/transfer", agent="nobody").status_code == 400
    assert _post(sandbox, f"conversations/{cid}/close", reason="LATER").status_code == 400
    assert _post(sandbox, f"conversations/{cid}/close", reason="SYSTEM").status_code == 200
    assert (sandbox.conversation(cid).state, sandbox.conversation(cid).close_reason) == (
        "CLOSE",
        "SYSTEM",
    )
    assert _post(sandbox, "conversations/nope/say", text="x").status_code == 404
