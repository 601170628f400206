"""Sandbox faults: drops, expiry, rejections, junk frames, close with requests in flight."""

from __future__ import annotations

import json
import logging
import random
import threading

import pytest

from lpbot.client import ConnectionState
from lpbot.errors import ConnectionClosed, RequestRejected, RequestTimeout
from lpbot.testing import wait_until

from .support import FAST_BACKOFF, agent_assigned, client_threads

pytestmark = pytest.mark.lp_sandbox_tls  # faults: over plain and TLS


def test_burst_of_500_with_50_drops_arrives_exactly_once_in_order(sandbox, make_client):
    client, recorder = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    rng = random.Random(20240229)
    cuts = sorted(rng.sample(range(1, 500), 49))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, 500], strict=True)]
    expected = []
    for chunk, size in enumerate(sizes):
        sandbox.agents.burst(conversation.id, size, prefix=f"c{chunk}")
        expected.extend(f"c{chunk} {n}" for n in range(size))
        code = rng.choice([None, 1006, 1001, 1011, 1000])
        # drop at once if a socket is up, else as soon as the client has reconnected
        wait_until(lambda code=code: sandbox.faults.drop_all(code) > 0, 10, "a socket to drop")
    assert recorder.wait_agent_texts(500, timeout=30) == expected
    sequences = recorder.sequences(conversation.id)
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))
    wait_until(lambda: client.stats.connects == 51, 5, "the reconnect after the last drop")
    assert client.stats.delivered == len(recorder.events)


def test_authenticated_token_expiry_refreshes_and_continues(sandbox, make_client):
    minted = []

    def provider() -> str:
        minted.append(sandbox.mint_brand_token("customer-7"))
        return minted[-1]

    client, recorder = make_client(token_provider=provider)
    client.connect(timeout=5)
    consumer_id = client.consumer_id
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "before expiry")
    recorder.wait_agent_texts(1)

    sandbox.faults.expire_tokens()
    wait_until(lambda: client.stats.token_refreshes >= 1 and client.stats.connects >= 2
               and client.state is ConnectionState.CONNECTED, 5, "a refreshed reconnect")
    closes = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert closes[0].code == 4401
    assert closes[0].recovery == "refresh-token"
    assert len(minted) == 2
    assert client.consumer_id == consumer_id  # same consumer: the conversation continues
    sandbox.agents.say(conversation.id, "after expiry")
    assert recorder.wait_agent_texts(2) == ["before expiry", "after expiry"]
    assert conversation.send_text("still here") >= 0
    assert client.stats.retry_delays[0] == 0.0  # refreshed, then reconnected at once


