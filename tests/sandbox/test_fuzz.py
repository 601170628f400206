"""Property-based fuzz of what the sandbox is sent: requests on the consumer WebSocket, identity
and console bodies over HTTP. Whatever arrives, the answer is a documented status (never 500),
the socket stays open (never 1011), and what was stored can still be replayed.

Examples per test come from a Hypothesis settings profile: ``fuzz-ci`` (the default, bounded for
CI) or ``fuzz-long`` for maintainers (``LPBOT_FUZZ=fuzz-long python -m pytest
tests/sandbox/test_fuzz.py``; see docs/hardening.md).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from lpbot.sandbox import Sandbox

from .conftest import QUICK, Consumer, signup

settings.register_profile("fuzz-ci", max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz-long", max_examples=5_000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings.get_profile(os.environ.get("LPBOT_FUZZ", "fuzz-ci"))

#: statuses the protocol documents for a consumer request (protocol notes §8.4)
WS_CODES = {200, 400, 401, 403, 404, 429}
HTTP_CODES = {200, 400, 401, 403, 404, 409, 413, 415}
REQUEST_TYPES = [
    "GetClock", "cm.ConsumerRequestConversation", "cm.UpdateConversationField",
    "cqm.SubscribeExConversations", "cqm.UnsubscribeExConversations",
    "ms.SubscribeMessagingEvents", "ms.PublishEvent", "ms.GenerateURLForUploadFile",
    "ms.GenerateURLForDownloadFile", "userprofile.SetUserProfile", ".ams.ms.QueryMessages",
    "InitConnection", "KeepAlive",
]

# text with lone surrogates, controls and astral characters among the ordinary ones
TEXT = st.text(st.characters(categories=["Cs", "Lu", "Ll", "Nd", "Zs", "Cc", "So"]), max_size=12)
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT,
                   st.sampled_from(["OPEN", "CLOSE", "ContentEvent", "text/plain", "CSATRate",
                                    "ConversationStateField", "DialogChange", "NORMAL"]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
#: values that broke the sandbox before, drawn often so that a short run meets them
ODD = st.sampled_from(["\ud800", "a\udfffb", float("nan"), float("inf"), -float("inf"),
                       10**30, 2**64, -1, 1.5, True, [], {}, ["NORMAL"], {"a": 1}, "", None])
FUZZED = st.one_of(ODD, TEXT, VALUES)


#: stands for the open conversation's id in drawn bodies (replaced when sent)
DIALOG = "@dialog@"


def valid_bodies(dialog: str) -> dict[str, Any]:
    """A well-formed body of each request type, for ``dialog`` (the fuzz mutates them)."""
    text_event = {"type": "ContentEvent", "contentType": "text/plain", "message": "hi"}
    return {
        "ms.PublishEvent": {"dialogId": dialog, "event": text_event},
        "cm.UpdateConversationField": {"conversationId": dialog, "conversationField": [
            {"field": "TTRField", "ttrType": "URGENT", "value": 60}]},
        "cm.ConsumerRequestConversation": {"ttrDefName": "NORMAL", "channelType": "MESSAGING",
                                           "skillId": "-1"},
        "ms.SubscribeMessagingEvents": {"dialogId": dialog, "fromSeq": 0},
        ".ams.ms.QueryMessages": {"dialogId": dialog, "maxQuantity": 10},
        "cqm.SubscribeExConversations": {"convState": ["OPEN"], "minLastUpdatedTime": 0},
        "ms.GenerateURLForUploadFile": {"fileSize": 10, "fileType": "JPG"},
        "ms.GenerateURLForDownloadFile": {"relativePath": "/v1/AUTH_async-images/x/y.JPG"},
        "userprofile.SetUserProfile": {"firstName": "Ada"},
        "GetClock": {},
    }


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in ``value`` a fuzzed value can go: the leaves, then the containers."""
    if isinstance(value, dict):
        inner = [p for key, item in value.items() for p in paths(item, (*prefix, key))]
    elif isinstance(value, list):
        inner = [p for index, item in enumerate(value) for p in paths(item, (*prefix, index))]
    else:
        return [prefix]
    return [*inner, prefix]


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with ``new`` at ``path``."""
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, dialog: str) -> list[tuple[str, Any]]:
    """Every request type with its well-formed body, one or two places of each fuzzed."""
    requests_out = []
    for type_name, body in sorted(valid_bodies(dialog).items()):
        for _ in range(draw(st.integers(1, 2), label="mutations")):
            path = draw(st.sampled_from(paths(body)), label="path")
            body = replaced(body, path, draw(FUZZED, label="value"))
        requests_out.append((type_name, body))
    return requests_out


class Target:
    """One sandbox and one consumer with an open conversation, shared by the examples."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.token = signup(sandbox)
        self.consumer = self._connect()
        self.probes = itertools.count()
        self.conversation = self._open()

    def _connect(self) -> Consumer:
        # no keepalive pings: their payload comes from the random module, which Hypothesis
        # must see untouched while it draws
        return Consumer(connect(
            self.sandbox.ws_url, additional_headers={"Authorization": f"jwt {self.token}"},
            open_timeout=5, ping_interval=None, legacy=True))

    def reconnect(self) -> None:
        """Back after a documented close (a bad token in InitConnection closes with 4401)."""
        self.consumer.close()
        self.consumer = self._connect()
        self.consumer.ok("ms.SubscribeMessagingEvents", {"dialogId": self.conversation})

    def _open(self) -> str:
        """A conversation the console's agent took, its dialog subscribed (live echoes)."""
        conversation = self.consumer.request_conversation()
        accept = f"{self.sandbox.http_url}/console/api/conversations/{conversation}/accept"
        assert requests.post(accept, json={}, timeout=5).status_code == 200
        self.consumer.ok("ms.SubscribeMessagingEvents", {"dialogId": conversation})
        return conversation

    def reopen(self) -> None:
        """A fuzzed request may close the conversation: keep one open for the next example."""
        current = self.sandbox.conversation(self.conversation)
        if current.stage != "OPEN":
            self.conversation = self._open()


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    with Sandbox(agents=QUICK) as sandbox:
        running = Target(sandbox)
        yield running
        running.consumer.close()


