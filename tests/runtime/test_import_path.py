"""``lpbot`` finds plugin and job modules in the config's folder and the current folder.

Run as the installed ``lpbot`` script (``python -m lpbot`` would put the current folder on
``sys.path`` by itself), from a temporary folder, with no ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

LPBOT = Path(sys.executable).with_name("lpbot")

PLUGIN = '''\
import logging

import lpbot

log = logging.getLogger("folder_greeter")


@lpbot.hookimpl
def lpbot_startup():
    log.info("the greeter from the folder started")
'''

JOBS = '''\
def note(text):
    return text
'''

CONFIG = '''\
[bot]
consumers = ["one"]

[sandbox]
enabled = true

[plugins]
modules = { greeter = "folder_greeter" }
enabled = ["greeter"]

[[jobs]]
id = "note"
kind = "call"
ref = "folder_jobs:note"
every = 3600
args = { text = "hello" }
'''


def lay_out(folder: Path) -> Path:
    """The config and the two modules it names, side by side in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "folder_greeter.py").write_text(PLUGIN, encoding="utf-8")
    (folder / "folder_jobs.py").write_text(JOBS, encoding="utf-8")
    config = folder / "bot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def lpbot(*words: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert LPBOT.exists(), f"no lpbot script next to {sys.executable}"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(  # noqa: S603 -- our own installed script
        [str(LPBOT), *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
        check=False)


@pytest.mark.parametrize("where", ["current folder", "config's folder"])
def test_check_config_imports_modules_from_the_folder(tmp_path: Path, where: str) -> None:
    if where == "current folder":
        lay_out(tmp_path)
        done = lpbot("check-config", "bot.toml", cwd=tmp_path)
    else:  # run from elsewhere: the config's folder is the anchor, as for its relative paths
        lay_out(tmp_path / "bots")
        (tmp_path / "elsewhere").mkdir()
        done = lpbot("check-config", str(tmp_path / "bots" / "bot.toml"),
                     cwd=tmp_path / "elsewhere")
    assert done.returncode == 0, done.stderr
    assert "bot.toml: OK" in done.stdout


def test_run_imports_plugin_and_job_modules_from_the_current_folder(tmp_path: Path) -> None:
    lay_out(tmp_path)
    done = lpbot("run", "--config", "bot.toml", "--state-dir", "state", "--duration", "0.5",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the greeter from the folder started" in done.stderr


def test_plugins_lists_a_plugin_module_of_the_current_folder(tmp_path: Path) -> None:
    lay_out(tmp_path)
    done = lpbot("plugins", "--config", "bot.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "greeter [enabled]" in done.stdout
    assert "error" not in done.stdout
