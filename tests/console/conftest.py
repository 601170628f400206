"""Fixtures of the console's tests: headless chromium driven by Playwright, and a recording bot.

The browser is Debian's ``chromium`` (Playwright's own browser download is not used); set
``LPBOT_CHROMIUM`` to point at another chromium binary.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from lpbot.client import Client, ClientOptions
from lpbot.protocol.notifications import ConversationChange, MessagingEvent
from lpbot.sandbox import Sandbox

T = TypeVar("T")

CHROMIUM = os.environ.get("LPBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless chromium for the whole run."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (own context) with a screenshot-friendly viewport."""
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def output_dir(request: pytest.FixtureRequest) -> Path:
    """The test run's output folder (``test-output/`` at the repository root, gitignored)."""
    path = Path(request.config.rootpath) / "test-output"
    path.mkdir(exist_ok=True)
    return path


class Bot:
    """A consumer bot on lpbot's client that records what its callbacks get (reader thread)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.messages: list[MessagingEvent] = []
        self.conversation_changes: list[ConversationChange] = []

    def on_message(self, event: MessagingEvent) -> None:
        with self._changed:
            self.messages.append(event)
            self._changed.notify_all()

    def on_conversation(self, change: ConversationChange) -> None:
        with self._changed:
            self.conversation_changes.append(change)
            self._changed.notify_all()

    def wait_for(self, find: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
        """Wait (on the callbacks' condition) until ``find()`` returns something."""
        with self._changed:
            found = self._changed.wait_for(find, timeout)
        if not found:
            raise AssertionError(f"the bot did not see {what} within {timeout} s")
        return found

    def wait_for_message(
        self, predicate: Callable[[MessagingEvent], bool], what: str
    ) -> MessagingEvent:
        return self.wait_for(lambda: next((m for m in self.messages if predicate(m)), None), what)

    def wait_for_change(
        self, predicate: Callable[[ConversationChange], bool], what: str
    ) -> ConversationChange:
        return self.wait_for(
            lambda: next((c for c in self.conversation_changes if predicate(c)), None), what
        )


@pytest.fixture
def bot_client(lp_sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[Client, Bot]]:
    """A connected client of ``lp_sandbox`` with a recording :class:`Bot`; closed after."""
    bot = Bot()
    options = ClientOptions(
        account=lp_sandbox.account,
        csds_domain=lp_sandbox.csds_domain,
        tls=False,
        request_timeout=5.0,
    )
    client = Client(
        options,
        state_dir=tmp_path / "state",
        on_message=bot.on_message,
        on_conversation=bot.on_conversation,
    )
    try:
        client.connect(timeout=10)
        yield client, bot
    finally:
        client.close()


def text_of(event: MessagingEvent) -> Any:
    """The text of a text/plain content event (else None)."""
    return getattr(event.event, "text", None)
