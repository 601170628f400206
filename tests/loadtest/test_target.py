"""What a load test connects to: the host URL, lpbot configs, weighted scenario lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from lpbot.errors import ConfigError
from lpbot.loadtest.target import (
    load_scenarios,
    options_from_config,
    options_from_host,
    parse_scenario_list,
)

from .conftest import QUICK, UNANSWERED


def test_the_url_lpbot_sandbox_prints_is_a_host() -> None:
    options = options_from_host(
        "http://127.0.0.1:8383/api/account/sandbox/service/baseURI.json?version=1.0")
    assert (options.account, options.csds_domain, options.tls) == (
        "sandbox", "127.0.0.1:8383", False)


def test_an_https_domain_lookup_url_means_tls() -> None:
    options = options_from_host(
        "https://adminlogin.liveperson.net/api/account/12345678/service/baseURI.json?version=1.0")
    assert (options.account, options.csds_domain, options.tls) == (
        "12345678", "adminlogin.liveperson.net", True)


@pytest.mark.parametrize("host", ["", "http://127.0.0.1:8383", "ws://h/api/account/x/",
                                  "http://127.0.0.1:8383/api/accounts/x"])
def test_a_host_without_an_account_path_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="domain-lookup URL"):
        options_from_host(host)


def test_scenario_lists_take_optional_weights() -> None:
    assert parse_scenario_list(" a.toml:3, dir/b.toml ,c:d.toml:2,") == [
        (Path("a.toml"), 3), (Path("dir/b.toml"), 1), (Path("c:d.toml"), 2)]


@pytest.mark.parametrize(("text", "message"), [("", "no scenario files"),
                                               (" , ", "no scenario files"),
                                               ("a.toml:0", "at least 1")])
def test_bad_scenario_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_scenario_list(text)


def test_scenarios_are_loaded_and_checked(tmp_path: Path) -> None:
    (tmp_path / "quick.toml").write_text(QUICK, encoding="utf-8")
    (tmp_path / "unanswered.toml").write_text(UNANSWERED, encoding="utf-8")
    loaded = load_scenarios(f"{tmp_path / 'quick.toml'}:2,{tmp_path / 'unanswered.toml'}")
    assert [(entry.scenario.name, entry.weight) for entry in loaded] == [
        ("quick", 2), ("unanswered", 1)]
    (tmp_path / "broken.toml").write_text("[[steps]]\nshout = {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="shout"):
        load_scenarios(str(tmp_path / "broken.toml"))


def test_a_config_for_an_in_process_sandbox_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "lpbot.toml"
    config.write_text("[sandbox]\nenabled = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="lpbot sandbox"):
        options_from_config(config)
