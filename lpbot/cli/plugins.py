"""``lpbot plugins``: list the plugins lpbot can find, with the hooks each implements."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lpbot.errors import ConfigError, PluginError
from lpbot.runtime.daemon import EXIT_CONFIG, EXIT_OK, load_config
from lpbot.runtime.import_path import add_config_folders
from lpbot.runtime.plugins import PluginManager, available_plugins, declared_hooks

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot plugins``' options."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="also list this config's plugin modules and mark what it enables "
                             "(default: the embedded config)")


def run(args: argparse.Namespace) -> int:
    """Print each plugin: name, origin, reference, enabled or not, and its hooks."""
    add_config_folders(args.config)
    try:
        config = load_config(args.config)
        sources = available_plugins(config.plugins.modules)
    except (ConfigError, PluginError) as exc:
        print(f"lpbot: config error: {exc}", file=sys.stderr)  # noqa: T201 -- CLI output
        return EXIT_CONFIG
    broken = False
    for name in sorted(sources):
        source = sources[name]
        origin = source.origin + (f" {source.distribution}" if source.distribution else "")
        enabled = " [enabled]" if name in config.plugins.enabled else ""
        print(f"{name}{enabled}  ({origin}: {source.reference})")  # noqa: T201
        manager = PluginManager()
        try:
            plugin = source.load()
            manager.register(plugin, name=name)
        except PluginError as exc:
            print(f"    error: {exc}")  # noqa: T201
            broken = True
            continue
        hooks = declared_hooks(manager, plugin)
        print(f"    {', '.join(hooks) or 'no hooks'}")  # noqa: T201
    return EXIT_CONFIG if broken else EXIT_OK
