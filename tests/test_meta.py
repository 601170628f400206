"""Meta-tests that keep the house in order: hooks documented and tested, __all__ everywhere."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import lpbot
from lpbot import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOK_REFERENCE = ROOT / "docs" / "hooks.md"

HOOKS = sorted(name for name, value in vars(hookspecs).items()
               if name.startswith("lpbot_") and inspect.isfunction(value))


def signature_text(name: str) -> str:
    """How the hook reference (docs/hooks.md) writes a hook: ``lpbot_x(arg, ...)``."""
    parameters = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(parameters)})"


def test_every_hook_is_in_hookspecs_all() -> None:
    assert set(HOOKS) <= set(hookspecs.__all__)
    assert len(HOOKS) >= 19


@pytest.mark.parametrize("hook", HOOKS)
def test_hooks_documented(hook: str) -> None:
    assert signature_text(hook) in HOOK_REFERENCE.read_text(encoding="utf-8"), (
        f"docs/hooks.md does not show {signature_text(hook)}")


def test_hooks_tested() -> None:
    names = set()
    for path in ROOT.joinpath("tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                names.add(node.name)
    missing = [hook for hook in HOOKS
               if not any(name == f"test_hook_{hook}" or name.startswith(f"test_hook_{hook}_")
                          for name in names)]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def all_modules() -> list[str]:
    names = ["lpbot"]
    for info in pkgutil.walk_packages(lpbot.__path__, "lpbot."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", all_modules())
def test_modules_have_all(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [item for item in module.__all__ if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_public_api_is_sorted_and_importable() -> None:
    assert lpbot.__all__ == sorted(lpbot.__all__)
    for name in lpbot.__all__:
        assert getattr(lpbot, name) is not None

