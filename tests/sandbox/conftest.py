"""A neutral consumer for the sandbox's conformance tests: websockets' sync client + requests.

Deliberately not lpbot's client: the sandbox is checked against the documented protocol by an
independent implementation written right here.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from lpbot.sandbox import AgentOptions, Sandbox

_HERE = Path(__file__).resolve()
#: the documented payloads, kept in the repository beside the tests
FIXTURES = _HERE.parents[1] / "fixtures" / "documented"
QUICK = AgentOptions(accept_delay=0.01, reply_delay=0.01)
#: these conformance tests check the documented shapes one by one, so their sandbox sends the
#: canonical one; tests/sandbox/test_variants.py checks every other documented variant
CANONICAL = "canonical"
Frame = dict[str, Any]


def load_fixture(name: str) -> Frame:
    data: Frame = json.loads((FIXTURES / name).read_text())
    return data


def signup(sandbox: Sandbox, account: str | None = None) -> str:
    url = f"{sandbox.http_url}/api/account/{account or sandbox.account}/signup"
    reply = requests.post(url, timeout=5, verify=sandbox.ca_file or True)
    assert reply.status_code == 200
    token: str = reply.json()["jwt"]
    return token


class Consumer:
    """One consumer socket: send requests, collect responses and notifications by waiting."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []  # everything received, in order
        self._next_id = 0

    def close(self) -> None:
        self.ws.close()

    def send_raw(self, text: str) -> None:
        self.ws.send(text)

    def send(self, type_name: str, body: Any = None, **extra: Any) -> str:
        self._next_id += 1
        req_id = str(self._next_id)
        frame: Frame = {"kind": "req", "id": req_id, "type": type_name, **extra}
        if body is not None:
            frame["body"] = body
        self.ws.send(json.dumps(frame))
        return req_id

    def receive(self, timeout: float) -> Frame:
        frame: Frame = json.loads(self.ws.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def wait_for(self, predicate: Callable[[Frame], bool], timeout: float = 5.0) -> Frame:
        """The first frame (already received or arriving) matching ``predicate``."""
        for frame in self.frames:
            if predicate(frame):
                self.frames.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching frame within {timeout} s; got {self.frames}")
            try:
                frame = self.receive(remaining)
            except TimeoutError:
                continue
            if predicate(frame):
                self.frames.remove(frame)
                return frame

    def response(self, req_id: str, timeout: float = 5.0) -> Frame:
        """The response to ``req_id``, found by ``reqId`` alone (protocol notes §4.4): two
        documented responses come without ``kind`` (§5.4, §5.9)."""
        return self.wait_for(lambda f: f.get("reqId") == req_id and "code" in f, timeout)

    def request(self, type_name: str, body: Any = None, **extra: Any) -> Frame:
        return self.response(self.send(type_name, body, **extra))

    def ok(self, type_name: str, body: Any = None, **extra: Any) -> Frame:
        resp = self.request(type_name, body, **extra)
        assert resp["code"] == 200, resp
        return resp

    def notification(
        self, suffix: str, predicate: Callable[[Frame], bool] = lambda f: True, timeout: float = 5.0
    ) -> Frame:
        return self.wait_for(
            lambda f: (
                f.get("kind") == "notification"
                and str(f.get("type", "")).endswith(suffix)
                and predicate(f)
            ),
            timeout,
        )

    def event(self, predicate: Callable[[Frame], bool], timeout: float = 5.0) -> Frame:
        """The next messaging-event change matching ``predicate`` (notifications of one change)."""
        frame = self.notification(
            "MessagingEventNotification",
            lambda f: any(predicate(c) for c in f["body"]["changes"]),
            timeout,
        )
        return next(c for c in frame["body"]["changes"] if predicate(c))

    def conversation_change(
        self, predicate: Callable[[Frame], bool], timeout: float = 5.0
    ) -> Frame:
        frame = self.notification(
            "ExConversationChangeNotification",
            lambda f: any(predicate(c) for c in f["body"]["changes"]),
            timeout,
        )
        return next(c for c in frame["body"]["changes"] if predicate(c))

    def closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Wait until the server closes the socket; returns (code, reason)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.receive(deadline - time.monotonic())
        except TimeoutError:
            raise AssertionError(f"socket still open after {timeout} s") from None
        except ConnectionClosed:
            pass
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")

    # -- tutorial steps ---------------------------------------------------------------------

    def subscribe_conversations(self, body: Frame | None = None) -> str:
        resp = self.ok("cqm.SubscribeExConversations", body or {"convState": ["OPEN", "CLOSE"]})
        sub_id: str = resp["body"]["subscriptionId"]
        self.notification(
            "ExConversationChangeNotification", lambda f: f["body"]["subscriptionId"] == sub_id
        )
        return sub_id

    def request_conversation(self, body: Frame | None = None) -> str:
        resp = self.ok("cm.ConsumerRequestConversation", body)
        cid: str = resp["body"]["conversationId"]
        return cid

    def subscribe_events(self, dialog_id: str, from_seq: int = 0) -> list[Frame]:
        self.ok("ms.SubscribeMessagingEvents", {"dialogId": dialog_id, "fromSeq": from_seq})
        frame = self.notification("MessagingEventNotification")
        changes: list[Frame] = frame["body"]["changes"]
        return changes

    def publish_text(self, dialog_id: str, text: str) -> int:
        event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
        resp = self.ok("ms.PublishEvent", {"dialogId": dialog_id, "event": event})
        sequence: int = resp["body"]["sequence"]
        return sequence


def open_consumer(
    sandbox: Sandbox,
    token: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    url: str | None = None,
) -> Consumer:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"jwt {token}"
    context = ssl.create_default_context(cafile=sandbox.ca_file) if sandbox.tls else None
    return Consumer(
        connect(url or sandbox.ws_url, additional_headers=all_headers, open_timeout=5,
                legacy=True, ssl=context)
    )


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(agents=QUICK, wire_variants=CANONICAL) as running:
        yield running


@pytest.fixture
def tls_sandbox() -> Iterator[Sandbox]:
    """A sandbox serving https and wss; clients trust ``tls_sandbox.ca_file``."""
    with Sandbox(agents=QUICK, tls=True) as running:
        yield running


@pytest.fixture
def quiet_sandbox() -> Iterator[Sandbox]:
    """Agents that never accept on their own: tests drive them through ``sandbox.agents``."""
    quiet = AgentOptions(accept_delay=None, reply_delay=0.01)
    with Sandbox(agents=quiet, wire_variants=CANONICAL) as running:
        yield running


@pytest.fixture
def consumer_factory(sandbox: Sandbox) -> Iterator[Callable[..., Consumer]]:
    opened: list[Consumer] = []

    def make(token: str | None = None, **kwargs: Any) -> Consumer:
        consumer = open_consumer(sandbox, token or signup(sandbox), **kwargs)
        opened.append(consumer)
        return consumer

    yield make
    for consumer in opened:
        consumer.close()


@pytest.fixture
def consumer(consumer_factory: Callable[..., Consumer]) -> Consumer:
    return consumer_factory()


@pytest.fixture
def quiet_consumer(quiet_sandbox: Sandbox) -> Iterator[Consumer]:
    client = open_consumer(quiet_sandbox, signup(quiet_sandbox))
    yield client
    client.close()
