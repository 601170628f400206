"""pytest plugin (entry point ``pytest11``) giving any project lpbot's fixtures.

``lp_sandbox`` is a started :class:`~lpbot.sandbox.Sandbox` on 127.0.0.1 with ephemeral ports and
quick agents; it is stopped, and its threads joined, after the test. Override the fixture
``lp_sandbox_options`` (a dict of ``Sandbox`` keyword arguments) to configure it.

``bot`` is a started :class:`~lpbot.testing.BotHarness` on ``lp_sandbox``: a real Bot with the
plugins that the test module lists in ``lpbot_plugins = ["mypackage.myplugin"]`` and the config
tables of ``lpbot_config = {"plugins": {"myplugin": {...}}}``. After the test it is stopped,
and the harness checks that no ``lpbot-`` thread was left behind.

``lp_sandbox_tls`` says whether it serves ``https``/``wss`` (its CA file is
``lp_sandbox.ca_file``): off unless pytest runs with ``--lp-sandbox-tls``. The marker
``lp_sandbox_tls`` runs each test that uses the sandbox both ways (or with the values given)::

    pytestmark = pytest.mark.lp_sandbox_tls  # every test twice: [plain] and [tls]

Every sandbox of a test run sends ``random`` wire variants (protocol notes §4.4, §6, §9), so the
tests meet every documented spelling and shape over time. The run's seed is printed in the
report header; each test gets its own seed derived from it and from the test's id (through the
``LPBOT_WIRE_SEED`` environment variable, which sandboxes started in a subprocess read too), and
a failing test's report names both. ``pytest --lp-wire-seed N`` replays a run.
"""

from __future__ import annotations

import os
import secrets
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lpbot.sandbox import Sandbox
from lpbot.sandbox.variants import SEED_VARIABLE
from lpbot.testing import FAST_AGENTS, BotHarness

__all__ = [
    "bot",
    "lp_sandbox",
    "lp_sandbox_options",
    "lp_sandbox_tls",
    "lp_wire_seed",
    "needs_tgkill",
    "pytest_addoption",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "wire_seed_of",
]

#: skip a test that signals one thread of another process (harness.signal_another_thread)
#: where Linux's tgkill and /proc are missing
needs_tgkill = pytest.mark.skipif(
    sys.platform != "linux", reason="signals one thread of another process with Linux's tgkill")

_SEED_KEY = pytest.StashKey[int]()
_TEST_SEED_KEY = pytest.StashKey[int]()


def pytest_report_header(config: pytest.Config) -> str:
    """Print the seed that reproduces this run's wire variants."""
    seed = config.stash.get(_SEED_KEY, None)
    return f"lpbot sandbox wire variants: random, run seed {seed} (replay: --lp-wire-seed {seed})"


def wire_seed_of(run_seed: int, nodeid: str) -> int:
    """The wire seed of one test: a function of the run's seed and the test's id only."""
    return zlib.crc32(f"{run_seed}:{nodeid}".encode()) & 0x7FFFFFFF


@pytest.fixture(autouse=True)
def lp_wire_seed(request: pytest.FixtureRequest) -> Iterator[int]:
    """This test's wire seed, exported as ``LPBOT_WIRE_SEED`` while the test runs."""
    seed = wire_seed_of(request.config.stash[_SEED_KEY], request.node.nodeid)
    request.node.stash[_TEST_SEED_KEY] = seed
    previous = os.environ.get(SEED_VARIABLE)
    os.environ[SEED_VARIABLE] = str(seed)
    try:
        yield seed
    finally:
        if previous is None:
            os.environ.pop(SEED_VARIABLE, None)
        else:
            os.environ[SEED_VARIABLE] = previous


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Name the wire seeds in a failing test's report."""
    report = yield
    seed = item.stash.get(_TEST_SEED_KEY, None)
    if report.failed and seed is not None:
        run_seed = item.config.stash[_SEED_KEY]
        report.sections.append((
            "lpbot sandbox wire variants",
            f"this test's wire seed {seed} ({SEED_VARIABLE}={seed}); "
            f"replay the run with --lp-wire-seed {run_seed}",
        ))
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--lp-sandbox-tls`` (TLS for every ``lp_sandbox``) and ``--lp-wire-seed``.

    ``--lp-wire-seed`` is the seed of the run's random wire variants.
    """
    parser.addoption("--lp-sandbox-tls", action="store_true", default=False,
                     help="lpbot: the lp_sandbox fixture serves https/wss (a throw-away CA)")
    parser.addoption(
        "--lp-wire-seed", type=int, default=None, metavar="N",
        help="lpbot: seed of the sandbox's random wire variants (default: "
             f"${SEED_VARIABLE} or a fresh one, printed in the header)")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``lp_sandbox_tls`` marker; choose the run's wire seed once."""
    config.addinivalue_line(
        "markers", "lp_sandbox_tls(*values): run the test against a plain and a TLS lp_sandbox "
        "(or only the values given)")
    seed = config.getoption("--lp-wire-seed", default=None)
    if seed is None:
        raw = os.environ.get(SEED_VARIABLE, "").strip()
        seed = int(raw) if raw.isdigit() else secrets.randbelow(2**31)
    config.stash[_SEED_KEY] = seed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``lp_sandbox_tls`` for tests marked ``lp_sandbox_tls`` that use the sandbox."""
    marker = metafunc.definition.get_closest_marker("lp_sandbox_tls")
    if marker is None or "lp_sandbox_tls" not in metafunc.fixturenames:
        return
    values = [bool(v) for v in marker.args] or [False, True]
    metafunc.parametrize("lp_sandbox_tls", values,
                         ids=["tls" if v else "plain" for v in values])


@pytest.fixture
def lp_sandbox_tls(request: pytest.FixtureRequest) -> bool:
    """Whether ``lp_sandbox`` serves TLS (``--lp-sandbox-tls``); parametrize to override."""
    return bool(request.config.getoption("--lp-sandbox-tls"))


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``lp_sandbox`` fixture's Sandbox; override to change them."""
    return {"agents": FAST_AGENTS}


@pytest.fixture
def lp_sandbox(lp_sandbox_options: dict[str, Any], lp_sandbox_tls: bool) -> Iterator[Sandbox]:
    """A started sandbox on 127.0.0.1, ephemeral ports; stopped and joined after the test.

    Strict, with ``random`` wire variants seeded by the test's wire seed, unless
    ``lp_sandbox_options`` says otherwise.
    """
    options = {"host": "127.0.0.1", "port": 0, "ws_port": 0, "tls": lp_sandbox_tls,
               "wire_variants": "random",
               **lp_sandbox_options}
    with Sandbox(**options) as sandbox:
        yield sandbox


@pytest.fixture
def bot(
    lp_sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[BotHarness]:
    """A started bot on ``lp_sandbox`` with the module's ``lpbot_plugins`` and ``lpbot_config``.

    ``bot.bot`` is the :class:`~lpbot.Bot`, ``bot.events`` records every hook call, and
    ``bot.open_conversation()`` opens one. Stopped after the test, with no thread left behind.
    """
    plugins = getattr(request.module, "lpbot_plugins", ())
    config = getattr(request.module, "lpbot_config", None)
    with BotHarness(lp_sandbox, state_dir=tmp_path / "lpbot-state", plugins=plugins,
                    config=config) as harness:
        yield harness
