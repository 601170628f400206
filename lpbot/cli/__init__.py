"""The ``lpbot`` command line: argument parsing only; each subcommand lives in its own module.

A subcommand module provides ``configure_parser(parser)`` and ``run(args) -> int`` (the exit
code). Only the module of the subcommand given on the command line is imported (its options are
needed to parse the rest), so ``lpbot --help`` and each subcommand load no other command's
libraries.
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; only ``command``'s module is imported, to add its options."""
    parser = argparse.ArgumentParser(
        prog="lpbot", description="Bots and automations for LivePerson's consumer messaging."
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).configure_parser(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lpbot`` command; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # The only top-level option takes no value, so the first other word names the command.
    command = next((word for word in arguments if not word.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(arguments)
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
