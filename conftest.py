"""Run every example of README.md and docs/*.md from the Markdown itself (with sybil).

The rules the pages are written to (docs/contributing.md says them to writers):

* A ```` ```python ```` block runs, in page order, in one namespace per page. A ``test_*``
  function it defines is then called as a test, with the pytest fixtures its parameters name
  (``lp_sandbox``, ``tmp_path``...).
* A ```` ```python title="pkg/module.py" ```` block is a file: it is written to that path in the
  page's working folder (which is on ``sys.path``) and imported. When the title names a file of
  the repository (``config/locustfile.py``), the block must be part of that file instead (whose
  own tests run it).
* A ```` ```toml title="name.toml" ```` block is written to that path too. Every TOML block is
  checked: a scenario (a ``[scenario]`` table or ``[[steps]]``) by the scenario loader (the
  loaders of such files are in ``TOML_KINDS``), anything else by ``lpbot check-config``. A block
  without ``[account]`` or ``[sandbox]`` is a fragment, checked as part of a config whose sandbox
  runs in-process and whose plugins with a table are enabled. A file the page shows as wrong has
  a name that starts with ``broken``: its check must fail.
* In a ```` ```console ```` block every ``$ command`` line runs in bash, in the page's working
  folder, and what it prints (stdout and stderr) must be the lines that follow it, up to the next
  ``$``; ``...`` in them matches anything. Commands that only show what to type, and whose output
  cannot be checked here, go in ```` ```sh ```` blocks.

Each page gets a fresh working folder holding a link to the project's ``config/`` folder, so the
pages may name ``config/scenarios/order_status.toml`` as a reader of the repository would.
"""

from __future__ import annotations

import contextlib
import doctest
import inspect
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from sybil import Document, Example, Region, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

from lpbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent

#: ```lang title="path" ...: the language and the optional file name of a fenced block
INFO = re.compile(r'(?P<language>[\w-]+)(?:[ \t]+title="(?P<title>[^"]*)")?[^\n]*$\n', re.M)

#: environment of the page's commands: the tested interpreter's scripts first
COMMAND_ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    "COLUMNS": "100",
    "NO_COLOR": "1",
}

#: seconds a command of a transcript may take
COMMAND_TIMEOUT = 60

#: secrets the example configs read from the environment
EXAMPLE_SECRETS = {"LP_BRAND_JWT": "dummy"}

_python = PythonEvaluator()


def _folder(example: Example) -> Path:
    folder: Path = example.namespace["__docs_folder__"]
    return folder


def _write(example: Example, title: str) -> Path:
    path = _folder(example) / title
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example.parsed, encoding="utf-8")
    return path


# --- python ------------------------------------------------------------------------------------


def _run_tests(example: Example) -> None:
    """Call every ``test_*`` function the page defined and has not run yet, with its fixtures."""
    request: pytest.FixtureRequest = example.namespace["docs_request"]
    ran: set[str] = example.namespace.setdefault("__docs_tests_run__", set())
    for name, value in list(example.namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value) and name not in ran:
            ran.add(name)
            value(**{parameter: request.getfixturevalue(parameter)
                     for parameter in inspect.signature(value).parameters})


