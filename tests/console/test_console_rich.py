"""Quick replies and cards in the console: drawn as a consumer sees them, and sent by the
person (in headless chromium, with a consumer bot on lpbot's client), plus the API's checks."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from playwright.sync_api import Error, Page, expect

from lpbot.client import Client
from lpbot.protocol.events import ContentEvent, RichContentEvent
from lpbot.protocol.names import Role
from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.synthetic.content import received

from .conftest import Bot

WAITING_AGENTS = AgentOptions(accept_delay=None, typing=False)


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    return {"agents": WAITING_AGENTS}


def post(sandbox: Sandbox, cid: str, action: str, body: Any) -> tuple[int, Any]:
    url = f"{sandbox.http_url}/console/api/conversations/{cid}/{action}"
    with requests.post(url, json=body, timeout=5) as response:
        return response.status_code, response.json()


def test_the_person_sends_quick_replies_and_a_card_and_sees_them_drawn(
        lp_sandbox: Sandbox, bot_client: tuple[Client, Bot], page: Page) -> None:
    client, bot = bot_client
    errors: list[Error] = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{lp_sandbox.http_url}/console")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    conversation = client.open_conversation()
    conversation.send_rich_content({"type": "vertical", "elements": [
        {"type": "text", "text": "From the consumer", "style": {"bold": True}},
        {"type": "button", "title": "Pressed"}]})
    page.locator(f'#list-waiting li[data-conversation-id="{conversation.id}"]').click()
    page.locator("#accept").click()
    expect(page.locator("#quick-replies")).to_be_enabled()

    page.locator("#message").fill("Which size?")
    page.locator("#quick-replies").fill("Small | Large")
    page.locator("#send").click()
    asked = bot.wait_for_message(lambda m: m.role == Role.ASSIGNED_AGENT and isinstance(
        m.event, ContentEvent) and m.event.quick_replies is not None, "the quick replies")
    message = received(asked, time.time())
    assert message is not None
    assert message.text == "Which size?"
    assert [(b.title, b.text) for b in message.quick_replies] == [
        ("Small", "Small"), ("Large", "Large")]
    assert all(b.metadata[0]["type"] == "ExternalId" for b in message.quick_replies)

    page.locator(".card-composer summary").click()
    page.locator("#card-title").fill("Margherita")
    page.locator("#card-text").fill("Tomato and mozzarella")
    page.locator("#card-image").fill("https://example.com/m.png")
    page.locator("#card-buttons").fill("Order | Details")
    page.locator("#send-card").click()
    card = bot.wait_for_message(lambda m: m.role == Role.ASSIGNED_AGENT and isinstance(
        m.event, RichContentEvent), "the card")
    drawn = received(card, time.time())
    assert drawn is not None
    assert drawn.types == ("vertical", "image", "text", "text", "button", "button")
    assert drawn.titles == ("Margherita", "Tomato and mozzarella")
    assert [b.title for b in drawn.buttons] == ["Order", "Details"]

    agent = page.locator('#transcript li[data-role="ASSIGNED_AGENT"]')
    expect(agent.first.locator('[data-sc="quick-reply"]')).to_have_text(["Small", "Large"])
    expect(agent.last.locator('.sc-bold')).to_have_text("Margherita")
    expect(agent.last.locator('[data-sc="button"]')).to_have_text(["Order", "Details"])
    expect(agent.last.locator('img[data-sc="image"]')).to_have_attribute(
        "src", "https://example.com/m.png")
    consumer = page.locator('#transcript li[data-role="CONSUMER"]')
    expect(consumer.locator('.sc-bold')).to_have_text("From the consumer")
    expect(consumer.locator('[data-sc="button"]')).to_have_text("Pressed")
    assert errors == []


@pytest.mark.parametrize(("action", "body", "error"), [
    ("messages", {"text": "x", "quickReplies": "Yes"}, "quickReplies must be a list"),
    ("messages", {"text": "x", "quickReplies": [""]}, "quickReplies must be a list"),
    ("card", {}, "a card needs a title, a text, an image or buttons"),
    ("card", {"image": "javascript:alert(1)"}, "image must be an http(s) URL"),
    ("card", {"buttons": ["x" * 129]}, "buttons must be a list"),
])
def test_the_api_refuses_bad_quick_replies_and_cards(
        lp_sandbox: Sandbox, bot_client: tuple[Client, Bot], action: str, body: Any,
        error: str) -> None:
    client, _ = bot_client
    conversation = client.open_conversation()
    assert post(lp_sandbox, conversation.id, "accept", {})[0] == 200
    status, answer = post(lp_sandbox, conversation.id, action, body)
    assert status == 400
    assert answer["error"].startswith(error)
