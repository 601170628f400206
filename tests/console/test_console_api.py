"""The console's HTTP side without a browser: page and files, the JSON API, the event stream.

A bot on lpbot's client is the consumer; the person's actions are plain JSON posts, as the
page sends them.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from lpbot.client import Client, ClientOptions
from lpbot.protocol.names import Role
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.sandbox.console.feed import EventFeed

from .conftest import Bot, text_of

#: agents that accept and echo at once (no timers), so whatever they do is done before the
#: next request reaches the sandbox's event loop
PROMPT_AGENTS = AgentOptions(accept_delay=0.0, reply_delay=0.0, typing=False)


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    return {"agents": PROMPT_AGENTS}


def post(sandbox: Sandbox, cid: str, action: str, body: Any = None, **kwargs: Any) -> Any:
    url = f"{sandbox.http_url}/console/api/conversations/{cid}/{action}"
    with requests.post(url, json=body or {}, timeout=5, **kwargs) as response:
        return response.status_code, response.json()


def test_serves_the_page_and_its_files_only(lp_sandbox: Sandbox) -> None:
    base = f"{lp_sandbox.http_url}/console"
    with requests.get(base, timeout=5) as page:
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert '<script src="/console/static/console.js"' in page.text
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        with requests.get(f"{base}/static/{name}", timeout=5) as static:
            assert static.status_code == 200
            assert static.headers["Content-Type"].startswith(kind)
    for missing in ("static/nothing.js", "static/..%2F..%2Fapp.py", "static/app.py"):
        with requests.get(f"{base}/{missing}", timeout=5) as response:
            assert response.status_code == 404, missing


def test_api_refuses_what_the_page_never_sends(
    lp_sandbox: Sandbox, bot_client: tuple[Client, Bot]
) -> None:
    client, _ = bot_client
    cid = client.open_conversation().id
    url = f"{lp_sandbox.http_url}/console/api/conversations/{cid}/accept"
    with requests.post(url, data="{}", timeout=5) as form_post:
        assert form_post.status_code == 415
    foreign = {"Origin": "http://evil.example"}
    with requests.post(url, json={}, headers=foreign, timeout=5) as cross_origin:
        assert cross_origin.status_code == 403
    assert post(lp_sandbox, "no-such-id", "accept")[0] == 404
    assert post(lp_sandbox, cid, "messages", {"text": "too early"})[0] == 409
    assert post(lp_sandbox, cid, "accept")[0] == 200
    assert post(lp_sandbox, cid, "messages", {"text": "  "})[0] == 400
    assert post(lp_sandbox, cid, "ttr", {"ttrType": "SOON", "value": 1})[0] == 400
    assert post(lp_sandbox, cid, "read", {"sequences": ["0"]})[0] == 400
    assert post(lp_sandbox, cid, "typing", {"chatState": "DANCING"})[0] == 400
    assert post(lp_sandbox, cid, "close") == (200, {"closed": cid})
    assert post(lp_sandbox, cid, "messages", {"text": "after close"})[0] == 409


def test_taking_over_silences_the_simulated_agent(
    lp_sandbox: Sandbox, bot_client: tuple[Client, Bot]
) -> None:
    client, bot = bot_client
    conversation = client.open_conversation()
    conversation.send_text("first")
    echo = bot.wait_for_message(lambda m: text_of(m) == "first" and m.role != Role.CONSUMER, "echo")
    simulated = echo.originator_id

    status, taken = post(lp_sandbox, conversation.id, "accept")
    assert status == 200
    assert taken == {"agentId": lp_sandbox.console.agent_id, "previous": simulated}
    record = lp_sandbox.conversation(conversation.id)
    assert record.assigned_agent_id == lp_sandbox.console.agent_id
    assert (simulated, Role.ASSIGNED_AGENT) not in record.participants

    conversation.send_text("second")
    assert post(lp_sandbox, conversation.id, "messages", {"text": "a person now"})[0] == 200
    bot.wait_for_message(lambda m: text_of(m) == "a person now", "the person's message")
    texts = lp_sandbox.conversation(conversation.id).texts(Role.ASSIGNED_AGENT)
    assert "second" not in texts
    assert texts[-1] == "a person now"
    profile = conversation.agent_profile()
    assert profile is not None
    assert profile.nickname == "Console"


def read_event(lines: Any) -> tuple[str, Any]:
    """The next (event name, JSON data) of a server-sent-event line iterator."""
    name, data = "message", None
    for raw in lines:
        line = raw.decode()
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
        elif not line and data is not None:
            return name, data
    raise AssertionError("the event stream ended")


def test_event_stream_then_stop_ends_it(tmp_path: Path) -> None:
    sandbox = Sandbox(agents=PROMPT_AGENTS).start()
    try:
        stream = requests.get(f"{sandbox.http_url}/console/events", stream=True, timeout=5)
        assert stream.headers["Content-Type"] == "text/event-stream"
        lines = stream.iter_lines(chunk_size=1)  # yield each line as it arrives
        name, snapshot = read_event(lines)
        assert (name, snapshot["conversations"]) == ("snapshot", [])
        assert snapshot["agent"]["agentId"] == sandbox.console.agent_id

        bot = Bot()
        options = ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain, tls=False)
        with Client(options, state_dir=tmp_path, on_message=bot.on_message) as client:
            client.connect(timeout=10)
            client.open_conversation().send_text("over the stream")
            seen: list[tuple[str, Any]] = []
            while not any(d.get("event", {}).get("message") == "over the stream" for _, d in seen):
                seen.append(read_event(lines))
        assert seen[0][0] == "conversation"
        assert seen[0][1]["kind"] == "created"
        assert seen[0][1]["waiting"] is True
    finally:
        sandbox.stop()
    rest = list(lines)  # ends because the sandbox closed it: a read timeout would raise here
    assert b"event: snapshot" not in b"\n".join(rest)
    stream.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith("lpbot-sandbox")] == []


def test_a_reader_that_falls_behind_gets_a_fresh_snapshot() -> None:
    feed = EventFeed(capacity=2, heartbeat=0.01)
    snapshots = iter([({"n": "first"}, 0), ({"n": "again"}, 3)])
    stream = feed.stream(lambda: next(snapshots))
    assert b'event: snapshot\ndata: {"n":"first"}' in next(stream)
    assert next(stream) == b": keep-alive\n\n"
    for number in range(3):
        feed.publish("event", number)
    assert b'event: snapshot\ndata: {"n":"again"}' in next(stream)
    feed.publish("event", 3)
    assert next(stream) == b'id: 4\nevent: event\ndata: 3\n\n'
    feed.close()
    assert list(stream) == []
