"""What a load test connects to and runs: the host URL, an lpbot config, weighted scenario files.

Locust's ``--host`` (``-H``, the web UI's *Host* field) is the account's domain-lookup URL, the
line ``lpbot sandbox`` prints::

    http://127.0.0.1:8383/api/account/sandbox/service/baseURI.json?version=1.0

which gives the account, the CSDS domain and TLS (``https``) in one value, for LivePerson as for
the sandbox. An lpbot config (``--lpbot-config``) gives its ``[account]`` instead, for the
authenticated flow. Scenario files are ``FILE`` or ``FILE:WEIGHT``, comma-separated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from lpbot.client import ClientOptions
from lpbot.errors import ConfigError
from lpbot.runtime.client_options import client_options
from lpbot.runtime.config import Config
from lpbot.synthetic.scenario import Scenario, load_scenario

__all__ = ["WeightedScenario", "load_scenarios", "options_from_config", "options_from_host",
           "parse_scenario_list"]

_ACCOUNT_PATH: Final = re.compile(r"^/api/account/([^/]+)(/|$)")


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightedScenario:
    """A checked scenario and how many of every ``sum(weights)`` consumers run it."""

    scenario: Scenario
    weight: int = 1


def options_from_host(url: str) -> ClientOptions:
    """Client options from a domain-lookup URL (``http[s]://DOMAIN/api/account/ID/...``).

    Raises:
        ConfigError: the URL is not http(s) or has no ``/api/account/<id>`` path.
    """
    parts = urlsplit(url.strip())
    match = _ACCOUNT_PATH.match(parts.path)
    if parts.scheme not in ("http", "https") or not parts.netloc or match is None:
        raise ConfigError(
            f"host {url!r}: give the account's domain-lookup URL, "
            f"http[s]://DOMAIN/api/account/ACCOUNT/service/baseURI.json?version=1.0 "
            f"(the line `lpbot sandbox` prints), or --lpbot-config")
    return ClientOptions(account=match.group(1), csds_domain=parts.netloc,
                         tls=parts.scheme == "https")


def options_from_config(path: str | Path) -> ClientOptions:
    """Client options for new consumers of an lpbot config's ``[account]``.

    An in-process ``[sandbox]`` is not started under Locust (every worker would have its
    own): run ``lpbot sandbox`` and give its URL as the host instead.
    """
    config = Config.load(path)
    if not config.account.id:
        raise ConfigError(f"{path}: [account] has no id; for a sandbox, run `lpbot sandbox` "
                          f"and give the URL it prints as --host")
    return client_options(config.account)


def parse_scenario_list(text: str) -> list[tuple[Path, int]]:
    """``"a.toml:3, b.toml"`` -> ``[(a.toml, 3), (b.toml, 1)]``.

    Raises:
        ConfigError: an empty list, an empty entry, or a weight that is not a positive integer.
    """
    entries: list[tuple[Path, int]] = []
    for item in text.split(","):
        entry = item.strip()
        if not entry:
            continue
        path, _, weight = entry.rpartition(":")
        if not path or not weight.isdigit():
            path, weight = entry, "1"
        if int(weight) < 1:
            raise ConfigError(f"scenario {entry!r}: the weight must be at least 1")
        entries.append((Path(path), int(weight)))
    if not entries:
        raise ConfigError("no scenario files: give --lpbot-scenarios FILE[:WEIGHT],...")
    return entries


def load_scenarios(text: str) -> list[WeightedScenario]:
    """Load and check every scenario of a ``FILE[:WEIGHT],...`` list (ConfigError if wrong)."""
    return [WeightedScenario(scenario=load_scenario(path), weight=weight)
            for path, weight in parse_scenario_list(text)]
