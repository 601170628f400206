"""Fixtures of the cluster tests: one PostgreSQL server per session, one database per test.

Nothing here skips: without PostgreSQL the fixture fails loudly (``.ci/run`` installs it).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

import pytest

from .daemons import FIXTURES
from .postgres import PostgresServer

if str(FIXTURES) not in sys.path:  # the fixture plugins and jobs, for in-process tests
    sys.path.insert(0, str(FIXTURES))

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running throw-away PostgreSQL server (initdb/pg_ctl as an unprivileged user)."""
    try:
        server = PostgresServer()
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"no PostgreSQL server for the cluster tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def state_url(postgres: PostgresServer) -> str:
    """The URL of a new, empty database on ``postgres``."""
    return postgres.create_database(f"lpbot_test_{next(_databases)}")
