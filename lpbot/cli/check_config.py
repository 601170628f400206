"""``lpbot check-config FILE``: validate a config without connecting anything.

Runs exactly the checks ``lpbot run`` makes before it starts anything: the config
(:meth:`Config.load`, environment overrides included), then
:func:`lpbot.runtime.preflight.preflight` (job functions, job store driver, triggers, plugins).
Prints one line and exits 0 when the file is good, or the error (naming the file and key path,
or the plugin) and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lpbot.errors import ConfigError, PluginError
from lpbot.runtime.config import Config
from lpbot.runtime.daemon import EXIT_CONFIG, EXIT_OK
from lpbot.runtime.import_path import add_config_folders
from lpbot.runtime.preflight import preflight

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot check-config``'s argument."""
    parser.add_argument("file", type=Path, metavar="FILE", help="the config file to check")


def run(args: argparse.Namespace) -> int:
    """Check the file; returns 0 or 2."""
    add_config_folders(args.file)
    try:
        config = Config.load(args.file)
        preflight(config)
    except (ConfigError, PluginError) as exc:
        print(f"lpbot: config error: {exc}", file=sys.stderr)  # noqa: T201 -- CLI output
        return EXIT_CONFIG
    where = "in-process sandbox" if config.sandbox.enabled else f"account {config.account.id}"
    print(f"{args.file}: OK ({where}; consumers: {', '.join(config.bot.consumers)}; "  # noqa: T201
          f"{len(config.jobs)} job(s); plugins: {', '.join(config.plugins.enabled) or 'none'})")
    return EXIT_OK
