"""The README's "Writing a plugin" example, run against the sandbox.

The example is tests/plugins/fixtures/lpbot_fixture_thanks.py; test_meta checks that the README
shows exactly that file.
"""

from __future__ import annotations

from lpbot.protocol.names import Role
from lpbot.sandbox import Sandbox

from .conftest import MakeHarness, wait_for


def test_the_thanks_plugin_thanks_the_agent_once(
    make_harness: MakeHarness, lp_sandbox: Sandbox
) -> None:
    config = {"plugins": {"lpbot_fixture_thanks": {"text": "Cheers!"}}}
    with make_harness(plugins=["lpbot_fixture_thanks"], config=config) as harness:
        conversation = harness.open_conversation()

        def consumer_texts() -> list[str]:
            return lp_sandbox.conversation(conversation.id).texts(Role.CONSUMER.value)

        wait_for(lambda: consumer_texts() == ["Cheers!"], what="the thanks after the greeting")
        # the echo agent repeats "Cheers!" and says more: still only one thanks
        last = lp_sandbox.agents.say(conversation.id, "anything else?")
        harness.events.wait_for("lpbot_message_received",
                                lambda c: c["message"].sequence == last)
    # stopping drained every queued hook call, so a second thanks would be there by now
    assert consumer_texts() == ["Cheers!"]
