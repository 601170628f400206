"""Fixtures of the client's tests: a quiet sandbox and a factory of clients closed after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lpbot.client import Client, ClientOptions
from lpbot.sandbox import Sandbox

from .support import FAST_BACKOFF, QUIET_AGENTS, Recorder, client_threads


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    return {"agents": QUIET_AGENTS}


@pytest.fixture
def sandbox(lp_sandbox: Sandbox) -> Sandbox:
    return lp_sandbox


@pytest.fixture
def make_client(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[..., tuple[Client,
                                                                                  Recorder]]]:
    """Build connected-ready clients against ``sandbox``; all closed after the test."""
    made: list[Client] = []

    def factory(state_dir: Path | None = None, **options: Any) -> tuple[Client, Recorder]:
        recorder = Recorder()
        settings = {"account": sandbox.account, "csds_domain": sandbox.csds_domain,
                    "tls": sandbox.tls, "ca_file": sandbox.ca_file, "backoff": FAST_BACKOFF,
                    "request_timeout": 5.0, **options}
        client = Client(ClientOptions(**settings), state_dir=state_dir or tmp_path / "state",
                        on_message=recorder.on_message, on_state=recorder.on_state,
                        on_conversation=recorder.on_conversation)
        made.append(client)
        return client, recorder

    yield factory
    for client in made:
        client.close()
    assert client_threads() == []


