"""Helpers for the runtime's tests: fixture plugins on sys.path, waits, a bot on the sandbox."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import BotHarness

FIXTURES = Path(__file__).resolve().parent.parent / "plugins" / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


def wait_for(
    predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Wait until ``predicate`` is true; fail naming ``what`` after ``timeout`` seconds."""
    wait_until(predicate, timeout, what)


# --- a bot on the sandbox ------------------------------------------------------------------

MakeHarness = Callable[..., Any]


@pytest.fixture
def make_harness(lp_sandbox: Sandbox, tmp_path: Path) -> MakeHarness:
    """Build a started BotHarness on ``lp_sandbox``: ``with make_harness(plugins=[...]) as h``."""

    @contextmanager
    def make(plugins: Sequence[object] = (), config: dict[str, Any] | None = None,
             consumers: Sequence[str] = ("default",)) -> Iterator[BotHarness]:
        with BotHarness(lp_sandbox, state_dir=tmp_path / "state", plugins=plugins,
                        config=config, consumers=consumers) as harness:
            yield harness

    return make
