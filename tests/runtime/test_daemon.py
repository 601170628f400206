"""``lpbot run``, ``check-config`` and ``plugins`` as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lpbot.cli import main
from lpbot.runtime.bot import Bot
from lpbot.runtime.config import Config
from lpbot.runtime.daemon import EMBEDDED_CONFIG
from lpbot.testing.harness import DaemonProcess

from .conftest import FIXTURES, wait_for

REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(FIXTURES)}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def hooks_in(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(entry["hook"], entry["job_id"]) for entry in map(json.loads, path.read_text().split(
        "\n")[:-1])]


def test_the_embedded_default_is_config_lpbot_toml() -> None:
    assert (REPO / "config" / "lpbot.toml").read_text(encoding="utf-8") == EMBEDDED_CONFIG


def test_a_job_scheduled_before_a_restart_runs_after_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    config = (
        '[sandbox]\nenabled = true\n[bot]\nconsumers = ["one"]\n'
        '[plugins]\nmodules = { lpbot_fixture_scheduling = "lpbot_fixture_scheduling" }\n'
        '[plugins.lpbot_fixture_scheduling]\n'
        f'job_id = "before-restart"\npath = "{marker}"\ndelay = 2.5\nadd = {{add}}\n')
    first = write(tmp_path / "first.toml", config.replace("{add}", "true"))
    with DaemonProcess("--config", str(first), "--state-dir", str(tmp_path / "state"),
                       env=ENV) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=5) == 0
    assert not marker.exists(), "the job ran before the restart: make its delay longer"
    # second run: the plugin adds nothing, so only the job store can know about the job
    second = write(tmp_path / "second.toml", config.replace("{add}", "false"))
    with DaemonProcess("--config", str(second), "--state-dir", str(tmp_path / "state"),
                       env=ENV) as daemon:
        daemon.wait_for("serving; state in", timeout=30)
        wait_for(marker.exists, timeout=10, what="the stored job to run after the restart")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=5) == 0
    assert marker.read_text() == "before-restart\n"


def test_a_misfired_job_is_reported_by_hook_and_log(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks.jsonl"
    due = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = write(tmp_path / "late.toml", (
        '[sandbox]\nenabled = true\n[bot]\nconsumers = ["one"]\n'
        '[[jobs]]\nid = "late-report"\nkind = "call"\nref = "lpbot_fixture_jobs:record"\n'
        f'at = {due}\nmisfire_grace_time = 1\n'
        f'args = {{ path = "{tmp_path / "no"}", value = "x" }}\n'
        '[plugins]\nmodules = { lpbot_fixture_recorder = "lpbot_fixture_recorder" }\n'
        f'[plugins.lpbot_fixture_recorder]\npath = "{hooks}"\n'))
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "state"),
                       env=ENV) as daemon:
        record = daemon.wait_for("job late-report missed its run", timeout=30)
        assert record["level"] == "WARNING"
        wait_for(lambda: ("lpbot_job_missed", "late-report") in hooks_in(hooks),
                 what="lpbot_job_missed in the recorder's file")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=5) == 0
    assert not (tmp_path / "no").exists()


def test_max_conversations_ends_the_demo_by_itself_with_readable_lines(tmp_path: Path) -> None:
    with DaemonProcess("--max-conversations", "1", "--state-dir", str(tmp_path)) as daemon:
        assert daemon.wait(timeout=30) == 0
    messages = [m for m, r in zip(daemon.messages(), daemon.records, strict=True)
                if r.get("logger") == "lpbot.activity"]
    kinds = [m.split("] ", 1)[1].split(":")[0] for m in messages]
    assert kinds[0] == "conversation opened"
    assert any(k.startswith("agent ") and k.endswith(" joined as ASSIGNED_AGENT")
               for k in kinds)
    assert "consumer" in kinds
    assert any(k.startswith("agent ") and not k.endswith("ASSIGNED_AGENT") for k in kinds)
    assert "conversation closed by CONSUMER" in kinds
    assert messages[-1].endswith("CSAT 5/5, resolved")
    # the embedded sandbox serves TLS, as LivePerson: the demo's client trusts its CA
    assert any(m.startswith("sandbox serving https://") for m in daemon.messages())


def test_duration_ends_the_run_by_itself(tmp_path: Path) -> None:
    with DaemonProcess("--duration", "0.5", "--state-dir", str(tmp_path)) as daemon:
        assert daemon.wait(timeout=30) == 0
    assert "ran for 0.5 s: stopping" in daemon.messages()


def test_two_daemons_on_the_embedded_default_each_serve_metrics_on_a_free_port(
    tmp_path: Path,
) -> None:
    # the embedded default enables the metrics endpoint: a fixed port would let only one of
    # two daemons on a machine start it; each logs the URL it got from the OS
    urls = []
    with DaemonProcess("--state-dir", str(tmp_path / "a")) as first, \
            DaemonProcess("--state-dir", str(tmp_path / "b")) as second:
        for daemon in (first, second):
            line = daemon.wait_for("metrics on http://", timeout=30)["message"]
            urls.append(line.split("metrics on ", 1)[1].split("/metrics", 1)[0])
            daemon.wait_for("serving; state in", timeout=30)
        for url in urls:
            with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:  # noqa: S310
                assert b"lpbot_connections_open" in response.read()
        for daemon in (first, second):
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=10) == 0
    assert urls[0] != urls[1]
    assert all(url.startswith("http://127.0.0.1:") for url in urls)


BAD_CONFIGS = {
    "toml syntax": ("[bot\nname = 1\n", "not valid TOML"),
    "unknown key": ("[sandbox]\nenabled = true\nagent = 3\n", "sandbox.agent: unknown key"),
    "wrong type": ("[sandbox]\nenabled = true\n[bot]\nworkers = \"many\"\n",
                   "bot.workers: expected an integer, got a string ('many')"),
    "missing secret": ('[account]\nid = "1"\nauth = "authenticated"\n'
                       'brand_token = { env = "LPBOT_TEST_NO_SUCH_VARIABLE" }\n',
                       "account.brand_token: environment variable LPBOT_TEST_NO_SUCH_VARIABLE"),
    "bad cron": ('[sandbox]\nenabled = true\n[[jobs]]\nid = "x"\nkind = "open_conversation"\n'
                 'cron = "every day"\n', "jobs[0].cron: not a valid crontab expression"),
    "unknown plugin": ('[sandbox]\nenabled = true\n[plugins]\nenabled = ["nonesuch"]\n',
                       "plugin 'nonesuch': no such plugin"),
    "plugin import": ('[sandbox]\nenabled = true\n'
                      '[plugins]\nmodules = { broken = "lpbot_fixture_broken_import" }\n',
                      "plugin 'broken': cannot import lpbot_fixture_broken_import"),
    "plugin refuses": ('[sandbox]\nenabled = true\n'
                       '[plugins]\nmodules = { conf = "lpbot_fixture_configurable" }\n'
                       '[plugins.conf]\ngreeting = 7\n',
                       "plugin 'conf' in lpbot_configure: ConfigError: "),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONFIGS))
def test_bad_config_files_exit_2_with_a_clear_message(tmp_path: Path, kind: str) -> None:
    text, expected = BAD_CONFIGS[kind]
    path = write(tmp_path / "bad.toml", text)
    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path), env=ENV) as daemon:
        assert daemon.wait(timeout=30) == 2
    messages = "\n".join(daemon.messages())
    assert expected in messages
    assert "Traceback" not in messages
    if kind not in ("unknown plugin", "plugin import", "plugin refuses"):
        assert str(path) in messages  # config errors name the file


def test_check_config_accepts_the_shipped_files(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LP_BRAND_JWT", "a brand token")
    for name in ("lpbot.toml", "liveperson.example.toml"):
        assert main(["check-config", str(REPO / "config" / name)]) == 0
    out = capsys.readouterr().out
    assert ("lpbot.toml: OK (in-process sandbox; consumers: demo; 1 job(s); "
            "plugins: activity, metrics)") in out


@pytest.mark.parametrize("kind", ["unknown key", "wrong type", "unknown plugin", "plugin import"])
def test_check_config_reports_mistakes_with_exit_2(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BAD_CONFIGS[kind]
    assert main(["check-config", str(write(tmp_path / "bad.toml", text))]) == 2
    assert expected in capsys.readouterr().err


def test_plugins_lists_each_plugin_with_its_hooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "p.toml", '[sandbox]\nenabled = true\n[plugins]\n'
                   'enabled = ["activity"]\nmodules = { thanks = "lpbot_fixture_thanks" }\n')
    assert main(["plugins", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "activity [enabled]  (entry point lpbot: lpbot_plugins.activity)" in out
    assert "thanks [enabled]  (config: lpbot_fixture_thanks)" in out
    assert "    lpbot_configure, lpbot_message_received\n" in out
    # a stateful plugin registers its own object at configure time: its hooks are listed too
    listing = out.split("csat_submitter  (entry point")[1].splitlines()[1]
    assert listing == "    lpbot_configure, lpbot_conversation_closed, lpbot_csat_score"


def test_interrupt_inside_the_bots_own_lock_does_not_deadlock(tmp_path: Path) -> None:
    """The daemon's signal handler calls interrupt() on the main thread, wherever that thread
    is, possibly inside add_consumer with the bot's lock held."""
    bot = Bot(Config.from_mapping({"account": {"id": "1"}}, environ={}), state_dir=tmp_path)
    done = threading.Event()

    def handler_inside_the_lock() -> None:
        with bot._lock:
            bot.interrupt()
        done.set()

    threading.Thread(target=handler_inside_the_lock, name="test-interrupt", daemon=True).start()
    assert done.wait(timeout=10)
    assert bot.stopping.is_set()


def test_a_command_imports_no_other_command(tmp_path: Path) -> None:
    code = (f"import sys\nfrom lpbot.cli import main\nmain(['check-config', {str(tmp_path)!r}])\n"
            "print(sorted(m for m in sys.modules if m.startswith('lpbot.cli.')))")
    result = subprocess.run([sys.executable, "-c", code],  # noqa: S603 - our own interpreter
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['lpbot.cli.check_config']"
