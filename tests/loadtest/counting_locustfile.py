"""lpbot's ``locust -f`` target, plus this process's own count of request events, for tests.

A worker (or a local run) writes ``<pid>.json`` into ``$LPBOT_TEST_COUNTS`` when it quits:
``{"name": [requests, failures], ...}`` of every request event it fired itself, so a test can
add the workers' counts up and compare them with the master's CSV.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import MasterRunner

from lpbot.loadtest.locustfile import LpbotScenarios

__all__ = ["LpbotScenarios"]

counts: dict[str, list[int]] = {}


@events.request.add_listener
def count(name: str, exception: BaseException | None = None, **_kwargs: Any) -> None:
    entry = counts.setdefault(name, [0, 0])
    entry[0] += 1
    entry[1] += exception is not None


@events.quitting.add_listener
def write(environment: Any, **_kwargs: Any) -> None:
    folder = os.environ.get("LPBOT_TEST_COUNTS")
    if folder and not isinstance(environment.runner, MasterRunner):
        Path(folder, f"{os.getpid()}.json").write_text(json.dumps(counts), encoding="utf-8")
