"""The shipped pytest plugin: ``lp_sandbox`` and ``wait_until`` (house style §3.15)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from lpbot.sandbox import AgentOptions, Sandbox
from lpbot.testing import wait_until

pytest_plugins = ["pytester"]


def test_lp_sandbox_fixture_is_started(lp_sandbox: Sandbox) -> None:
    assert requests.get(lp_sandbox.csds_url, timeout=5).status_code == 200
    assert lp_sandbox.http_url.startswith("http://127.0.0.1:")


@pytest.fixture
def lp_sandbox_options() -> dict[str, Any]:
    return {"account": "custom", "agents": AgentOptions(count=1)}


def test_lp_sandbox_options_can_be_overridden(lp_sandbox: Sandbox) -> None:
    assert lp_sandbox.account == "custom"
    assert len(lp_sandbox.agents.profiles) == 1


def test_plugin_is_registered_through_the_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def test_uses_fixture(lp_sandbox):
            assert requests.get(lp_sandbox.csds_url, timeout=5).json()["baseURIs"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_wait_until_returns_the_value_or_fails_with_the_message() -> None:
    calls = iter([None, 0, "done"])
    assert wait_until(lambda: next(calls), timeout=5, message="values") == "done"
    with pytest.raises(AssertionError, match="the impossible"):
        wait_until(lambda: False, timeout=0.05, message="the impossible")
