"""Every dialog kind: CoBrowse, voice and video invitations (protocol notes §6.1 Example D), surveys
only for MULTI_DIALOG consumers (§7.2, §7.8), and what "open" means (§7.2; docs/sandbox-rules.md,
decisions, the sandbox's addition to protocol notes §8)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from lpbot.sandbox import AgentOptions, Sandbox

from .conftest import CANONICAL, Consumer, Frame, load_fixture, open_consumer, signup

AGENTS = AgentOptions(accept_delay=None, reply_delay=0.01, greeting=None)


def _properties(*features: str) -> dict[str, str]:
    return {"Client-Properties": json.dumps({"type": ".ClientProperties",
                                             "features": list(features)})}


@pytest.fixture
def quiet() -> Iterator[Sandbox]:
    with Sandbox(agents=AGENTS, wire_variants=CANONICAL, invitation_lifetime=0.3) as running:
        yield running


@pytest.fixture
def consumers(quiet: Sandbox) -> Iterator[Callable[..., Consumer]]:
    opened: list[Consumer] = []

    def make(*features: str) -> Consumer:
        client = open_consumer(quiet, signup(quiet), headers=_properties(*features))
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def _accepted(sandbox: Sandbox, client: Consumer) -> str:
    client.subscribe_conversations()
    cid = client.request_conversation()
    sandbox.agents.accept(cid)
    return cid


def _dialogs(client: Consumer, count: int) -> list[Frame]:
    change = client.conversation_change(
        lambda c: len(c["result"]["conversationDetails"]["dialogs"]) == count
    )
    dialogs: list[Frame] = change["result"]["conversationDetails"]["dialogs"]
    return dialogs


@pytest.mark.parametrize(
    ("kind", "mode"),
    [("cobrowse", "shared"), ("cobrowse-view", "view"), ("cobrowse-follow", "follow"),
     ("voice", "VOICE_CALL"), ("video", "VIDEO_CALL")],
)
def test_invitation_opens_a_dialog_as_example_d_shows(
    quiet: Sandbox, consumers: Callable[..., Consumer], kind: str, mode: str
) -> None:
    client = consumers("CO_BROWSE")
    cid = _accepted(quiet, client)
    before = time.time()
    dialog_id = quiet.agents.invite(cid, kind)
    main, dialog = _dialogs(client, 2)
    documented = load_fixture("30-dialog-cobrowse.json")
    assert set(documented) - {"participants"} <= set(dialog)
    assert (dialog["dialogId"], dialog["dialogType"], dialog["channelType"], dialog["state"]) == (
        dialog_id, "OTHER", "COBROWSE", "OPEN")
    meta = dialog["metaData"]
    assert set(documented["metaData"]) == set(meta)
    assert (meta["mode"], meta["sessionState"], meta["dialogId"]) == (mode, "INVITED", dialog_id)
    assert meta["serviceId"].startswith(client_consumer_id(quiet, cid) + "#")
    assert before < meta["expires"] < time.time() + 1  # epoch *seconds*, two minutes ahead
    assert main["state"] == "OPEN"  # the conversation goes on beside it


def _second(change: Frame) -> Frame:
    dialogs: list[Frame] = change["result"]["conversationDetails"]["dialogs"]
    return dialogs[1] if len(dialogs) > 1 else {"metaData": {}, "state": None}


def client_consumer_id(sandbox: Sandbox, cid: str) -> str:
    return sandbox.conversation(cid).consumer_id


def test_invitation_states_and_the_main_close(
    quiet: Sandbox, consumers: Callable[..., Consumer]
) -> None:
    client = consumers("CO_BROWSE")
    cid = _accepted(quiet, client)
    dialog_id = quiet.agents.invite(cid, "voice")
    _dialogs(client, 2)
    quiet.agents.session_state(cid, dialog_id, "ACCEPTED")
    client.conversation_change(lambda c: _second(c)["metaData"].get("sessionState") == "ACCEPTED")
    # decision 3 (docs/sandbox-rules.md, beside protocol notes §8): subscribing is fine, no events
    client.ok("ms.SubscribeMessagingEvents", {"dialogId": dialog_id})
    quiet.agents.session_state(cid, dialog_id, "CLOSED")
    change = client.conversation_change(lambda c: _second(c)["state"] == "CLOSE")
    assert change["result"]["conversationDetails"]["state"] == "OPEN"
    with pytest.raises(ValueError, match="closed"):
        quiet.agents.session_state(cid, dialog_id, "ACCEPTED")
    # a second invitation ends with the MAIN dialog
    second = quiet.agents.invite(cid, "video")
    _dialogs(client, 3)
    quiet.agents.close(cid)
    record = quiet.conversation(cid)
    assert {d.dialog_id: d.state for d in record.dialogs}[second] == "CLOSE"
    assert {d.dialog_id: d.meta_data for d in record.dialogs}[second]["sessionState"] == "CLOSED"


def test_unanswered_invitation_expires(quiet: Sandbox, consumers: Callable[..., Consumer]) -> None:
    client = consumers("CO_BROWSE")
    cid = _accepted(quiet, client)
    dialog_id = quiet.agents.invite(cid)
    change = client.conversation_change(
        lambda c: any(d["dialogId"] == dialog_id and d["state"] == "CLOSE"
                      for d in c["result"]["conversationDetails"]["dialogs"])
    )
    dialog = change["result"]["conversationDetails"]["dialogs"][1]
    assert dialog["metaData"]["sessionState"] == "CLOSED"
    assert dialog["closedCause"] == "Invitation expired"


def test_invitation_needs_the_co_browse_feature(
    quiet: Sandbox, consumers: Callable[..., Consumer]
) -> None:
    cid = _accepted(quiet, consumers("QUICK_REPLIES"))
    with pytest.raises(ValueError, match="CO_BROWSE"):
        quiet.agents.invite(cid)
    with Sandbox(agents=AGENTS, lenient=True) as lenient:
        client = open_consumer(lenient, signup(lenient))
        try:
            cid = _accepted(lenient, client)
            lenient.agents.invite(cid, "video")
            assert lenient.conversation(cid).dialogs[1].channel_type == "COBROWSE"
        finally:
            client.close()


def test_invitation_over_http(quiet: Sandbox, consumers: Callable[..., Consumer]) -> None:
    client = consumers("CO_BROWSE")
    cid = _accepted(quiet, client)
    base = f"{quiet.http_url}/_sandbox/conversations/{cid}"
    reply = requests.post(f"{base}/invite", params={"kind": "video"}, timeout=5)
    assert reply.status_code == 200
    dialog_id = reply.json()["dialogId"]
    assert _dialogs(client, 2)[1]["metaData"]["mode"] == "VIDEO_CALL"
    assert requests.post(f"{base}/invite", params={"kind": "fax"}, timeout=5).status_code == 400
    closed = requests.post(f"{base}/session_state",
                           params={"dialog": dialog_id, "state": "CLOSED"}, timeout=5)
    assert closed.status_code == 200
    assert quiet.conversation(cid).dialogs[1].state == "CLOSE"


def test_survey_only_for_multi_dialog_consumers(
    quiet: Sandbox, consumers: Callable[..., Consumer]
) -> None:
    cid = _accepted(quiet, consumers("QUICK_REPLIES"))
    with pytest.raises(ValueError, match="MULTI_DIALOG"):
        quiet.agents.close(cid, survey=True)
    assert quiet.conversation(cid).state == "OPEN"  # nothing happened
    with Sandbox(agents=AGENTS, lenient=True) as lenient:
        client = open_consumer(lenient, signup(lenient))
        try:
            cid = _accepted(lenient, client)
            lenient.agents.close(cid, survey=True)
            assert [d.dialog_type for d in lenient.conversation(cid).dialogs] == [
                "MAIN", "POST_SURVEY"]
        finally:
            client.close()


def test_a_running_survey_keeps_the_conversation_open(
    quiet: Sandbox, consumers: Callable[..., Consumer]
) -> None:
    """Decision 1 (docs/sandbox-rules.md; protocol notes §7.2, §8.5): open means stage OPEN."""
    client = consumers("MULTI_DIALOG")
    cid = _accepted(quiet, client)
    quiet.agents.close(cid, survey=True)
    details = _dialogs(client, 2)
    survey = details[1]["dialogId"]
    record = quiet.conversation(cid)
    assert (record.state, record.stage) == ("CLOSE", "OPEN")
    refused = client.request("cm.ConsumerRequestConversation")
    assert refused["code"] == 400
    assert cid in refused["body"]
    answer = {"type": "ContentEvent", "contentType": "text/plain", "message": "5"}
    client.ok("ms.PublishEvent", {"dialogId": survey, "conversationId": cid, "event": answer})
    quiet.wait_until(lambda: quiet.conversation(cid).stage == "CLOSE")
    assert client.request_conversation() != cid
