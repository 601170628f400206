"""Headless Locust against a sandbox whose agents never answer: failures carry the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lpbot.loadtest import LOCUSTFILE
from lpbot.sandbox import Sandbox
from lpbot.testing import AgentOptions

from .conftest import HEADLESS, UNANSWERED, failures, finish, host_of, locust, logs, stats


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    """Agents accept at once and never answer."""
    return {"agents": AgentOptions(mode="silent", accept_delay=0.01)}


def test_a_silent_agent_shows_as_failures_with_the_step_message(
        lp_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "unanswered.toml").write_text(UNANSWERED, encoding="utf-8")
    process = locust("-f", str(LOCUSTFILE), *HEADLESS, "-u", "5", "-r", "5", "-t", "3s",
                     "--host", host_of(lp_sandbox), "--lpbot-scenarios", "unanswered.toml",
                     "--csv", "out", "--json-file", "out", cwd=tmp_path)
    assert finish(process, tmp_path) == 1, logs(tmp_path)  # Locust's code for failures
    rows = stats(tmp_path / "out")
    step = "unanswered/steps[3] expect_message (the agent answers)"
    assert rows[step].failures == rows[step].requests > 0
    assert rows["unanswered/steps[1] expect_participant"].failures == 0
    assert rows["unanswered/steps[1] expect_participant"].requests > 0
    [failure] = failures(tmp_path / "out")
    assert failure["Name"] == step
    assert failure["Error"] == ("no agent message containing 'anybody' within 0.5 s "
                                "(agent messages received meanwhile: none)")
