"""docs/writing-plugins.md: its example plugin and its example test, run as written."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lpbot
from lpbot.sandbox import Sandbox
from lpbot.testing import BotHarness

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture
def goodbye(tmp_path: Path) -> Iterator[str]:
    """The page's plugin, importable as ``goodbye``."""
    (tmp_path / "goodbye.py").write_text(python_blocks()[0], encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    yield "goodbye"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("goodbye", None)


def test_the_example_test_passes_with_the_example_plugin(
    goodbye: str, lp_sandbox: Sandbox, tmp_path: Path
) -> None:
    namespace: dict[str, Any] = {}
    exec(python_blocks()[1], namespace)  # noqa: S102 - the page's own example
    assert namespace["lpbot_plugins"] == [goodbye]
    with BotHarness(lp_sandbox, state_dir=tmp_path / "state", plugins=namespace["lpbot_plugins"],
                    config=namespace["lpbot_config"]) as bot:
        namespace["test_says_goodbye"](bot, lp_sandbox)


def test_a_bad_option_names_the_file_and_key(
    goodbye: str, lp_sandbox: Sandbox, tmp_path: Path
) -> None:
    config = {"plugins": {"goodbye": {"delay": 600}}}
    with pytest.raises(lpbot.PluginError) as caught, BotHarness(
            lp_sandbox, state_dir=tmp_path, plugins=[goodbye], config=config):
        pass
    assert str(caught.value).endswith(
        "<BotHarness>: plugins.goodbye.delay: must be at most 60, got 600")
