"""lpbot's options on Locust's command line, and the check of them before a test starts.

Registered on Locust's ``init_command_line_parser`` event, so they work wherever Locust takes
options: the command line, ``LOCUST_LPBOT_*`` environment variables, ``locust.conf`` or
``pyproject.toml``, and the web UI's *Custom parameters*. A master passes them on to its
workers with every spawn message (scenario files must then be at the same path on every
worker machine).
"""

from __future__ import annotations

import logging
from typing import Any, Final

from lpbot.errors import ConfigError
from lpbot.loadtest.target import load_scenarios, options_from_config, options_from_host

__all__ = ["DEFAULT_RUNS_PER_CONSUMER", "add_arguments", "check_options"]

log = logging.getLogger(__name__)

#: runs one consumer (identity and socket) does before a new consumer takes its place
DEFAULT_RUNS_PER_CONSUMER: Final = 100


def add_arguments(parser: Any, **_kwargs: Any) -> None:
    """Add lpbot's options to Locust's (configargparse) ``parser``."""
    group = parser.add_argument_group("lpbot", "synthetic consumers running lpbot scenarios")
    group.add_argument(
        "--lpbot-scenarios", env_var="LOCUST_LPBOT_SCENARIOS", default="",
        metavar="FILE[:WEIGHT],...",
        help="scenario files for the LpbotScenarios user class, each with an optional "
             "integer weight (default 1), comma-separated")
    group.add_argument(
        "--lpbot-config", env_var="LOCUST_LPBOT_CONFIG", default="", metavar="FILE",
        help="connect to the [account] of this lpbot config instead of --host")
    group.add_argument(
        "--lpbot-runs-per-consumer", env_var="LOCUST_LPBOT_RUNS_PER_CONSUMER", type=int,
        default=DEFAULT_RUNS_PER_CONSUMER, metavar="N",
        help="runs on one consumer identity and socket before a new consumer replaces it "
             f"(default {DEFAULT_RUNS_PER_CONSUMER})")
    group.add_argument(
        "--lpbot-log-level", env_var="LOCUST_LPBOT_LOG_LEVEL", default="WARNING", metavar="LEVEL",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="level of lpbot's own loggers (default WARNING: a connect or a conversation "
             "logs at INFO, too much at thousands of users)")


def check_options(options: Any, host: str | None, *, needs_scenarios: bool) -> str | None:
    """What is wrong with the lpbot options and the host, or ``None``; nothing connects.

    ``host`` may be missing while the web UI waits for a person to type it.
    """
    try:
        if needs_scenarios:
            load_scenarios(getattr(options, "lpbot_scenarios", "") or "")
        config = getattr(options, "lpbot_config", "") or ""
        if config:
            options_from_config(config)
        elif host:
            options_from_host(host)
        elif getattr(options, "headless", False):
            raise ConfigError("no target: give --host (the domain-lookup URL `lpbot sandbox` "
                              "prints) or --lpbot-config")
        if getattr(options, "lpbot_runs_per_consumer", 1) < 1:
            raise ConfigError("--lpbot-runs-per-consumer must be at least 1")
    except ConfigError as exc:
        return str(exc)
    return None
