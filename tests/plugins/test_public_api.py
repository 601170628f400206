"""What a plugin author gets from lpbot itself: enums, one stash, the ``bot`` fixture."""

from __future__ import annotations

import lpbot
import lpbot.testing
from lpbot.protocol import names
from lpbot.sandbox import Sandbox
from lpbot.testing import BotHarness

lpbot_plugins = ["lpbot_plugins.auto_responder"]
lpbot_config = {"plugins": {"auto_responder": {
    "typing": False, "read_receipt": False,
    "rules": [{"name": "hours", "keyword": "hours", "reply": "We are open 9-17."}]}}}

SEEN = lpbot.StashKey[int]()


def test_the_enums_are_public_so_plugins_need_not_compare_strings() -> None:
    for enum in ("Role", "ChatState", "ConversationState", "TTRType", "AcceptStatus"):
        assert enum in lpbot.__all__
        assert getattr(lpbot, enum) is getattr(names, enum)
    assert lpbot.Role.ASSIGNED_AGENT == "ASSIGNED_AGENT"
    assert lpbot.testing.BotHarness is BotHarness


def test_the_bot_fixture_runs_the_modules_plugins(bot: BotHarness, lp_sandbox: Sandbox) -> None:
    conversation = bot.open_conversation()
    bot.events.wait_for("lpbot_participant_joined",
                        lambda c: c["participant"].role == lpbot.Role.ASSIGNED_AGENT)
    lp_sandbox.agents.say(conversation.id, "what are your opening hours?")
    reply = lp_sandbox.wait_for_consumer_message(conversation.id)
    assert reply.text == "We are open 9-17."


def test_a_conversation_has_one_stash(bot: BotHarness) -> None:
    conversation = bot.open_conversation()
    conversation.stash[SEEN] = 1
    assert bot.bot.conversation_stash(conversation) is conversation.stash
    assert bot.bot.conversation_stash(conversation.id)[SEEN] == 1
    assert bot.bot.client().conversation(conversation.id).stash[SEEN] == 1
