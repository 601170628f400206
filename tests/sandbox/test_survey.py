"""The survey dialog of MULTI_DIALOG consumers (protocol notes §7.2, §6.1 Example C)."""

from __future__ import annotations

import json
from collections.abc import Callable

from lpbot.sandbox import Sandbox

from .conftest import Consumer, load_fixture

MULTI = json.dumps({"type": ".ClientProperties", "features": ["MULTI_DIALOG", "QUICK_REPLIES"]})


def _assigned(client: Consumer) -> str:
    change = client.conversation_change(
        lambda c: any(
            p["role"] == "ASSIGNED_AGENT"
            for p in c["result"]["conversationDetails"]["participants"]
        )
    )
    cid: str = change["result"]["convId"]
    return cid


def test_closing_the_main_dialog_opens_a_survey(
    sandbox: Sandbox, consumer_factory: Callable[..., Consumer]
) -> None:
    client = consumer_factory(headers={"Client-Properties": MULTI})
    client.subscribe_conversations()
    cid = client.request_conversation()
    _assigned(client)
    close_main = load_fixture("09-req-cm_UpdateConversationField.json")["body"]["conversationField"]
    close_main["dialog"]["dialogId"] = cid
    client.ok(
        "cm.UpdateConversationField", {"conversationId": cid, "conversationField": close_main}
    )

    change = client.conversation_change(
        lambda c: len(c["result"]["conversationDetails"]["dialogs"]) == 2
    )
    details = change["result"]["conversationDetails"]
    documented = load_fixture("26-notification-cqm_ExConversationChangeNotification.json")
    documented_details = documented["body"]["changes"][0]["result"]["conversationDetails"]
    assert set(documented_details) <= set(details)
    assert (details["state"], details["stage"], details["closeReason"]) == (
        "CLOSE",
        "OPEN",
        "CONSUMER",
    )
    main, survey = details["dialogs"]
    assert (main["dialogType"], main["state"], main["closedBy"]) == ("MAIN", "CLOSE", "CONSUMER")
    assert (survey["dialogType"], survey["state"]) == ("POST_SURVEY", "OPEN")
    assert "appInstallId" in survey["metaData"]
    roles = {p["role"] for p in survey["participantsDetails"]}
    assert roles == {"CONSUMER", "AGENT", "READER"}

    # subscribe to the survey dialog: the question with quick replies is sequence 0
    question = client.subscribe_events(survey["dialogId"])[0]
    assert question["sequence"] == 0
    assert question["originatorMetadata"]["role"] == "AGENT"
    assert question["metadata"][0]["type"] == "Question"
    button = question["event"]["quickReplies"]["replies"][4]
    answer_meta = button["click"]["metadata"]

    # answer like the PCS tutorial: ACTION on the question, then the button's text
    body = {"dialogId": survey["dialogId"], "conversationId": cid}
    action = {"type": "AcceptStatusEvent", "status": "ACTION", "sequenceList": [0]}
    client.ok("ms.PublishEvent", body | {"event": action}, metadata=answer_meta)
    text = {"type": "ContentEvent", "contentType": "text/plain", "message": button["title"]}
    client.ok("ms.PublishEvent", body | {"event": text}, metadata=answer_meta)

    done = client.conversation_change(
        lambda c: c["result"]["conversationDetails"]["stage"] == "CLOSE"
    )
    dialogs = done["result"]["conversationDetails"]["dialogs"]
    assert dialogs[1]["closedBy"] == "AGENT"
    assert dialogs[1]["closedCause"] == "Completed"
    assert done["result"]["conversationDetails"]["endTs"] > 0
    record = sandbox.conversation(cid)
    assert [d.dialog_type for d in record.dialogs] == ["MAIN", "POST_SURVEY"]
    answers = [
        e for e in record.events if e.dialog_id == survey["dialogId"] and e.role == "CONSUMER"
    ]
    assert [e.metadata[0]["type"] for e in answers] == ["Answer", "Answer"]


def test_stage_close_skips_the_survey(
    sandbox: Sandbox, consumer_factory: Callable[..., Consumer]
) -> None:
    client = consumer_factory(headers={"Client-Properties": MULTI})
    client.subscribe_conversations()
    cid = client.request_conversation()
    _assigned(client)
    stage = {"field": "Stage", "conversationState": "CLOSE"}
    client.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": stage})
    record = sandbox.conversation(cid)
    assert (record.state, record.stage, len(record.dialogs)) == ("CLOSE", "CLOSE", 1)


def test_agent_close_with_survey_then_the_consumer_skips_it(
    sandbox: Sandbox, consumer_factory: Callable[..., Consumer]
) -> None:
    client = consumer_factory(headers={"Client-Properties": MULTI})
    client.subscribe_conversations()
    cid = client.request_conversation()
    _assigned(client)
    sandbox.agents.close(cid, survey=True)
    change = client.conversation_change(
        lambda c: len(c["result"]["conversationDetails"]["dialogs"]) == 2
    )
    survey_id = change["result"]["conversationDetails"]["dialogs"][1]["dialogId"]
    assert change["result"]["conversationDetails"]["closeReason"] == "AGENT"
    # a new conversation cannot start while the survey keeps the stage open
    assert client.request("cm.ConsumerRequestConversation")["code"] == 400
    # the consumer may skip the survey by closing its dialog
    field = {
        "field": "DialogChange",
        "type": "UPDATE",
        "dialog": {"dialogId": survey_id, "state": "CLOSE"},
    }
    client.ok("cm.UpdateConversationField", {"conversationId": cid, "conversationField": field})
    assert sandbox.conversation(cid).stage == "CLOSE"
