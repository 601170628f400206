"""Headless Locust against the sandbox: lpbot scenarios as Locust users, in a child process.

The sandbox runs in the test process (the ``lp_sandbox`` fixture); Locust, which monkey-patches
its process with gevent, runs as ``python -m locust`` with ``--csv``, and the test reads what
Locust itself counted.
"""

from __future__ import annotations

from pathlib import Path

from lpbot.loadtest import LOCUSTFILE
from lpbot.loadtest.consumer import measured_names
from lpbot.sandbox import Sandbox
from lpbot.synthetic.scenario import parse_scenario

from .conftest import HEADLESS, QUICK, failures, finish, host_of, locust, logs, stats


def test_twenty_users_report_every_step_without_failure(
        lp_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "quick.toml").write_text(QUICK, encoding="utf-8")
    process = locust("-f", str(LOCUSTFILE), *HEADLESS, "-u", "20", "-r", "20", "-t", "4s",
                     "--host", host_of(lp_sandbox), "--lpbot-scenarios", "quick.toml",
                     "--csv", "out", "--json-file", "out", cwd=tmp_path)
    assert finish(process, tmp_path) == 0, logs(tmp_path)
    rows = stats(tmp_path / "out")
    expected = measured_names(parse_scenario(QUICK))
    assert sorted(rows) == sorted(expected), logs(tmp_path)
    for name in expected:
        assert rows[name].requests > 0, name
        assert rows[name].failures == 0, (name, failures(tmp_path / "out"))
    assert rows["quick/connect"].requests == 20  # one consumer per user, for the whole test
    assert rows["quick/steps[1] expect_participant (agent joined)"].kind == "expect_participant"
    assert rows["quick/first reply"].kind == "first_reply"
    conversations = lp_sandbox.conversations()
    assert len({record.consumer_id for record in conversations}) == 20
    # a user stopped during its open_conversation step made a conversation it never reported
    opened = rows["quick/steps[0] open_conversation"].requests
    assert opened <= len(conversations) <= opened + 20
    assert "Traceback" not in logs(tmp_path)


def test_a_wrong_scenario_file_stops_locust_before_any_user(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[[steps]]\nshout = {}\n", encoding="utf-8")
    process = locust("-f", str(LOCUSTFILE), *HEADLESS, "-u", "1", "-t", "30s",
                     "--host", "http://127.0.0.1:9/api/account/x/service/baseURI.json",
                     "--lpbot-scenarios", "broken.toml", cwd=tmp_path)
    assert finish(process, tmp_path) == 2
    assert "lpbot: broken.toml: steps[0].shout: unknown step 'shout'" in logs(tmp_path)
