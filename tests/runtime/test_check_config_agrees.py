"""``check-config`` refuses exactly what ``lpbot run`` cannot start, with the same one line.

Each case is a config that used to pass ``check-config`` and then failed at run time (a
traceback, a hang, a silent no-op). Both commands must now refuse it with exit 2 and one line
naming the file (or the environment variable) and the key path, before anything starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lpbot.cli import main
from lpbot.testing.harness import DaemonProcess

SANDBOX = "[sandbox]\nenabled = true\n"
JOB = '[[jobs]]\nid = "j"\nkind = "call"\nref = "json:dumps"\nargs = { obj = 1 }\n'

#: case -> (config text after [sandbox], environment, expected text of the one line)
CASES: dict[str, tuple[str, dict[str, str], str]] = {
    "infinite interval": (JOB.replace('"json:dumps"\n', '"json:dumps"\nevery = inf\n'), {},
                          "jobs[0].every: expected a finite number, got inf"),
    "infinite timeout": ("[bot]\nconnect_timeout = inf\n", {},
                         "bot.connect_timeout: expected a finite number, got inf"),
    "huge timeout": ("[bot]\nstop_timeout = 1e300\n", {},
                     "bot.stop_timeout: must be at most 3600, got 1e+300"),
    "not a number": ("reply_delay = nan\n", {},
                     "sandbox.reply_delay: expected a finite number, got nan"),
    "bad rule regex": ('agent_mode = "rules"\nrules = [["(unclosed", "hi"]]\n', {},
                       "sandbox.rules[0][0]: not a valid regular expression"),
    "bogus timezone": ('[scheduler]\ntimezone = "Mars/Olympus_Mons"\n', {},
                       "scheduler.timezone: unknown time zone 'Mars/Olympus_Mons'"),
    "bogus job store": ('[scheduler]\nurl = "nosuchdb://localhost/jobs"\n', {},
                        "scheduler.url: not a SQLAlchemy database URL"),
    "empty job id": (JOB.replace('id = "j"', 'id = ""') + "every = 5\n", {},
                     "jobs[0].id: expected a job id of 1 to 191 printable characters"),
    "missing call module": (JOB.replace("json:dumps", "lpbot_no_such_module:run") + "every = 5\n",
                            {}, "jobs[0].ref: cannot import module 'lpbot_no_such_module'"),
    "missing call function": (JOB.replace("json:dumps", "json:no_such_function") + "every = 5\n",
                              {}, "jobs[0].ref: 'json:no_such_function': json has no"),
    "call arguments": (JOB.replace("args = { obj = 1 }", "args = { ob = 1 }") + "every = 5\n", {},
                       "jobs[0].args: json:dumps cannot be called with these arguments"),
    "too many workers": ("[bot]\nworkers = 100000\n", {},
                         "bot.workers: must be at most 256, got 100000"),
    "misspelt section variable": ("", {"LPBOT_BOTT_WORKERS": "8"},
                                  "environment: LPBOT_BOTT_WORKERS: unknown section 'bott' "
                                  "(did you mean LPBOT_BOT_WORKERS?)"),
    "plugins from the environment": ("", {"LPBOT_PLUGINS_ENABLED": "metrics"},
                                     "environment: LPBOT_PLUGINS_ENABLED: [[jobs]] and [plugins] "
                                     "cannot be set from the environment"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_config_and_run_refuse_it_alike(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text, environ, expected = CASES[case]
    path = tmp_path / "bot.toml"
    path.write_text(SANDBOX + text, encoding="utf-8")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    assert main(["check-config", str(path)]) == 2
    checked = capsys.readouterr().err.strip().splitlines()
    assert len(checked) == 1, checked
    assert expected in checked[0]
    assert (str(path) if not environ else "environment") in checked[0]

    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path / "state"),
                       env=environ) as daemon:
        assert daemon.wait(timeout=30) == 2
    messages = daemon.messages()
    assert any(expected in message for message in messages), messages
    assert not any("Traceback" in message for message in messages), messages
    assert not (tmp_path / "state").exists()  # refused before anything started


def test_an_accepted_config_with_edge_values_starts(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        SANDBOX + 'agent_mode = "rules"\nrules = [["(?i)order", "It ships today"]]\n'
        '[bot]\nworkers = 256\nstop_timeout = 3600\n[scheduler]\ntimezone = "Europe/Paris"\n'
        + JOB.replace('id = "j"', 'id = "' + "j" * 191 + '"') + "every = 31622400\n",
        encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    with DaemonProcess("--config", str(path), "--state-dir", str(tmp_path / "state"),
                       "--duration", "0.5") as daemon:
        assert daemon.wait(timeout=60) == 0
