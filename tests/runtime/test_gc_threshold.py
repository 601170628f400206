"""Bot.start raises the garbage collector's first threshold ([bot] gc_threshold)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from .conftest import MakeHarness


@pytest.fixture
def python_default() -> Iterator[None]:
    """Python's own first threshold (700) for the test; the suite's own afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(700, *saved[1:])
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("python_default")
def test_starting_a_bot_raises_the_first_threshold(make_harness: MakeHarness) -> None:
    with make_harness():
        assert gc.get_threshold()[0] == 10_000


@pytest.mark.usefixtures("python_default")
def test_a_threshold_of_0_leaves_the_collector_alone(make_harness: MakeHarness) -> None:
    with make_harness(config={"bot": {"gc_threshold": 0}}):
        assert gc.get_threshold()[0] == 700


@pytest.mark.usefixtures("python_default")
def test_a_higher_threshold_set_by_the_application_is_kept(make_harness: MakeHarness) -> None:
    older = gc.get_threshold()[1:]
    gc.set_threshold(50_000, *older)
    with make_harness():
        assert gc.get_threshold() == (50_000, *older)
