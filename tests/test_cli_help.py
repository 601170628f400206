"""``lpbot --help`` imports almost nothing, and every help text names its documentation page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lpbot.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent

#: what the full parser used to pull in: sockets, HTTP, the scheduler, the sandbox's event loop
HEAVY = {"apscheduler", "asyncio", "gevent", "locust", "orjson", "prometheus_client", "requests",
         "sqlalchemy", "sqlite3", "ssl", "websocket", "websockets"}

#: packages of lpbot that no help text needs: every command, the runtime, the client, the servers
LAYERS = ("lpbot.cli.", "lpbot.runtime", "lpbot.client", "lpbot.protocol", "lpbot.sandbox",
          "lpbot.synthetic", "lpbot.loadtest", "lpbot.testing")

IMPORTS = """
import json, sys
before = set(sys.modules)
from lpbot.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(set(sys.modules) - before)), file=sys.stderr)
"""


def test_help_imports_no_subcommand_module() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True,  # noqa: S603
                          check=True, timeout=60)
    modules: list[str] = json.loads(done.stderr.splitlines()[-1])
    layers = [name for name in modules if name.startswith(LAYERS)]
    assert not layers, f"lpbot --help imported {layers}"
    assert not {name.partition(".")[0] for name in modules} & HEAVY
    assert len(modules) <= 80, f"lpbot --help imported {len(modules)} modules: {modules}"


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def _named_page(text: str) -> str:
    found = re.search(r'documentation: "[^"]*", docs/([\w-]+\.md)', " ".join(text.split()))
    assert found, f"the help names no docs page:\n{text}"
    return found.group(1)


def _nav() -> str:
    return (ROOT / "mkdocs.yml").read_text(encoding="utf-8")


def test_lpbot_help_names_the_docs() -> None:
    done = subprocess.run([sys.executable, "-m", "lpbot", "--help"], capture_output=True,
                          text=True, check=True, timeout=60)
    page = _named_page(done.stdout)
    assert (ROOT / "docs" / page).is_file()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_help_names_its_page(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, command)
    page = _named_page(text)
    assert page == COMMANDS[command].page
    assert (ROOT / "docs" / page).is_file()
    assert f": {page}\n" in _nav(), f"docs/{page} is not in mkdocs.yml's nav"
    assert "options:" in text  # the command's own options are there
