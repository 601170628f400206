"""The daemon raises the collector's first threshold ([bot] gc_threshold); a Bot does not."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lpbot.runtime.daemon import raise_gc_threshold
from lpbot.testing.harness import DaemonProcess

from .conftest import MakeHarness


@pytest.fixture
def python_default() -> Iterator[None]:
    """Python's own first threshold (700) for the test; the suite's own afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(700, *saved[1:])
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("python_default")
def test_raising_the_threshold_keeps_the_older_generations() -> None:
    older = gc.get_threshold()[1:]
    raise_gc_threshold(10_000)
    assert gc.get_threshold() == (10_000, *older)


@pytest.mark.usefixtures("python_default")
def test_a_threshold_of_0_leaves_the_collector_alone() -> None:
    raise_gc_threshold(0)
    assert gc.get_threshold()[0] == 700


@pytest.mark.usefixtures("python_default")
def test_a_higher_threshold_set_by_the_application_is_kept() -> None:
    older = gc.get_threshold()[1:]
    gc.set_threshold(50_000, *older)
    raise_gc_threshold(10_000)
    assert gc.get_threshold() == (50_000, *older)


@pytest.mark.usefixtures("python_default")
def test_a_bot_used_as_a_library_leaves_the_collector_alone(make_harness: MakeHarness) -> None:
    with make_harness():
        assert gc.get_threshold()[0] == 700


def test_the_daemon_raises_it(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text("[sandbox]\nenabled = true\n[logging]\nlevel = \"DEBUG\"\n")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path)) as daemon:
        daemon.wait_for("garbage collector threshold raised from 700 to 10000")
        daemon.send_signal()
        assert daemon.wait(timeout=10) == 0