def test_unauthenticated_expiry_renews_the_identity(sandbox, make_client):
    client, recorder = make_client()
    client.connect(timeout=5)
    old_consumer = client.consumer_id
    client.open_conversation().send_text("hi")

    sandbox.faults.expire_tokens()
    wait_until(lambda: client.stats.identity_renewals >= 1
               and client.state is ConnectionState.CONNECTED, 5, "a renewed identity")
    closes = [s for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert closes[0].code == 4407
    assert closes[0].recovery == "renew-identity"
    # signing up again is the only documented renewal: a new consumer, a new conversation
    assert client.consumer_id != old_consumer
    assert client_threads() == [f"lpbot-reader-{client.consumer_id}",
                                "lpbot-keepalive"]
    fresh = client.open_conversation()
    assert fresh.send_text("hello again") >= 0
    assert fresh.state is not None
    assert fresh.state.consumer_id == client.consumer_id


@pytest.mark.parametrize(("code", "policy"), [(429, "rate_limited"), (503, "delay")])
def test_rejected_requests_back_off_as_documented_then_succeed(sandbox, make_client, code,
                                                               policy):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    sandbox.faults.reject_next(3, code)
    assert conversation.send_text("eventually") >= 0
    expected = [getattr(FAST_BACKOFF, policy)(n) for n in range(3)]
    assert list(client.stats.retry_delays) == expected
    assert client.stats.request_retries == 3
    assert min(expected) >= FAST_BACKOFF.scale * (1.0 if code == 429 else 5.0)


def test_too_many_rejections_raise_with_the_request(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    sandbox.faults.reject_next(4, 500)
    with pytest.raises(RequestRejected) as info:
        conversation.send_text("never")
    assert info.value.code == 500
    assert info.value.request.event.text == "never"


@pytest.mark.parametrize(("status", "policy"), [(503, "delay"), (429, "rate_limited")])
def test_refused_handshakes_back_off_then_reconnect(sandbox, make_client, status, policy):
    client, recorder = make_client()
    client.connect(timeout=5)
    sandbox.faults.reject_handshakes(2, status)
    sandbox.faults.drop_all(1006)
    wait_until(lambda: client.stats.connects == 2 and client.state is ConnectionState.CONNECTED,
               5, "the reconnect")
    # after a drop: 5 s; after each refused upgrade: the policy of its status (§3.5, §4.2)
    expected = [FAST_BACKOFF.delay(0), getattr(FAST_BACKOFF, policy)(1),
                getattr(FAST_BACKOFF, policy)(2)]
    assert list(client.stats.retry_delays) == expected
    refused = [s.http_status for s in recorder.states if s.state is ConnectionState.RECONNECTING]
    assert refused == [None, status, status]


def test_malformed_frames_and_unknown_notifications_are_counted(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    assert sandbox.faults.send_malformed() == 1
    assert sandbox.faults.send_malformed("[1, 2]") == 1
    assert sandbox.faults.send_unknown_notification() == 1
    wait_until(lambda: client.stats.malformed_frames == 2
               and client.stats.unknown_notifications == 1, 5, "the junk to be counted")
    assert conversation.send_text("still connected") >= 0
    assert client.stats.connects == 1


def test_an_unknown_notification_type_is_logged_once_across_reconnects(sandbox, make_client,
                                                                       caplog):
    caplog.set_level(logging.WARNING, logger="lpbot.protocol.codec")
    client, _ = make_client()
    client.connect(timeout=5)
    for connects in (1, 2):
        wait_until(lambda n=connects: client.stats.connects == n
                   and client.state is ConnectionState.CONNECTED, 5, f"connection {connects}")
        assert sandbox.faults.send_unknown_notification() == 1
        wait_until(lambda n=connects: client.stats.unknown_notifications == n, 5,
                   "the unknown notification to be counted")
        if connects == 1:
            sandbox.faults.drop_all()
    warnings = [r for r in caplog.records if "unknown notification type" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_close_with_requests_in_flight_fails_them_and_leaves_no_thread(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    sandbox.faults.delay_responses(30)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            conversation.send_text("in flight", timeout=30)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    senders = [threading.Thread(target=send, name=f"test-sender-{n}") for n in range(3)]
    for sender in senders:
        sender.start()
    wait_until(lambda: client.pending_requests == 3, 5, "three requests in flight")
    client.close()
    for sender in senders:
        sender.join(5)
    assert len(errors) == 3
    assert all(isinstance(error, ConnectionClosed) for error in errors)
    assert client_threads() == []
    assert client.state is ConnectionState.CLOSED
    with pytest.raises(ConnectionClosed):
        conversation.send_text("after close")


def test_request_timeout_is_typed(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    sandbox.faults.delay_responses(5)
    with pytest.raises(RequestTimeout) as info:
        conversation.send_text("slow", timeout=0.05)
    assert info.value.request_type == "ms.PublishEvent"
    assert client.pending_requests == 0
    sandbox.faults.delay_responses(0)


def test_keepalive_sends_get_clock_and_replaces_a_silent_socket(sandbox, make_client):
    client, recorder = make_client(keepalive_interval=0.02)
    client.connect(timeout=5)
    wait_until(lambda: client.stats.keepalives >= 3, 5, "GetClock keepalives")
    sandbox.faults.delay_responses(1.0)  # a GetClock left unanswered for a whole interval
    wait_until(lambda: client.stats.connects >= 2, 5, "the silent socket to be replaced")
    sandbox.faults.delay_responses(0)
    reasons = [s.reason for s in recorder.states if s.state is ConnectionState.DISCONNECTED]
    assert "keepalive: GetClock unanswered" in reasons


def test_close_from_a_callback_on_the_reader_thread(sandbox, make_client):
    client, _ = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent_assigned(sandbox, conversation.id)
    client.on_message = lambda event: client.close()
    sandbox.agents.say(conversation.id, "close yourself")
    wait_until(lambda: client.state is ConnectionState.CLOSED and not client_threads(), 5,
               "the reader thread to end by itself")
    assert client.stats.callback_errors == 0


def test_a_malformed_frame_is_logged_without_tokens(sandbox, make_client, caplog):
    client, _ = make_client()
    client.connect(timeout=5)
    sandbox.faults.send_malformed('{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", oops')
    wait_until(lambda: client.stats.malformed_frames == 1, 5, "the frame to be counted")
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("lpbot.client")]
    assert any("malformed frame" in message for message in logged)
    assert not any("eyJ" in message for message in logged)


def test_a_lone_surrogate_in_one_event_loses_no_other_event_of_its_frame(sandbox, make_client):
    client, recorder = make_client()
    client.connect(timeout=5)
    conversation = client.open_conversation()
    agent = agent_assigned(sandbox, conversation.id)
    sandbox.agents.say(conversation.id, "first")
    recorder.wait_agent_texts(1)
    last = recorder.sequences(conversation.id)[-1]

    def change(sequence: int, text: str) -> dict[str, object]:
        return {"sequence": sequence, "originatorId": agent,
                "originatorMetadata": {"id": agent, "role": "ASSIGNED_AGENT"},
                "serverTimestamp": 1700000000000 + sequence,
                "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
                "conversationId": conversation.id, "dialogId": conversation.id}

    frame = {"kind": "notification", "type": "ms.MessagingEventNotification",
             "body": {"changes": [change(last + 1, "bad @ text"), change(last + 2, "after")]}}
    # a lone surrogate escape, as another server may write it: valid JSON, refused by orjson
    assert sandbox.faults.send_malformed(json.dumps(frame).replace("@", "\\ud800")) == 1
    assert recorder.wait_agent_texts(3) == ["first", "bad \ufffd text", "after"]
    assert client.stats.malformed_frames == 0
    assert client.stats.gaps == 0
