"""``lpbot synth`` as a subprocess: the samples on a fresh install, reports, exit codes."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from lpbot.cli import main
from lpbot.redaction import find_jwts
from lpbot.testing.harness import signal_another_thread
from lpbot.testing.pytest_plugin import needs_tgkill

from .conftest import SCENARIOS


def synth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", *args], cwd=cwd, capture_output=True,
        text=True, timeout=60, check=False)


def test_the_passing_sample_exits_zero_with_reports(tmp_path: Path) -> None:
    done = synth(str(SCENARIOS / "order_status.toml"), "--count", "4", "--concurrency", "2",
                 "--junit", "junit.xml", "--json", "report.json", "--seed", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("order-status run ")]) == 4
    assert lines[-1].startswith("runs 4/4 done, 0 failed; first response p50 ")
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own report
    assert (root.get("tests"), root.get("failures")) == ("4", "0")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["summary"]["passed"] == 4
    assert all(len(run["steps"]) == 14 for run in report["runs"])


def test_the_silent_agent_sample_fails_with_the_step_in_junit(tmp_path: Path) -> None:
    done = synth(str(SCENARIOS / "silent_agent.toml"), "--junit", "junit.xml", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED silent-agent run 1: steps[3] expect_message (the agent answers): " \
           "no agent message containing 'anybody' within 2 s" in done.stdout
    failure = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite/testcase/failure")  # noqa: S314 - our own report
    assert failure is not None
    assert "within 2 s" in (failure.get("message") or "")


def test_the_agent_mode_flag_overrides_the_scenario(tmp_path: Path) -> None:
    done = synth(str(SCENARIOS / "silent_agent.toml"), "--agent-mode", "echo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "silent-agent run 1 (1/1): ok" in done.stdout


def test_a_bad_scenario_exits_two_naming_the_key_before_connecting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[steps]]\nopen_conversation = {}\n[[steps]]\n"
                   "expect_message = { pattern = \"([\" }\n", encoding="utf-8")
    done = synth(str(SCENARIOS / "order_status.toml"), str(bad), "--junit", "junit.xml",
                 cwd=tmp_path)
    assert done.returncode == 2
    assert f"lpbot synth: {bad}: steps[1].expect_message.pattern: not a valid regular " \
           "expression" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "junit.xml").exists()


def test_a_config_with_a_sandbox_section_is_used(tmp_path: Path) -> None:
    config = tmp_path / "lpbot.toml"
    config.write_text('[sandbox]\nenabled = true\nagent_mode = "silent"\naccept_delay = 0.01\n',
                      encoding="utf-8")
    code = main(["synth", str(SCENARIOS / "silent_agent.toml"), "--config", str(config),
                 "--json", str(tmp_path / "report.json")])
    assert code == 1
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["runs"][0]["failure"].startswith("steps[3] expect_message")


def test_debug_logs_never_show_a_token(tmp_path: Path) -> None:
    done = synth(str(SCENARIOS / "order_status.toml"), "--count", "1", "--log-level", "DEBUG",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Authorization" in done.stderr  # the handshake was logged, with its token masked
    assert not find_jwts(done.stderr)


@needs_tgkill
def test_sigterm_on_a_thread_other_than_main_interrupts_the_runs(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text('[scenario]\nname = "long-wait"\ntimeout = 600\n'
                        '[scenario.sandbox]\nagent_mode = "silent"\n'
                        '[[steps]]\nopen_conversation = {}\n'
                        '[[steps]]\nexpect_message = { contains = "never", timeout = 600 }\n',
                        encoding="utf-8")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "synth", str(scenario), "--log-level", "INFO",
         "--json", str(tmp_path / "report.json")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        deadline = time.monotonic() + 30
        with selectors.DefaultSelector() as selector:
            selector.register(process.stderr, selectors.EVENT_READ)
            line = ""
            while " requested" not in line:  # the run now waits 600 s for a message
                assert selector.select(deadline - time.monotonic()), "no conversation requested"
                line = process.stderr.readline()
                assert line, "lpbot synth ended before requesting a conversation"
        signal_another_thread(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
        assert process.returncode == 130  # interrupted, which is not failed (1)
        # the signal lands while the step waits, or just before it began: interrupted either way
        assert "INTERRUPTED long-wait run 1: " in out
        assert "interrupted: the runner was stopped" in out
        assert "FAILED" not in out
        report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
        assert [run["status"] for run in report["runs"]] == ["interrupted"]
        assert report["summary"]["failed"] == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
