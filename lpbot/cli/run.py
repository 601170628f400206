"""``lpbot run``: parse the options and hand over to :mod:`lpbot.runtime.daemon`."""

from __future__ import annotations

import argparse
from pathlib import Path

from lpbot.runtime.daemon import RunOptions, run_daemon
from lpbot.runtime.import_path import add_config_folders

__all__ = ["configure_parser", "run"]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot run``'s options."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="config file (default: the embedded one: an in-process sandbox "
                             "and a demo conversation every few seconds)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="identities, sequences and the job store "
                             "(default: $XDG_STATE_HOME/lpbot or ~/.local/state/lpbot)")
    parser.add_argument("--duration", type=_positive, metavar="SECONDS",
                        help="stop by itself after this many seconds")
    parser.add_argument("--max-conversations", type=_count, metavar="N",
                        help="stop by itself once N conversations have closed")
    parser.add_argument("--log-format", choices=("human", "json"),
                        help="log lines for people (default) or JSON lines for collectors")


def run(args: argparse.Namespace) -> int:
    """Run the daemon; returns its exit code (see :mod:`lpbot.runtime.daemon`)."""
    add_config_folders(args.config)
    return run_daemon(RunOptions(config=args.config, state_dir=args.state_dir,
                                 duration=args.duration,
                                 max_conversations=args.max_conversations,
                                 log_format=args.log_format))