@pytest.fixture
def docs_request(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """The pytest request of one example of the docs, to give its tests their fixtures."""
    return request


def _quoted(example: Example, title: str) -> str | None:
    """A block titled with a file of the repository must be taken from that file."""
    if example.parsed in (ROOT / title).read_text(encoding="utf-8"):
        return None
    return f"this block is not part of {title}: the page and the file have drifted apart"


def evaluate_python(example: Example) -> str | None:
    """Run a Python block, or write and import a Python file."""
    title = example.region.lexemes.get("title")
    if title and (ROOT / title).is_file():
        return _quoted(example, title)
    if title:
        path = _write(example, title)
        module = ".".join(path.relative_to(_folder(example)).with_suffix("").parts)
        __import__(module)
        return None
    failure: str | None = _python(example)
    if failure:
        return failure
    _run_tests(example)
    return None


# --- toml --------------------------------------------------------------------------------------


def _check_config(path: Path) -> str | None:
    from lpbot.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = {name: os.environ.get(name) for name in EXAMPLE_SECRETS}
    os.environ.update(EXAMPLE_SECRETS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check-config", str(path)])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if code != 0:
        return f"lpbot check-config {path.name} exited {code}: {err.getvalue()}{out.getvalue()}"
    return None


def _fragment_base(data: dict[str, Any], text: str) -> str:
    """What a config fragment lacks to be a whole config: a sandbox, its plugins enabled."""
    base = "" if {"account", "sandbox"} & data.keys() else "[sandbox]\nenabled = true\n\n"
    plugins = data.get("plugins", {})
    if plugins and "enabled" not in plugins and not re.search(r"^\[plugins\]", text, re.M):
        tables = [name for name in plugins if name != "modules"]
        base += f"[plugins]\nenabled = {tables!r}\n\n"
    return base


def _check_scenario(text: str, file: str) -> str | None:
    from lpbot.synthetic.scenario import parse_scenario

    try:
        parse_scenario(text, file=file)
    except ConfigError as exc:
        return f"scenario {file}: {exc}"
    return None


def _check_flow(text: str, file: str) -> str | None:
    from lpbot.sandbox.flow import FlowError, parse_flow

    try:
        parse_flow(text, file=file, base=ROOT / "config" / "flows")
    except FlowError as exc:
        return f"flow {exc}"
    return None


#: TOML files that are not configs, by a top-level key, and the loader that checks them
TOML_KINDS: dict[str, Callable[[str, str], str | None]] = {
    "scenario": _check_scenario,
    "steps": _check_scenario,
    "states": _check_flow,
}


def evaluate_toml(example: Example) -> str | None:
    """Check a TOML block: a scenario with the scenario loader, a config with check-config."""
    text: str = example.parsed
    title = example.region.lexemes.get("title")
    data = tomllib.loads(text)  # a block that is not TOML fails here, with the line
    if title and (ROOT / title).is_file():
        return _quoted(example, title)
    kinds = [kind for kind in TOML_KINDS if kind in data]
    if kinds:
        failure = TOML_KINDS[kinds[0]](text, title or "<docs>")
        if title:
            _write(example, title)
    elif title:
        failure = _check_config(_write(example, title))
    else:
        path = _folder(example) / "fragment.toml"
        path.write_text(_fragment_base(data, text) + text, encoding="utf-8")
        failure = _check_config(path)
    if Path(title or "").name.startswith("broken"):
        return None if failure else f"{title} is shown as wrong, but passes its check"
    return failure


# --- console -----------------------------------------------------------------------------------


def _commands(text: str) -> Iterable[tuple[str, str]]:
    """``(command, expected output)`` for each ``$ `` line of a transcript."""
    command: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "".join(f"{item}\n" for item in lines)
            command, lines = line[2:], []
        elif command is not None:
            lines.append(line)
    if command is not None:
        yield command, "".join(f"{item}\n" for item in lines)


def evaluate_console(example: Example) -> str | None:
    """Run each command of a transcript and compare what it prints with the page."""
    checker = doctest.OutputChecker()
    for command, expected in _commands(example.parsed):
        try:
            done = subprocess.run(  # noqa: S603 -- the docs' own commands, in a scratch folder
                ["/bin/bash", "-c", command], cwd=_folder(example), env=COMMAND_ENV,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, timeout=COMMAND_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return (f"$ {command}\ndid not finish within {COMMAND_TIMEOUT} s: a command that "
                    "serves until it is stopped belongs in a ```sh block, which is not run")
        if not checker.check_output(expected, done.stdout, doctest.ELLIPSIS):
            return f"$ {command}\nexpected:\n{expected}got:\n{done.stdout}"
    return None


EVALUATORS: dict[str, Callable[[Example], str | None]] = {
    "python": evaluate_python,
    "toml": evaluate_toml,
    "console": evaluate_console,
}


def parse_blocks(document: Document) -> Iterable[Region]:
    """The fenced blocks of a page whose language the docs run."""
    for region in RawFencedCodeBlockLexer(info_pattern=INFO)(document):
        language = region.lexemes["language"]
        if language in EVALUATORS:
            region.parsed = region.lexemes["source"]
            region.evaluator = EVALUATORS[language]
            yield region


# --- a working folder per page -----------------------------------------------------------------


def setup(namespace: dict[str, Any]) -> None:
    """Give the page a fresh working folder, on sys.path, with the project's config/ in it."""
    folder = Path(tempfile.mkdtemp(prefix="lpbot-docs-"))
    (folder / "config").symlink_to(ROOT / "config")
    namespace["__docs_folder__"] = folder
    namespace["__docs_cwd__"] = os.getcwd()
    namespace["__docs_modules__"] = set(sys.modules)
    sys.path.insert(0, str(folder))
    os.chdir(folder)


def teardown(namespace: dict[str, Any]) -> None:
    """Leave the page's folder and forget the modules it wrote."""
    folder: Path = namespace["__docs_folder__"]
    os.chdir(namespace["__docs_cwd__"])
    sys.path.remove(str(folder))
    for name in set(sys.modules) - namespace["__docs_modules__"]:
        module_file = getattr(sys.modules[name], "__file__", None) or ""
        if module_file.startswith(str(folder)):
            del sys.modules[name]
    shutil.rmtree(folder, ignore_errors=True)


pytest_collect_file = Sybil(
    parsers=[parse_blocks],
    patterns=["README.md", "docs/*.md"],
    setup=setup,
    teardown=teardown,
    fixtures=["docs_request"],
).pytest()
