"""Imports point one way (errors <- protocol <- client <- runtime <- cli), checked with ast.

The sandbox imports nothing of lpbot but ``lpbot.protocol.names``, ``lpbot.wakeup`` and
``lpbot.httpserver`` (all standard library only); the bundled plugins
(``plugins/``, installed as ``lpbot_plugins``) use only the public ``lpbot`` API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: layer of each module prefix (the longest prefix decides): a module may import only from its
#: own layer or lower ones. Every lpbot module must fall under one of them.
LAYERS = {
    "lpbot.errors": 0,
    "lpbot.stash": 0,       # imports only the standard library, so any layer may hold a Stash
    "lpbot.wakeup": 0,      # standard library only: the daemon's and the sandbox's main thread
    "lpbot.transcripts": 0, # standard library only: the transcript file format
    "lpbot.redaction": 0,   # standard library only: what a secret looks like, for every layer
    "lpbot.httpserver": 0,  # standard library only: every HTTP port (sandbox, metrics, plugins)
    "lpbot.protocol": 1,
    "lpbot.client": 2,      # the consumer client, its backoff policy and its state store
    "lpbot": 3,             # the package itself: the public API, re-exported
    "lpbot.hookspecs": 3,
    "lpbot.runtime": 3,     # bot, dispatcher, scheduler, jobs, config, daemon
    "lpbot.synthetic": 3,
    "lpbot.testing": 3,
    "lpbot.loadtest": 4,
    "lpbot.cli": 4,         # the commands, on top of everything
    "lpbot.__main__": 4,
}
RUNTIME = 3
#: the only lpbot modules the sandbox may import
SANDBOX_ALLOWED = ("lpbot.protocol.names", "lpbot.wakeup", "lpbot.httpserver")
#: runtime modules that start an in-process sandbox
SANDBOX_USERS = ("lpbot.runtime.daemon", "lpbot.runtime.sandbox_options", "lpbot.testing",
                 "lpbot.cli.sandbox")
#: what the bundled plugins may import from lpbot
PLUGIN_ALLOWED = ("lpbot", "lpbot.hookspecs")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "plugins":
        parts[0] = "lpbot_plugins"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> int:
    """The layer of ``module``: that of the longest prefix in LAYERS (KeyError if none)."""
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    if not prefixes:
        raise KeyError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")
    return LAYERS[max(prefixes, key=len)]


def imported(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
    return found


def files() -> list[Path]:
    return sorted([*ROOT.joinpath("lpbot").rglob("*.py"), *ROOT.joinpath("plugins").rglob("*.py")])


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_respect_the_layers(path: Path) -> None:
    module = module_name(path)
    if not module.startswith(("lpbot_plugins", "lpbot.sandbox")):
        layer(module)  # every module has a place
    problems = []
    for line, target in imported(path, module):
        if not (target == "lpbot" or target.startswith(("lpbot.", "lpbot_plugins"))):
            continue
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        if module.startswith("lpbot_plugins"):
            if target.startswith("lpbot_plugins"):
                continue
            if target not in PLUGIN_ALLOWED:
                problems.append(f"{where}: bundled plugins use the public lpbot API only")
        elif module.startswith("lpbot.sandbox"):
            if not target.startswith(("lpbot.sandbox", *SANDBOX_ALLOWED)):
                problems.append(f"{where}: the sandbox may import only {SANDBOX_ALLOWED}")
        elif target.startswith("lpbot.sandbox"):
            if not module.startswith(SANDBOX_USERS):
                problems.append(f"{where}: only {SANDBOX_USERS} may start a sandbox")
        elif target.startswith("lpbot_plugins"):
            problems.append(f"{where}: lpbot never imports its bundled plugins (entry points do)")
        elif layer(target) > layer(module):
            problems.append(f"{where}: layer {layer(module)} may not import layer "
                            f"{layer(target)}")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = ROOT / "lpbot" / "protocol" / "_layer_probe.py"
    assert imported(ROOT / "lpbot" / "protocol" / "__init__.py", "lpbot.protocol")
    assert layer("lpbot.client.client") > layer("lpbot.protocol.codec")
    assert layer("lpbot.runtime.bot") == RUNTIME
    assert module_name(bad) == "lpbot.protocol._layer_probe"
    assert module_name(ROOT / "plugins" / "metrics.py") == "lpbot_plugins.metrics"
