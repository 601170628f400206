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


def test_the_lp_sandbox_tls_marker_runs_a_test_plain_and_over_tls(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        import requests

        pytestmark = pytest.mark.lp_sandbox_tls

        def test_both(lp_sandbox, lp_sandbox_tls):
            assert lp_sandbox.tls is lp_sandbox_tls
            scheme = "https" if lp_sandbox_tls else "http"
            assert lp_sandbox.csds_url.startswith(scheme + "://")
            verify = lp_sandbox.ca_file or True
            assert requests.get(lp_sandbox.csds_url, timeout=5, verify=verify).ok

        @pytest.mark.lp_sandbox_tls(True)
        def test_only_tls(lp_sandbox):
            assert lp_sandbox.ws_url.startswith("wss://")

        def test_without_the_sandbox():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_both?plain? PASSED*", "*test_both?tls? PASSED*",
                                 "*test_only_tls?tls? PASSED*"])


def test_the_lp_sandbox_tls_option_turns_tls_on_everywhere(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def test_tls(lp_sandbox):
            assert lp_sandbox.csds_url.startswith("https://")
            assert requests.get(lp_sandbox.csds_url, timeout=5, verify=lp_sandbox.ca_file).ok
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lp-sandbox-tls")
    result.assert_outcomes(passed=1)


def test_random_wire_variants_print_the_seed_that_replays_a_failure(
    pytester: pytest.Pytester,
) -> None:
    """The header names the run's seed; a failing test's report names its own wire seed, and
    ``--lp-wire-seed`` replays the same styles for the same test."""
    pytester.makepyfile(
        """
        import json
        import os
        import requests
        from websockets.sync.client import connect

        def test_fails_and_shows_its_style(lp_sandbox):
            token = requests.post(
                f"{lp_sandbox.http_url}/api/account/{lp_sandbox.account}/signup", timeout=5
            ).json()["jwt"]
            with connect(lp_sandbox.ws_url,
                         additional_headers={"Authorization": f"jwt {token}"}) as ws:
                ws.send('{"kind":"req","id":"1","type":"cqm.SubscribeExConversations"}')
                frames = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
            spelling = next(f["type"] for f in frames if f.get("kind") == "notification")
            assert lp_sandbox.wire_variants == "random"
            assert str(lp_sandbox.seed) == os.environ["LPBOT_WIRE_SEED"]
            raise AssertionError(f"style {spelling} seed {lp_sandbox.seed}")
        """
    )
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lp-wire-seed", "777")
    first.assert_outcomes(failed=1)
    output = first.stdout.str()
    assert "lpbot sandbox wire variants: random, run seed 777 (replay: --lp-wire-seed 777)" in (
        output)
    assert "replay the run with --lp-wire-seed 777" in output
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--lp-wire-seed", "777")

    def failure(text: str) -> str:
        return next(line for line in text.splitlines() if "AssertionError: style" in line)

    assert failure(again.stdout.str()) == failure(output)
