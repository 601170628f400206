"""CoBrowse, voice and video dialogs reach plugins as ``lpbot_cobrowse_dialog`` (§6.1 Example D).

Over real sockets: the sandbox's agent invites the consumer (``agents.invite``) and moves the
session on (``agents.session_state``); the bot's messages keep going to the MAIN dialog.
"""

from __future__ import annotations

import json
from pathlib import Path

from lpbot.client.dialogs import CoBrowseDialog, changed_cobrowse_dialogs, cobrowse_dialogs
from lpbot.client.options import DEFAULT_CLIENT_PROPERTIES
from lpbot.protocol.notifications import ConversationChange, ConversationDetails, Dialog
from lpbot.runtime.tracking import conversation_hooks
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

from .conftest import MakeHarness

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "documented" / (
    "30-dialog-cobrowse.json")
CO_BROWSE = {"account": {"client_properties": {
    **DEFAULT_CLIENT_PROPERTIES,
    "features": [*DEFAULT_CLIENT_PROPERTIES["features"], "CO_BROWSE"]}}}


def details(*dialogs: dict) -> ConversationDetails:
    main = {"dialogId": "conv-1", "dialogType": "MAIN", "channelType": "MESSAGING",
            "state": "OPEN"}
    return ConversationDetails(conversation_id="conv-1", state="OPEN", dialogs=tuple(
        Dialog.from_wire(d) for d in (main, *dialogs)))


def test_the_documented_cobrowse_dialog_is_read_as_a_typed_event():
    wire = json.loads(FIXTURE.read_text(encoding="utf-8"))
    [dialog] = cobrowse_dialogs(details(wire))
    assert dialog == CoBrowseDialog(
        conversation_id="conv-1", dialog_id="c26b9d3b-e943-42af-8047-aba830de64ea",
        kind="cobrowse", mode="shared", session_state="INVITED", state="OPEN",
        expires=1502893131.855,
        service_id="cc05f2b9-916b-496e-89fe-66a46d975ae2#7904fffd-fc68-4d93-b611-4dc06ab26bf4",
        meta_data=wire["metaData"])
    assert dialog.is_open
    # only what changed is reported again
    assert changed_cobrowse_dialogs(details(wire), details(wire)) == []
    accepted = {**wire, "metaData": {**wire["metaData"], "sessionState": "ACCEPTED"}}
    [change] = changed_cobrowse_dialogs(details(wire), details(accepted))
    assert change.session_state == "ACCEPTED"
    voice = {**wire, "dialogId": "d2", "metaData": {**wire["metaData"], "mode": "VOICE_CALL"}}
    assert [d.kind for d in cobrowse_dialogs(details(wire, voice))] == ["cobrowse", "voice"]


def test_hook_lpbot_cobrowse_dialog(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    with make_harness(config=CO_BROWSE) as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined")
        dialog_id = lp_sandbox.agents.invite(conversation.id, "video")
        invited = harness.events.wait_for("lpbot_cobrowse_dialog")[0]
        dialog = invited["dialog"]
        assert isinstance(dialog, CoBrowseDialog)
        assert (dialog.dialog_id, dialog.kind, dialog.session_state) == (
            dialog_id, "video", "INVITED")
        assert invited["conversation"] == conversation

        # messages, receipts and typing still go to the conversation's MAIN dialog
        assert conversation.dialog_id == conversation.id
        conversation.set_chat_state("COMPOSING")
        conversation.send_text("a moment, I'll turn the camera on")
        message = lp_sandbox.wait_for_consumer_message(conversation.id)
        assert message.dialog_id == conversation.id

        lp_sandbox.agents.session_state(conversation.id, dialog_id, "ACCEPTED")
        lp_sandbox.agents.session_state(conversation.id, dialog_id, "CLOSED")
        states = [c["dialog"].session_state for c in
                  harness.events.wait_for("lpbot_cobrowse_dialog", count=3)]
        assert states == ["INVITED", "ACCEPTED", "CLOSED"]
        assert not harness.events.wait_for("lpbot_cobrowse_dialog", count=3)[2]["dialog"].is_open
        # no message stream was subscribed for the video dialog
        client = harness.bot.client()
        assert client.link.session is not None
        assert client.link.session.last_seen(dialog_id) is None
        wait_until(lambda: conversation.is_open, 5, "the conversation itself stays open")


def test_cobrowse_changes_come_after_conversation_changed():
    wire = json.loads(FIXTURE.read_text(encoding="utf-8"))
    change = ConversationChange(conversation_id="conv-1", change_type="UPSERT",
                                details=details(wire))
    names = [name for name, _ in conversation_hooks(details(), change)]
    assert names == ["lpbot_conversation_changed", "lpbot_cobrowse_dialog"]
