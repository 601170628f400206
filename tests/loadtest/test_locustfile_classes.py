"""A locustfile of ``scenario_user`` classes, with Locust's own wait times, run headless."""

from __future__ import annotations

from pathlib import Path

from lpbot.sandbox import Sandbox

from .conftest import HEADLESS, QUICK, finish, host_of, locust, logs, stats

LOCUSTFILE = """
from locust import between

from lpbot.loadtest import scenario_user

Quick = scenario_user("quick.toml", wait_time=between(0.05, 0.1), runs_per_consumer=1)
"""


def test_scenario_user_classes_with_a_wait_time_run_again_and_again(
        lp_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "quick.toml").write_text(QUICK, encoding="utf-8")
    (tmp_path / "mine.py").write_text(LOCUSTFILE, encoding="utf-8")
    process = locust("-f", "mine.py", *HEADLESS, "-u", "2", "-r", "2", "-t", "3s",
                     "--host", host_of(lp_sandbox), "--json-file", "out", cwd=tmp_path)
    assert finish(process, tmp_path) == 0, logs(tmp_path)
    assert "Traceback" not in logs(tmp_path)
    rows = stats(tmp_path / "out")
    # each run is a new consumer (runs_per_consumer=1): several per user means the wait_time
    # between runs worked
    assert rows["quick/connect"].requests > 2, logs(tmp_path)


def test_lpbot_options_come_from_locust_environment_variables(
        lp_sandbox: Sandbox, tmp_path: Path) -> None:
    from lpbot.loadtest import LOCUSTFILE as LPBOT_LOCUSTFILE

    (tmp_path / "quick.toml").write_text(QUICK, encoding="utf-8")
    environment = {"LOCUST_LPBOT_SCENARIOS": "quick.toml"}
    process = locust("-f", str(LPBOT_LOCUSTFILE), *HEADLESS, "-u", "1", "-r", "1", "-t", "2s",
                     "--host", host_of(lp_sandbox), "--json-file", "out", cwd=tmp_path,
                     env=environment)
    assert finish(process, tmp_path) == 0, logs(tmp_path)
    assert stats(tmp_path / "out")["quick/connect"].requests == 1
