"""A plugin that raises in every hook: the bot keeps serving and the others see everything."""

from __future__ import annotations

import threading

import pytest

import lpbot
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import MessagingEvent
from lpbot.runtime.counters import HOOK_ERRORS
from lpbot.sandbox import Sandbox

from .conftest import MakeHarness, wait_for

RAISING = "lpbot_fixture_raising"


class Observer:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.hooks: set[str] = set()
        self.lock = threading.Lock()

    @lpbot.hookimpl(trylast=True)  # after the raising plugin's implementation
    def lpbot_message_received(self, message: MessagingEvent) -> None:
        with self.lock:
            self.hooks.add("lpbot_message_received")
            if message.role == Role.ASSIGNED_AGENT and message.event.text:  # type: ignore[union-attr]
                self.texts.append(message.event.text)  # type: ignore[union-attr]

    @lpbot.hookimpl(trylast=True)
    def lpbot_conversation_opened(self) -> None:
        with self.lock:
            self.hooks.add("lpbot_conversation_opened")

    @lpbot.hookimpl(trylast=True)
    def lpbot_accept_status_received(self) -> None:
        with self.lock:
            self.hooks.add("lpbot_accept_status_received")

    @lpbot.hookimpl(trylast=True)
    def lpbot_conversation_closed(self) -> None:
        with self.lock:
            self.hooks.add("lpbot_conversation_closed")


def test_a_plugin_raising_everywhere_does_not_stop_the_bot_or_the_others(
    make_harness: MakeHarness, lp_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    observer = Observer()
    with make_harness(plugins=[RAISING, observer]) as harness:
        conversation = harness.open_conversation()
        harness.events.wait_for("lpbot_participant_joined",
                                lambda c: c["participant"].role == Role.ASSIGNED_AGENT)
        burst = lp_sandbox.agents.burst(conversation.id, 30, prefix="update")
        wait_for(lambda: len([t for t in observer.texts if t.startswith("update")]) == 30,
                 what="the observer to see all 30 messages")
        assert [t for t in observer.texts if t.startswith("update")] == [
            f"update {n}" for n in range(30)]
        # still serving: a later message gets through too, and the consumer can still send
        conversation.send_text("still there?")
        lp_sandbox.agents.say(conversation.id, "yes")
        wait_for(lambda: "yes" in observer.texts, what="a message after all those errors")
        conversation.close()
        wait_for(lambda: "lpbot_conversation_closed" in observer.hooks, what="the close")
        errors = harness.bot.counters.series(HOOK_ERRORS)
        assert errors[(RAISING, "lpbot_message_received")] >= len(burst) + 1
        for hook in ("lpbot_conversation_opened", "lpbot_conversation_changed",
                     "lpbot_participant_joined", "lpbot_accept_status_received",
                     "lpbot_conversation_closed", "lpbot_connection_state_changed"):
            assert errors[(RAISING, hook)] >= 1, hook
        assert observer.hooks == {"lpbot_message_received", "lpbot_conversation_opened",
                                  "lpbot_accept_status_received", "lpbot_conversation_closed"}
    # lpbot_shutdown raised too, and the harness still found a clean stop and no thread left
    assert harness.bot.counters.value(HOOK_ERRORS, RAISING, "lpbot_shutdown") == 1
    failures = [r for r in caplog.records if f"plugin {RAISING!r} failed in" in r.getMessage()]
    assert failures
    assert all(r.exc_info is not None for r in failures)
    assert any("hook errors" in r.getMessage() and RAISING in r.getMessage()
               for r in caplog.records)
