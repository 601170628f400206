"""End to end in headless chromium: a person plays the agent in the console, a bot is the consumer.

The getting-started tutorial's agent steps, with the sandbox's console instead of the Agent
Workspace: the conversation rings, the person accepts it, reads the bot's hello, answers (the
bot's client gets an ASSIGNED_AGENT message), sees the bot's read receipt and typing state,
changes TTR and closes; the bot sees the close and rates, and the page shows the CSAT.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error, Page, expect

from lpbot.client import Client, ClientOptions
from lpbot.protocol.names import ConversationState, Role
from lpbot.sandbox import AgentOptions, Sandbox

from .conftest import Bot, text_of

#: nobody accepts on their own: the conversation waits (rings) for the person
WAITING_AGENTS = AgentOptions(accept_delay=None, typing=False)


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    return {"agents": WAITING_AGENTS}


def test_person_accepts_answers_and_closes_a_bots_conversation(
    lp_sandbox: Sandbox,
    bot_client: tuple[Client, Bot],
    page: Page,
    output_dir: Path,
    tmp_path: Path,
) -> None:
    client, bot = bot_client
    script_errors: list[Error] = []
    page.on("pageerror", lambda error: script_errors.append(error))
    page.goto(f"{lp_sandbox.http_url}/console")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    conversation = client.open_conversation()
    conversation.send_text("Hello from the bot")

    # it rings in Waiting; the person opens it and reads the hello before accepting
    item = page.locator(f'#list-waiting li[data-conversation-id="{conversation.id}"]')
    expect(item).to_have_class(re.compile(r"\bringing\b"))
    item.click()
    transcript = page.locator("#transcript")
    expect(transcript.locator('li[data-role="CONSUMER"] .bubble')).to_have_text(
        ["Hello from the bot"]
    )
    expect(page.locator("#message")).to_be_disabled()

    page.locator("#accept").click()
    expect(page.locator(f'#list-mine li[data-conversation-id="{conversation.id}"]')).to_be_visible()
    expect(page.locator("#message")).to_be_enabled()

    # another consumer writes in meanwhile: its conversation rings while the person is busy
    with Client(ClientOptions(account=lp_sandbox.account, csds_domain=lp_sandbox.csds_domain,
                              tls=False), state_dir=tmp_path / "second") as second:
        second.connect(timeout=10)
        other = second.open_conversation()
        other.send_text("Is anybody there?")
    ringing = page.locator(f'#list-waiting li[data-conversation-id="{other.id}"]')
    expect(ringing).to_have_class(re.compile(r"\bringing\b"))
    expect(ringing.locator(".preview")).to_have_text("Is anybody there?")

    # what the person types reaches the bot as the assigned agent's message
    page.locator("#message").fill("Hi! A real person here. How can I help?")
    page.locator("#message").press("Enter")
    reply = bot.wait_for_message(
        lambda m: m.role == Role.ASSIGNED_AGENT and text_of(m) is not None, "the person's reply"
    )
    assert text_of(reply) == "Hi! A real person here. How can I help?"
    assert reply.originator_id == lp_sandbox.console.agent_id
    assert lp_sandbox.conversation(conversation.id).assigned_agent_id == reply.originator_id
    assert reply.sequence is not None

    # the console marked the hello READ; the bot's own receipt and typing show on the page
    bot.wait_for_message(
        lambda m: m.role == Role.ASSIGNED_AGENT and getattr(m.event, "status", None) == "READ",
        "the person's read receipt",
    )
    conversation.mark_read([reply.sequence])
    expect(transcript.locator('li[data-role="ASSIGNED_AGENT"] .receipt')).to_have_attribute(
        "data-receipt", "READ"
    )
    conversation.set_chat_state("COMPOSING")
    expect(page.locator("#typing")).to_be_visible()
    conversation.send_text("Thanks, that is all")
    expect(page.locator("#typing")).to_be_hidden()
    expect(transcript.locator('li[data-role="CONSUMER"] .bubble')).to_have_text(
        ["Hello from the bot", "Thanks, that is all"]
    )

    # TTR from the page reaches the bot's conversation metadata
    page.locator("#ttr-type").select_option("URGENT")
    page.locator("#ttr-value").fill("120")
    page.locator("#ttr-form button").click()
    bot.wait_for_change(
        lambda c: c.details is not None
        and c.details.ttr is not None
        and c.details.ttr.ttr_type == "URGENT"
        and c.details.ttr.value == 120,
        "TTR URGENT 120",
    )

    # the person closes; the bot sees CLOSE, rates, and the page shows the CSAT
    page.locator("#close").click()
    closed = bot.wait_for_change(
        lambda c: c.conversation_id == conversation.id
        and c.details is not None
        and c.details.state == ConversationState.CLOSE,
        "the conversation closed",
    )
    assert closed.details is not None
    assert closed.details.close_reason == "AGENT"
    expect(transcript.locator("li[data-closed]")).to_be_visible()
    expect(page.locator("#message")).to_be_disabled()
    conversation.rate(5, resolved=True)
    expect(page.locator("#csat .stars")).to_have_attribute("data-rate", "5")
    closed_item = page.locator(f'#list-closed li[data-conversation-id="{conversation.id}"]')
    expect(closed_item).to_be_visible()

    page.screenshot(path=str(output_dir / "console.png"))
    assert script_errors == []
