"""The front page's picture of the main job is what ``lpbot run`` prints.

README.md and docs/getting-started.md show an excerpt of the demo's log; this runs the embedded
default config for one conversation and checks that every line of each excerpt appears, in
order, with only ids, names, ports and paths free.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting-started.md"]

#: what may differ between runs: the conversation id, the agent's name, the metrics endpoint's
#: port (the system picks it), the state directory
FREE = {"[4293173e]": r"\[[0-9a-f]{8}\]", "Alex": r"\w+", "40213": r"\d+",
        "/home/me/.local/state/lpbot": r"\S+"}


def excerpt(page: Path) -> list[str]:
    """The log lines of the page's first text block that shows ``lpbot.activity`` lines."""
    for block in re.findall(r"```text\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        if "lpbot.activity" in block:
            return block.splitlines()
    raise AssertionError(f"{page.name} shows no log of the main job")


def pattern(line: str) -> re.Pattern[str]:
    """A log line as shown, with its free parts as patterns, after the time stamp."""
    text = re.escape(line)
    for fixed, free in FREE.items():
        text = text.replace(re.escape(fixed), free)
    return re.compile(r"\S+ \S+ " + text + "$")


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("demo")
    done = subprocess.run(  # noqa: S603 -- our own interpreter and module
        [sys.executable, "-m", "lpbot", "run", "--state-dir", str(folder / "state"),
         "--max-conversations", "1"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_the_demo_prints_what_the_page_shows(page: Path, demo_log: list[str]) -> None:
    lines = iter(demo_log)
    for shown in excerpt(page):
        expected = pattern(shown)
        assert any(expected.match(line) for line in lines), (
            f"{page.name} shows {shown!r}, which lpbot run did not print (in this order):\n"
            + "\n".join(demo_log))
