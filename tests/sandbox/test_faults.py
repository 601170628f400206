"""Each fault-injection method observably works."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

from .conftest import Consumer, open_consumer, signup


def test_drop_all_abruptly(sandbox: Sandbox, consumer_factory: Callable[..., Consumer]) -> None:
    first, second = consumer_factory(), consumer_factory()
    first.ok("GetClock")
    second.ok("GetClock")
    assert sandbox.faults.drop_all() == 2
    for client in (first, second):
        assert client.closed() == (None, "")  # no close frame: 1006 for the client
    assert sandbox.faults.drop_all() == 0


@pytest.mark.parametrize("code", [1001, 1011, 4000])
def test_drop_all_with_close_code(sandbox: Sandbox, consumer: Consumer, code: int) -> None:
    consumer.ok("GetClock")
    assert sandbox.faults.drop_all(code) == 1
    assert consumer.closed()[0] == code


def test_drop_all_of_one_consumer(sandbox: Sandbox,
                                  consumer_factory: Callable[..., Consumer]) -> None:
    token = signup(sandbox)
    first, second = consumer_factory(token), consumer_factory()
    first.ok("GetClock")
    second.ok("GetClock")
    consumer_id = jwt.decode(token, options={"verify_signature": False})["sub"]
    assert sandbox.faults.drop_all(4407, consumer=consumer_id) == 1
    assert first.closed()[0] == 4407
    second.ok("GetClock")  # the other consumer's socket is untouched
    assert sandbox.faults.drop_all(consumer="nobody") == 0


def test_reject_next_requests(sandbox: Sandbox, consumer: Consumer) -> None:
    sandbox.faults.reject_next(2)
    for _ in range(2):
        resp = consumer.request("GetClock")
        assert resp["code"] == 429
        assert resp["type"] == ".ReqBody$StringResp"
    consumer.ok("GetClock")
    sandbox.faults.reject_next(1, code=503)
    assert consumer.request("cm.ConsumerRequestConversation")["code"] == 503
    assert sandbox.conversations() == []  # a rejected request has no effect


def test_reject_handshakes(sandbox: Sandbox) -> None:
    token = signup(sandbox)
    sandbox.faults.reject_handshakes(2, status=503)
    for _ in range(2):
        with (
            pytest.raises(InvalidStatus) as refused,
            connect(sandbox.ws_url, additional_headers={"Authorization": f"jwt {token}"}),
        ):
            pass
        assert refused.value.response.status_code == 503
    client = open_consumer(sandbox, token)
    try:
        client.ok("GetClock")
    finally:
        client.close()


def test_delay_responses(sandbox: Sandbox, consumer: Consumer) -> None:
    sandbox.faults.delay_responses(0.3)
    started = time.monotonic()
    req_id = consumer.send("GetClock")
    with pytest.raises(AssertionError):
        consumer.response(req_id, timeout=0.05)
    consumer.response(req_id, timeout=5)
    assert time.monotonic() - started >= 0.25
    sandbox.faults.delay_responses(0)
    consumer.ok("GetClock")


def test_delay_keeps_event_order(sandbox: Sandbox, consumer: Consumer) -> None:
    cid = consumer.request_conversation()
    consumer.subscribe_events(cid)
    sandbox.faults.delay_responses(0.2)
    req_id = consumer.send(
        "ms.PublishEvent",
        {
            "dialogId": cid,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "slow"},
        },
    )
    echo = consumer.event(
        lambda c: (
            c["event"].get("message") == "slow" and c["originatorMetadata"]["role"] == "CONSUMER"
        )
    )
    assert consumer.response(req_id)["body"]["sequence"] == echo["sequence"]


def test_send_malformed(sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.ok("GetClock")
    assert sandbox.faults.send_malformed("{broken") == 1
    assert consumer.ws.recv(timeout=5) == "{broken"
    consumer.ok("GetClock")


def test_send_unknown_notification(sandbox: Sandbox, consumer: Consumer) -> None:
    consumer.ok("GetClock")
    assert sandbox.faults.send_unknown_notification() == 1
    frame = json.loads(consumer.ws.recv(timeout=5))
    assert frame["kind"] == "notification"
    assert frame["type"] == "sandbox.UnknownTestNotification"


def test_reset_clears_pending_faults(sandbox: Sandbox, consumer: Consumer) -> None:
    sandbox.faults.reject_next(5)
    sandbox.faults.delay_responses(10)
    sandbox.faults.reset()
    consumer.ok("GetClock")


def test_idle_connections_are_closed_and_pings_count() -> None:
    with Sandbox(idle_timeout=1.0) as sandbox:
        token = signup(sandbox)
        idle = open_consumer(sandbox, token)
        pinging = open_consumer(sandbox, token)
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # pings every 0.1 s keep this one alive
                pinging.ws.ping().wait(1)
                with pytest.raises(TimeoutError):
                    pinging.ws.recv(timeout=0.1)
            assert idle.closed()[0] == 1000
            pinging.ok("GetClock")
        finally:
            pinging.close()
        with pytest.raises(ConnectionClosed):
            idle.ws.send("{}")


def test_a_socket_that_does_not_read_is_dropped(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lpbot.sandbox.ws.MAX_BUFFERED", 256 * 1024)
    token = signup(sandbox)
    stuck = Consumer(
        connect(
            sandbox.ws_url,
            additional_headers={"Authorization": f"jwt {token}"},
            max_queue=1,
            close_timeout=0.2,
            legacy=True,
        )
    )
    try:
        cid = stuck.request_conversation()
        stuck.subscribe_events(cid)
        card = {"type": "text", "text": "x" * 200_000}
        for _ in range(60):  # 12 MB: more than the kernel buffers plus the limit
            sandbox.agents.say_rich(cid, card)
        wait_until(lambda: sandbox.connection_count == 0, 10, "the stuck socket to be dropped")
    finally:
        stuck.close()


def test_rate_limit_answers_429_beyond_the_bucket() -> None:
    with Sandbox(rate_limit=5) as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        try:
            ids = [client.send("GetClock") for _ in range(12)]
            codes = [client.response(req_id)["code"] for req_id in ids]
            assert codes[:5] == [200] * 5
            assert 429 in codes[5:]
        finally:
            client.close()
