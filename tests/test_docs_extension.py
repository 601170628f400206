"""The API reference's docstring rewriting: reST roles and literal blocks become Markdown."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "rest_docstrings", ROOT / "docs" / "extensions" / "rest_docstrings.py")
assert _spec is not None
assert _spec.loader is not None
rest_docstrings = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rest_docstrings)


def test_roles_become_inline_code() -> None:
    text = "Raises :class:`~lpbot.errors.ConfigError`; see :meth:`Sandbox.stop`."
    assert rest_docstrings.markdown(text) == "Raises `ConfigError`; see `Sandbox.stop`."


def test_a_literal_block_after_a_sentence_is_fenced_at_its_margin() -> None:
    text = "Serves on loopback::\n\n    with Sandbox() as s:\n        s.start()\n\nThen more."
    assert rest_docstrings.markdown(text) == (
        "Serves on loopback:\n\n```\nwith Sandbox() as s:\n    s.start()\n```\n\nThen more.")


def test_an_example_section_keeps_its_indentation() -> None:
    text = "A stash.\n\nExample::\n\n    KEY = StashKey[int]()\n"
    assert rest_docstrings.markdown(text) == (
        "A stash.\n\nExample:\n\n    ```\n    KEY = StashKey[int]()\n    ```\n")


def test_text_without_rest_is_left_alone() -> None:
    text = "Args:\n    name: the name.\n\nReturns:\n    ``True`` when done."
    assert rest_docstrings.markdown(text) == text