def answers_until_probe(target: Target) -> list[dict[str, Any]]:
    """Send a GetClock probe; every response received up to its answer.

    A close with 4401 or 4407 (a token refused at InitConnection, protocol notes §3.5) is a
    documented answer: the consumer reconnects. Any other close fails the test.
    """
    probe = f"probe-{next(target.probes)}"
    seen = []
    try:
        target.consumer.send_raw(json.dumps({"kind": "req", "id": probe, "type": "GetClock"}))
        while True:
            frame = target.consumer.receive(10)
            if frame.get("kind") == "resp":
                seen.append(frame)
                if frame.get("reqId") == probe:
                    return seen
    except ConnectionClosed:
        after_documented_close(target)
        return seen


def after_documented_close(target: Target) -> None:
    """The socket closed: with 4401 or 4407, reconnect; anything else fails the test."""
    received = target.consumer.ws.protocol.close_rcvd
    assert received is not None, "closed without a close frame"
    assert received.code in (4401, 4407), received
    target.reconnect()


def with_member(text: str, name: str, raw: str) -> str:
    """``text`` with a member ``name`` whose raw JSON value is ``raw``, if it is an object."""
    if not text.startswith("{"):
        return text
    rest = text[1:] if text == "{}" else ", " + text[1:]
    return "{" + json.dumps(name) + ": " + raw + (rest if text != "{}" else "}")


def frame_text(frame: Any) -> str:
    """JSON text as any sender might write it: NaN, Infinity and lone surrogate escapes kept."""
    return json.dumps(frame, allow_nan=True)


@st.composite
def whole_frame(draw: st.DrawFn) -> str:
    """One more request, fuzzed as a whole: id, type, body, nesting and numerals."""
    type_name = draw(st.sampled_from(REQUEST_TYPES), label="type")
    frame: Any = {"kind": "req", "id": draw(st.one_of(st.just("fuzz"), FUZZED), label="id"),
                  "type": type_name, "body": draw(FUZZED, label="body")}
    if type_name == "InitConnection":
        frame["headers"] = draw(st.lists(st.fixed_dictionaries({
            "type": st.just(".ams.headers.ConsumerAuthentication"),
            "jwt": FUZZED}), max_size=1), label="headers")
    text = frame_text(draw(st.one_of(st.just(frame), VALUES), label="frame"))
    nesting = draw(st.sampled_from([0, 0, 0, 40, 1000]), label="nesting")
    if nesting:
        text = with_member(text, "deep", "[" * nesting + "]" * nesting)
    digits = draw(st.sampled_from([0, 0, 41, 5000]), label="numeral digits")
    if digits:
        text = with_member(text, "n", "9" * digits)
    return text


@FUZZ
@given(mutations=mutated(DIALOG), last=whole_frame())
def test_any_request_gets_a_documented_answer_and_the_socket_lives(
        target: Target, mutations: list[tuple[str, Any]], last: str) -> None:
    try:
        for type_name, body in mutations:
            text = frame_text({"kind": "req", "id": "m", "type": type_name, "body": body})
            target.consumer.send_raw(text.replace(DIALOG, target.conversation))
        target.consumer.send_raw(last)
    except ConnectionClosed:  # an InitConnection of the example before closed it, as documented
        after_documented_close(target)
    for answer in answers_until_probe(target):
        assert answer["code"] in WS_CODES, answer
        assert isinstance(answer.get("body", ""), str | dict | list), answer
    target.reopen()


def test_after_the_fuzz_every_dialog_replays(target: Target) -> None:
    """Nothing stored by the fuzz is unsendable: every dialog replays in full."""
    for record in target.sandbox.conversations():
        for dialog in record.dialogs:
            target.consumer.ok("ms.SubscribeMessagingEvents",
                               {"dialogId": dialog.dialog_id, "fromSeq": 0})
    assert target.consumer.request("GetClock")["code"] == 200


@FUZZ
@given(body=st.one_of(VALUES, st.fixed_dictionaries({"authCode": FUZZED}),
                      st.fixed_dictionaries({}, optional={
                          "text": FUZZED, "chatState": FUZZED, "sequences": FUZZED,
                          "ttrType": FUZZED, "value": FUZZED})),
       path=st.sampled_from(["authenticate", "console-messages", "console-typing",
                             "console-read", "console-ttr"]))
def test_http_bodies_get_documented_statuses(target: Target, body: Any, path: str) -> None:
    sandbox = target.sandbox
    if path == "authenticate":
        url = f"{sandbox.http_url}/api/account/{sandbox.account}/authenticate"
    else:
        url = (f"{sandbox.http_url}/console/api/conversations/{target.conversation}/"
               f"{path.removeprefix('console-')}")
    text = frame_text(body)
    reply = requests.post(url, data=text.encode("utf-8", "surrogatepass"),
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code in HTTP_CODES, (reply.status_code, reply.text)
    target.reopen()
