"""The ``lpbot`` command line: argument parsing only; each subcommand lives in its own module.

A subcommand module provides ``configure_parser(parser)`` and ``run(args) -> int`` (the exit
code). Modules are imported only when their subcommand runs, so ``lpbot --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: subcommand -> (module implementing it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": ("lpbot.cli.sandbox", "serve the local LivePerson-compatible sandbox"),
    "sandbox-ctl": ("lpbot.cli.sandbox_ctl",
                    "inject faults into a running sandbox and drive its agents"),
    "run": ("lpbot.cli.run", "run the bot in the foreground until SIGTERM/SIGINT"),
    "plugins": ("lpbot.cli.plugins", "list the plugins lpbot finds and the hooks of each"),
    "check-config": ("lpbot.cli.check_config", "validate a config file without connecting"),
    "transcript": ("lpbot.cli.transcript", "print a logged conversation (or --format json)"),
    "synth": ("lpbot.cli.synth", "run synthetic conversations from scenario files"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser, importing each subcommand's module to let it add its options."""
    parser = argparse.ArgumentParser(
        prog="lpbot", description="Bots and automations for LivePerson's consumer messaging."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.configure_parser(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lpbot`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(version("lpbot"))
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    module_name, _ = COMMANDS[args.command]
    code: int = importlib.import_module(module_name).run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
