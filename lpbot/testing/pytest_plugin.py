"""pytest plugin (entry point ``pytest11``) giving any project lpbot's fixtures.

``lp_sandbox`` is a started :class:`~lpbot.sandbox.Sandbox` on 127.0.0.1 with ephemeral ports and
quick agents; it is stopped, and its threads joined, after the test. Override the fixture
``lp_sandbox_options`` (a dict of ``Sandbox`` keyword arguments) to configure it.

``bot`` is a started :class:`~lpbot.testing.BotHarness` on ``lp_sandbox``: a real Bot with the
plugins that the test module lists in ``lpbot_plugins = ["mypackage.myplugin"]`` and the config
tables of ``lpbot_config = {"plugins": {"myplugin": {...}}}``. After the test it is stopped,
and the harness checks that no ``lpbot-`` thread was left behind.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpbot.sandbox import Sandbox
from lpbot.testing import FAST_AGENTS, BotHarness

__all__ = ["bot", "lp_sandbox", "lp_sandbox_options", "needs_tgkill"]

#: skip a test that signals one thread of another process (harness.signal_another_thread)
#: where Linux's tgkill and /proc are missing
needs_tgkill = pytest.mark.skipif(
    sys.platform != "linux", reason="signals one thread of another process with Linux's tgkill")


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``lp_sandbox`` fixture's Sandbox; override to change them."""
    return {"agents": FAST_AGENTS}


@pytest.fixture
def lp_sandbox(lp_sandbox_options: dict[str, Any]) -> Iterator[Sandbox]:
    """A started sandbox on 127.0.0.1, ephemeral ports; stopped and joined after the test."""
    options = {"host": "127.0.0.1", "port": 0, "ws_port": 0, **lp_sandbox_options}
    with Sandbox(**options) as sandbox:
        yield sandbox


@pytest.fixture
def bot(
    lp_sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[BotHarness]:
    """A started bot on ``lp_sandbox`` with the module's ``lpbot_plugins`` and ``lpbot_config``.

    ``bot.bot`` is the :class:`~lpbot.Bot`, ``bot.events`` records every hook call, and
    ``bot.open_conversation()`` opens one. Stopped after the test, with no thread left behind.
    """
    plugins = getattr(request.module, "lpbot_plugins", ())
    config = getattr(request.module, "lpbot_config", None)
    with BotHarness(lp_sandbox, state_dir=tmp_path / "lpbot-state", plugins=plugins,
                    config=config) as harness:
        yield harness
