"""The ``lpbot`` command line: argument parsing only; each subcommand lives in its own module.

A subcommand module provides ``configure_parser(parser)`` and ``run(args) -> int`` (the exit
code). Only the module of the subcommand given on the command line is imported (its options are
needed to parse the rest), so ``lpbot --help`` and each subcommand load no other command's
libraries. Every help text names the documentation page of its topic.

A command whose reader goes away (``lpbot plugins | head -1``) ends quietly with exit code 141,
what a shell reports for a tool that ``SIGPIPE`` ended, as Python's documentation advises ("Note on
SIGPIPE", in the :mod:`signal` module's page): no traceback for a reader that had enough.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["EXIT_BROKEN_PIPE", "main"]

#: the exit code when the command's output has no reader any more (128 + SIGPIPE, as a shell
#: reports for ``yes | head -1``)
EXIT_BROKEN_PIPE: Final = 128 + signal.SIGPIPE

#: where the documentation lives, for the help texts
DOCS: Final = "docs/ in the source tree, or `mkdocs serve` in a clone"


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand: the module implementing it, its one-line help, and its docs page."""

    module: str
    help: str
    page: str
    title: str


COMMANDS: Final[dict[str, Command]] = {
    "sandbox": Command("lpbot.cli.sandbox", "serve the local LivePerson-compatible sandbox",
                       "sandbox.md", "The sandbox and its console"),
    "sandbox-ctl": Command("lpbot.cli.sandbox_ctl",
                           "inject faults into a running sandbox and drive its agents",
                           "faults.md", "Fault injection"),
    "run": Command("lpbot.cli.run", "run the bot in the foreground until SIGTERM/SIGINT",
                   "daemon.md", "Running as a daemon"),
    "plugins": Command("lpbot.cli.plugins", "list the plugins lpbot finds and the hooks of each",
                       "plugins.md", "Writing plugins"),
    "check-config": Command("lpbot.cli.check_config", "validate a config file without connecting",
                            "configuration.md", "Configuration reference"),
    "transcript": Command("lpbot.cli.transcript",
                          "print a logged conversation (or --format json)",
                          "bundled-plugins.md", "Bundled plugins"),
    "synth": Command("lpbot.cli.synth", "run synthetic conversations from scenario files",
                     "synthetic.md", "Synthetic conversations"),
    "cluster": Command("lpbot.cli.cluster",
                       "show the daemons sharing a bot on PostgreSQL, and their leases",
                       "postgresql.md", "Several daemons, one PostgreSQL"),
}


def _docs_line(page: str, title: str) -> str:
    return f'documentation: "{title}", docs/{page} ({DOCS})'


def _command_named(argv: Sequence[str]) -> str | None:
    """The subcommand in ``argv``: its first word that is not an option of ``lpbot`` itself.

    The only top-level option takes no value, so the first other word names the command.
    """
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser, with the options of ``command`` only (of every command for ``"*"``).

    A subcommand's module is imported only to add its options, so ``lpbot --help`` imports none
    of them (nor the sockets, HTTP, scheduler and sandbox libraries they need) and answers at
    once; ``tests/test_cli_help.py`` counts what it imports.
    """
    parser = argparse.ArgumentParser(
        prog="lpbot", description="Bots and automations for LivePerson's consumer messaging.",
        epilog=f"{_docs_line('index.md', 'lpbot')}. Each command's --help names its page.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in COMMANDS.items():
        subparser = sub.add_parser(name, help=spec.help, description=spec.help,
                                   epilog=_docs_line(spec.page, spec.title))
        if command in (name, "*"):
            importlib.import_module(spec.module).configure_parser(subparser)
    return parser


def _reader_gone(fd: int) -> bool:
    """True if ``fd`` is the write end of a pipe (or socket) whose reader has closed it."""
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lpbot`` command; returns the process exit code.

    If the output's reader has gone (``| head``), returns :data:`EXIT_BROKEN_PIPE` without a
    traceback, with standard output pointed at ``/dev/null`` so that the interpreter's last flush
    cannot fail again. A ``BrokenPipeError`` of anything else (a socket) is raised as it was.
    """
    try:
        code = _run(argv)
        sys.stdout.flush()  # what is still buffered meets the closed pipe here, not at exit
    except BrokenPipeError:
        fd = sys.stdout.fileno()
        if not _reader_gone(fd):
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


def _run(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_named(words))
    args = parser.parse_args(words)
    if args.version:
        from importlib.metadata import version

        print(version("lpbot"))
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    code: int = importlib.import_module(COMMANDS[args.command].module).run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
