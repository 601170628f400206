"""Every hook, each driven over real sockets against the sandbox (one test_hook_<name> each)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import lpbot
from lpbot.client import ConnectionState
from lpbot.errors import PluginError
from lpbot.protocol.events import AcceptStatusEvent, ChatStateEvent, ContentEvent, RichContentEvent
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import ConversationChange, ConversationDetails, Participant
from lpbot.runtime.scheduler import JobInfo, JobRun
from lpbot.runtime.tracking import conversation_hooks
from lpbot.sandbox import Sandbox

from .conftest import MakeHarness


def conversation_of(call: object) -> str:
    return call["conversation"].id  # type: ignore[index,no-any-return]


def test_hook_lpbot_configure(make_harness: MakeHarness) -> None:
    config = {"plugins": {"lpbot_fixture_configurable": {"greeting": "hello"}}}
    with make_harness(plugins=["lpbot_fixture_configurable"], config=config) as harness:
        from lpbot_fixture_configurable import GREETING

        assert harness.bot.stash[GREETING] == "hello"


def test_hook_lpbot_configure_refusal_names_the_plugin_and_key(make_harness: MakeHarness) -> None:
    config = {"plugins": {"lpbot_fixture_configurable": {"greting": "hello"}}}
    with pytest.raises(PluginError) as caught, \
            make_harness(plugins=["lpbot_fixture_configurable"], config=config):
        pass
    message = str(caught.value)
    assert message.startswith("plugin 'lpbot_fixture_configurable' in lpbot_configure")
    assert "plugins.lpbot_fixture_configurable.greting: unknown option" in message


def test_hook_lpbot_schedule_jobs(make_harness: MakeHarness, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = {"plugins": {"lpbot_fixture_scheduling": {"job_id": "from-plugin",
                                                       "path": str(marker)}}}
    with make_harness(plugins=["lpbot_fixture_scheduling"], config=config) as harness:
        harness.events.wait_for("lpbot_job_ran", lambda c: c["run"].job_id == "from-plugin")
        assert marker.read_text() == "from-plugin\n"


def test_hook_lpbot_startup(make_harness: MakeHarness) -> None:
    with make_harness() as harness:
        names = harness.events.names()
        assert names.count("lpbot_startup") == 1
        # startup comes after the consumers connected and the scheduler was set up
        assert names.index("lpbot_schedule_jobs") < names.index("lpbot_startup")
        assert harness.bot.client().state == ConnectionState.CONNECTED


def test_hook_lpbot_shutdown(make_harness: MakeHarness) -> None:
    seen: list[tuple[bool, bool]] = []

    class Closing:
        @lpbot.hookimpl
        def lpbot_shutdown(self, bot: lpbot.Bot) -> None:
            # the scheduler has stopped, the connection is still open
            assert bot.scheduler is not None
            seen.append((bot.scheduler.running, bot.client().state == ConnectionState.CONNECTED))

    with make_harness(plugins=[Closing()]) as harness:
        assert seen == []
    assert seen == [(False, True)]
    assert harness.events.names()[-1] == "lpbot_shutdown"


def test_hook_lpbot_connection_state_changed(make_harness: MakeHarness,
                                             lp_sandbox: Sandbox) -> None:
    with make_harness() as harness:
        def states() -> list[ConnectionState]:
            return [call["change"].state
                    for call in harness.events.calls("lpbot_connection_state_changed")]

        assert states()[:2] == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
        assert all(call["consumer"] == "default"
                   for call in harness.events.calls("lpbot_connection_state_changed"))
        lp_sandbox.faults.drop_all(code=1006)
        harness.events.wait_for("lpbot_connection_state_changed",
                                lambda c: c["change"].state == ConnectionState.CONNECTED, count=2)
        after = states()[2:]
        assert ConnectionState.DISCONNECTED in after
        assert after[-1] == ConnectionState.CONNECTED
        disconnected = next(call["change"] for call in
                            harness.events.calls("lpbot_connection_state_changed")
                            if call["change"].state == ConnectionState.DISCONNECTED)
        assert disconnected.reason


def test_hook_lpbot_conversation_opened(make_harness: MakeHarness) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        calls = harness.events.wait_for("lpbot_conversation_opened")
        assert [conversation_of(c) for c in calls] == [conversation.id]
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        assert len(harness.events.calls("lpbot_conversation_opened")) == 1


def test_hook_lpbot_conversation_changed(make_harness: MakeHarness) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_conversation_changed",
                                lambda c: c["current"].assigned_agent_id is not None)
        calls = harness.events.calls("lpbot_conversation_changed")
        assert calls[0]["previous"] is None
        assert all(conversation_of(c) == conversation.id for c in calls)
        for earlier, later in itertools.pairwise(calls):
            assert later["previous"] == earlier["current"]
        opened_at = harness.events.names().index("lpbot_conversation_opened")
        assert harness.events.names().index("lpbot_conversation_changed") == opened_at + 1


def test_hook_lpbot_participant_joined(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        call = harness.events.wait_for(
            "lpbot_participant_joined", lambda c: c["participant"].role == Role.ASSIGNED_AGENT)[0]
        assert call["participant"].id == lp_sandbox.conversation(conversation.id).assigned_agent_id
        consumer = harness.events.calls("lpbot_participant_joined",
                                        lambda c: c["participant"].role == Role.CONSUMER)
        assert [c["participant"].id for c in consumer] == [harness.bot.client().consumer_id]


def test_hook_lpbot_participant_left() -> None:
    # The sandbox cannot transfer a conversation yet, so the change is built here and put
    # through the same function the bot uses for every conversation notification.
    agent = Participant(id="agent-1", role=Role.ASSIGNED_AGENT)
    consumer = Participant(id="consumer-1", role=Role.CONSUMER)
    other = Participant(id="agent-2", role=Role.ASSIGNED_AGENT)
    before = ConversationDetails(conversation_id="c", participants=(consumer, agent),
                                 state="OPEN")
    after = ConversationDetails(conversation_id="c", participants=(consumer, other),
                                state="OPEN")
    calls = conversation_hooks(before, ConversationChange(change_type="UPSERT",
                                                          conversation_id="c", details=after))
    assert [name for name, _ in calls] == [
        "lpbot_conversation_changed", "lpbot_participant_joined", "lpbot_participant_left"]
    assert calls[1][1]["participant"] == other
    assert calls[2][1]["participant"] == agent


def test_hook_lpbot_ttr_changed(make_harness: MakeHarness) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        first = harness.events.wait_for("lpbot_ttr_changed")[0]
        assert first["previous"] is None
        conversation.set_ttr("URGENT", 300)
        call = harness.events.wait_for("lpbot_ttr_changed", count=2)[1]
        assert (call["ttr"].ttr_type, call["ttr"].value) == ("URGENT", 300)
        assert call["previous"] == first["ttr"]


def test_hook_lpbot_conversation_closed(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    with make_harness() as harness:
        by_agent = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        lp_sandbox.agents.close(by_agent.id)
        closed = harness.events.wait_for("lpbot_conversation_closed")[0]
        assert (conversation_of(closed), closed["closed_by"]) == (by_agent.id, "AGENT")
        by_consumer = harness.open_conversation()
        assert by_consumer.id != by_agent.id
        by_consumer.close()
        closed = harness.events.wait_for("lpbot_conversation_closed", count=2)[1]
        assert (conversation_of(closed), closed["closed_by"]) == (by_consumer.id, "CONSUMER")
        names = [c.name for c in harness.events.calls()
                 if "conversation" in c.kwargs and conversation_of(c) == by_agent.id]
        assert names[-1] == "lpbot_conversation_closed"


def test_hook_lpbot_message_received(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        mine = conversation.send_text("where is my parcel?")
        rich = lp_sandbox.agents.say_rich(conversation.id, {"type": "vertical", "elements": []})
        harness.events.wait_for("lpbot_message_received",
                                lambda c: c["message"].sequence == rich)
        messages = [c["message"] for c in harness.events.calls("lpbot_message_received")]
        sequences = [m.sequence for m in messages]
        assert sequences == sorted(sequences)
        consumer = next(m for m in messages if m.sequence == mine)
        assert consumer.role == Role.CONSUMER
        assert isinstance(consumer.event, ContentEvent)
        assert consumer.event.text == "where is my parcel?"
        card = next(m for m in messages if m.sequence == rich)
        assert isinstance(card.event, RichContentEvent)
        assert card.role == Role.ASSIGNED_AGENT


def test_hook_lpbot_accept_status_received(make_harness: MakeHarness) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        sent = conversation.send_text("hello")
        calls = harness.events.wait_for(
            "lpbot_accept_status_received",
            lambda c: sent in c["message"].event.sequence_list and c["message"].event.status
            == "READ")
        receipt = calls[0]["message"]
        assert isinstance(receipt.event, AcceptStatusEvent)
        assert receipt.role == Role.ASSIGNED_AGENT


def test_hook_lpbot_chat_state_received(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    with make_harness() as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        lp_sandbox.agents.typing(conversation.id, "COMPOSING")
        call = harness.events.wait_for(
            "lpbot_chat_state_received", lambda c: c["message"].event.chat_state == "COMPOSING")[0]
        assert isinstance(call["message"].event, ChatStateEvent)
        assert call["message"].sequence is None


def _job(job_id: str, ref: str, **fields: object) -> dict[str, object]:
    return {"id": job_id, "kind": "call", "ref": ref, **fields}


def test_hook_lpbot_job_added(make_harness: MakeHarness, tmp_path: Path) -> None:
    jobs = [_job("hourly", "lpbot_fixture_jobs:record", every=3600,
                 args={"path": str(tmp_path / "x"), "value": "x"})]
    with make_harness(config={"jobs": jobs}) as harness:
        call = harness.events.wait_for("lpbot_job_added")[0]
        job = call["job"]
        assert isinstance(job, JobInfo)
        assert (job.job_id, job.func_ref) == ("hourly", "lpbot_fixture_jobs:record")
        assert job.kwargs == {"path": str(tmp_path / "x"), "value": "x"}
        assert job.next_run_time is not None


def test_hook_lpbot_job_ran(make_harness: MakeHarness, tmp_path: Path) -> None:
    jobs = [_job("soon", "lpbot_fixture_jobs:record", every=3600, start_now=True,
                 args={"path": str(tmp_path / "ran"), "value": "done"})]
    with make_harness(config={"jobs": jobs}) as harness:
        run = harness.events.wait_for("lpbot_job_ran")[0]["run"]
        assert isinstance(run, JobRun)
        assert run.job_id == "soon"
        assert (tmp_path / "ran").read_text() == "done\n"


def test_hook_lpbot_job_missed(make_harness: MakeHarness, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    due = datetime.now(UTC) - timedelta(minutes=10)
    jobs = [_job("late", "lpbot_fixture_jobs:record", at=due.isoformat(), misfire_grace_time=1,
                 args={"path": str(tmp_path / "never"), "value": "x"})]
    with make_harness(config={"jobs": jobs}) as harness:
        run = harness.events.wait_for("lpbot_job_missed")[0]["run"]
        assert run.job_id == "late"
        assert not (tmp_path / "never").exists()
        assert harness.bot.counters.value("jobs", "missed") == 1
    assert any("job late missed its run" in r.getMessage() for r in caplog.records)


def test_hook_lpbot_job_failed(make_harness: MakeHarness) -> None:
    jobs = [_job("broken", "lpbot_fixture_jobs:fail", every=3600, start_now=True,
                 args={"message": "printer on fire"})]
    with make_harness(config={"jobs": jobs}) as harness:
        run = harness.events.wait_for("lpbot_job_failed")[0]["run"]
        assert isinstance(run.exception, RuntimeError)
        assert "printer on fire" in str(run.exception)


def test_hook_lpbot_csat_score(make_harness: MakeHarness, lp_sandbox: Sandbox) -> None:
    class Three:
        @lpbot.hookimpl
        def lpbot_csat_score(self, conversation: lpbot.Conversation) -> int:
            return 3

    jobs = [{"id": "synthetic", "kind": "synthetic_conversation", "every": 3600,
             "start_now": True, "args": {"messages": ["hi"], "csat": 5, "reply_timeout": 5}}]
    with make_harness(plugins=[Three()], config={"jobs": jobs}) as harness:
        harness.events.wait_for("lpbot_job_ran", timeout=10)
        closed = harness.events.calls("lpbot_conversation_closed")[0]
        record = lp_sandbox.conversation(conversation_of(closed))
        assert record.csat is not None
        assert (record.csat["csatRate"], record.csat["csatResolutionConfirmation"]) == (3, True)
