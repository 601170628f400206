"""Property-based fuzz of config tables: ``check-config`` answers in one line, and what it
accepts, ``lpbot run`` starts.

Hypothesis builds config files from plausible and hostile values (edge numbers, ``inf`` and
``nan``, wrong types, bad patterns, time zones, job triggers and references). Two properties:

* ``lpbot check-config`` either accepts the file (exit 0) or refuses it with exit 2 and one
  line naming the file; it never raises.
* A file it accepts starts: ``lpbot run`` (in this process, with the in-process sandbox)
  reaches "serving" and stops with an exit code other than 1, 2 or 3. Half its examples are
  plausible configs (most start), half hostile ones (most are refused at once; those accepted
  must start too).

The examples are bounded by the profile ``config-ci`` (what CI runs); maintainers run the long
profile now and then, and after changing the config code::

    LPBOT_TEST_FUZZ_PROFILE=config-long python -m pytest tests/runtime/test_config_fuzz.py
"""

from __future__ import annotations

import gc
import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lpbot.cli import main
from lpbot.runtime.daemon import RunOptions, run_daemon

settings.register_profile("config-ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("config-long", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
PROFILE = settings.get_profile(os.environ.get("LPBOT_TEST_FUZZ_PROFILE", "config-ci"))
#: starting the daemon costs most of a second, so that property gets a third of the examples
START_PROFILE = settings(PROFILE, max_examples=max(10, PROFILE.max_examples // 3))

# --- values -------------------------------------------------------------------------------
# Each builder takes ``hostile``: True mixes in edge numbers, wrong types and bad patterns (for
# the check-config property); False keeps to what should be accepted, bounds included (for the
# start-up property, so that most of its examples get as far as starting).

EDGE_FLOATS = st.sampled_from([0.0, -0.0, 1e-9, 3600.5, 1e300, -1.0, math.inf, -math.inf,
                               math.nan, 31_622_401.0])
EDGE_INTS = st.sampled_from([0, -1, 257, 100_000, 2**31, 2**63 - 1])
WRONG_TYPES = st.sampled_from(["", "4", "many", True, [], {"x": 1},
                               datetime(2030, 1, 1, tzinfo=UTC)])
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def number(low: float, high: float, hostile: bool) -> st.SearchStrategy[Any]:
    """A float in [low, high] (its bounds likely), or with ``hostile`` an edge or a wrong type."""
    fine = st.one_of(st.floats(low, high, allow_nan=False), st.sampled_from([low, high]))
    return st.one_of(fine, EDGE_FLOATS, EDGE_INTS, WRONG_TYPES) if hostile else fine


def integer(low: int, high: int, hostile: bool) -> st.SearchStrategy[Any]:
    fine = st.one_of(st.integers(low, high), st.sampled_from([low, high]))
    return st.one_of(fine, EDGE_INTS, WRONG_TYPES, st.just(1.5)) if hostile else fine


def table(keys: dict[str, st.SearchStrategy[Any]], hostile: bool) -> st.SearchStrategy[Any]:
    """A table with any subset of ``keys``; with ``hostile`` sometimes an unknown key too."""
    plain = st.fixed_dictionaries({}, optional=keys)
    if not hostile:
        return plain
    return st.one_of(plain, plain, plain, plain.map(lambda found: {**found, "unknown_key": 1}))


def pick(fine: list[Any], bad: list[Any], hostile: bool) -> st.SearchStrategy[Any]:
    return st.sampled_from(fine + bad if hostile else fine)


@st.composite
def jobs(draw: st.DrawFn, hostile: bool) -> dict[str, Any]:
    kinds = ["open_conversation", "set_ttr", "urgent_when_unanswered", "synthetic_conversation",
             "call"]
    kind = draw(pick(kinds, ["teleport"], hostile))
    job: dict[str, Any] = {"kind": kind, "id": draw(st.one_of(
        pick(["a", "b", "j" * 191], ["", " ", "j" * 192, "\x00"], hostile), TEXT))}
    triggers = ["every", "cron", "at"]
    trigger = draw(pick(triggers, ["two", "none"], hostile))
    if trigger in ("every", "two"):
        job["every"] = draw(number(0.5, 31_622_400, hostile))
    if trigger in ("cron", "two"):
        job["cron"] = draw(pick(["*/5 * * * *", "0 9 * * 1-5"],
                                ["61 * * * *", "every day", "", "* * *"], hostile))
    if trigger == "at":
        job["at"] = draw(pick([datetime(2031, 1, 1, tzinfo=UTC), "2031-01-01T09:00"],
                              ["soon", datetime(1970, 1, 1, tzinfo=UTC)], hostile))
    if trigger == "every" and draw(st.booleans()):
        job["start_now"] = draw(st.booleans())
    if kind == "call":
        job["ref"], job["args"] = draw(pick(
            [("lpbot_fixture_jobs:record", {"path": os.devnull, "value": "x"}),
             ("json:dumps", {"obj": 1})],
            [("lpbot_no_such_module:run", {}), ("json:no_such_function", {}),
             ("json:__doc__", {}), ("json:dumps", {"a": "b"}), ("not a reference", {})],
            hostile))
    elif kind == "set_ttr":
        job["args"] = {"ttr_type": draw(pick(["URGENT", "NORMAL"], ["SOON"], hostile)),
                       "value": draw(integer(0, 600, hostile))}
    elif kind == "urgent_when_unanswered":
        job["args"] = {"after_minutes": draw(number(0, 60, hostile))}
    elif kind == "synthetic_conversation":
        job["args"] = draw(table({"consumer": st.just("fuzz"),
                                  "reply_timeout": number(0.1, 5, hostile),
                                  "csat": integer(0, 5, hostile),
                                  "messages": st.lists(TEXT, max_size=2)}, hostile))
    return job


def configs(hostile: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Whole configs with the in-process sandbox (the only account a test can start against)."""
    patterns = pick(["(?i)order", "hello|hi"],
                    ["(unclosed", "*", "a{2,1}", "[z-a]", "(?P<x>a)(?P<x>b)", "\\"], hostile)
    bot = table({
        "name": st.one_of(st.just("fuzz"), TEXT),
        "consumers": st.lists(pick(["fuzz", "two"], [""], hostile), max_size=2),
        "workers": integer(1, 256, hostile),
        "queue_size": integer(1, 10_000_000, hostile),
        "put_timeout": number(0.001, 3600, hostile),
        "commit_batch": integer(1, 10_000_000, hostile),
        "commit_interval": number(0.001, 3600, hostile),
        "stop_timeout": number(0.1, 3600, hostile),
        "connect_timeout": number(1, 3600, hostile),
        "gc_threshold": integer(0, 10_000_000, hostile),
    }, hostile)
    sandbox = table({
        "agents": integer(1, 10_000, hostile),
        "agent_mode": pick(["echo", "rules", "silent"], ["loud"], hostile),
        "rules": st.lists(st.tuples(patterns, st.just("reply")).map(list), max_size=2),
        "accept_delay": number(0, 3600, hostile),
        "reply_delay": number(0, 3600, hostile),
        "greeting": TEXT,
        "receipts": st.booleans(),
    }, hostile)
    logging_table = table({
        "level": pick(["INFO", "WARNING"], ["info", "LOUD"], hostile),
        "format": pick(["human", "json"], ["xml"], hostile),
        "redact": st.lists(patterns, max_size=2),
    }, hostile)
    scheduler = table({
        "misfire_grace_time": integer(1, 31_622_400, hostile),
        "coalesce": st.booleans(),
        "max_instances": integer(1, 1000, hostile),
        "timezone": pick(["UTC", "Europe/Paris", "Etc/GMT+3"],
                         ["Mars/Olympus", "", "../etc/passwd", "utc", "\x00"], hostile),
        "max_workers": integer(1, 256, hostile),
        "url": pick(["sqlite://"], ["nosuchdb://x/y", "not a url", ""], hostile),
    }, hostile)
    return st.fixed_dictionaries(
        {"sandbox": sandbox.map(lambda found: {**found, "enabled": True})},
        optional={"bot": bot, "logging": logging_table, "scheduler": scheduler,
                  "jobs": st.lists(jobs(hostile), max_size=2)},
    )


# --- the properties ------------------------------------------------------------------------


def write(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


@contextmanager
def gc_threshold_kept() -> Iterator[None]:
    """Bot.start raises the process's GC threshold; the rest of the suite should not see it."""
    before = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


@given(config=configs(hostile=True))
@settings(PROFILE)
def test_check_config_answers_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write(tmp_path_factory.mktemp("fuzz") / "fuzz.toml", config)
    code = main(["check-config", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, out, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("lpbot: config error: "), err
        assert str(path) in lines[0] or "plugin" in lines[0], err
    else:
        assert out.startswith(f"{path}: OK"), out


class _Serving(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.serving = False

    def emit(self, record: logging.LogRecord) -> None:
        self.serving |= record.getMessage().startswith("serving; state in")


@given(config=st.one_of(configs(hostile=False), configs(hostile=True)))
@settings(START_PROFILE)
def test_what_check_config_accepts_starts(
    tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = tmp_path_factory.mktemp("fuzz")
    path = write(directory / "fuzz.toml", config)
    if main(["check-config", str(path)]) != 0:
        capsys.readouterr()
        return  # refused: the other property checks how
    capsys.readouterr()
    watch = _Serving()
    daemon_log = logging.getLogger("lpbot.runtime.daemon")
    level = daemon_log.level
    daemon_log.addHandler(watch)
    daemon_log.setLevel(logging.INFO)  # "serving" is seen whatever [logging] level says
    try:
        with gc_threshold_kept():
            code = run_daemon(RunOptions(config=path, state_dir=directory / "state",
                                         duration=0.2))
    finally:
        daemon_log.removeHandler(watch)
        daemon_log.setLevel(level)
    err = capsys.readouterr().err
    assert watch.serving, f"accepted by check-config but did not start (exit {code}):\n{err}"
    assert code not in (1, 2, 3), f"exit {code}:\n{err}"
