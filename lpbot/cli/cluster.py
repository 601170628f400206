"""``lpbot cluster status --config FILE``: the daemons of a bot on PostgreSQL and their leases.

Reads the ``[bot] state_url`` of the config and prints, from the database, every daemon of the
bot (alive, silent or stopped, its last heartbeat, the failovers it took over) and every lease
(owner, epoch, last renewal, expiry). ``--format json`` prints the same as one JSON object.
Exit codes: 0, 2 for a config error (or no ``state_url``), 3 when the database cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lpbot.errors import ConfigError, StateError
from lpbot.runtime.config import Config
from lpbot.runtime.daemon import EXIT_CONFIG, EXIT_CONNECT, EXIT_OK
from lpbot.runtime.leases import DaemonInfo, LeaseInfo, LeaseStore

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add ``lpbot cluster``'s subcommand ``status`` and its options."""
    sub = parser.add_subparsers(dest="cluster_command", metavar="SUBCOMMAND", required=True)
    status = sub.add_parser("status", help="list the daemons, their leases and last renewals")
    status.add_argument("--config", type=Path, metavar="FILE", required=True,
                        help="the bot's config file (its [bot] state_url is read)")
    status.add_argument("--format", choices=("text", "json"), default="text",
                        help="a table for people (default) or JSON")


def run(args: argparse.Namespace) -> int:
    """Print the cluster's status; returns 0, 2 or 3."""
    try:
        config = Config.load(args.config)
        if config.bot.state_url is None:
            raise ConfigError("no [bot] state_url: this bot keeps its state in a directory and "
                              "runs as one daemon", path=str(args.config), key="bot.state_url")
    except ConfigError as exc:
        print(f"lpbot: config error: {exc}", file=sys.stderr)  # noqa: T201 -- CLI output
        return EXIT_CONFIG
    store = LeaseStore(config.bot.state_url.reveal(), bot=config.bot.name, owner="",
                       ttl=config.bot.lease_ttl)
    try:
        store.open(register=False)
        daemons, leases = store.daemons(), store.leases()
    except StateError as exc:
        print(f"lpbot: {exc}", file=sys.stderr)  # noqa: T201 -- CLI output
        return EXIT_CONNECT
    finally:
        store.close()
    now = datetime.now(UTC)
    if args.format == "json":
        print(json.dumps(_as_json(config.bot.name, daemons, leases, now, config.bot.lease_ttl),  # noqa: T201
                         indent=2))
    else:
        print(_as_text(config.bot.name, daemons, leases, now, config.bot.lease_ttl))  # noqa: T201
    return EXIT_OK


def _state(daemon: DaemonInfo, now: datetime, ttl: float) -> str:
    if daemon.stopped_at is not None:
        return "stopped"
    return "alive" if (now - daemon.last_seen).total_seconds() <= ttl else "silent"


def _ago(when: datetime, now: datetime) -> str:
    seconds = (now - when).total_seconds()
    return f"{seconds:.1f} s ago" if seconds >= 0 else f"in {-seconds:.1f} s"


def _as_json(bot: str, daemons: list[DaemonInfo], leases: list[LeaseInfo], now: datetime,
             ttl: float) -> dict[str, Any]:
    return {
        "bot": bot,
        "daemons": [{"owner": d.owner, "host": d.host, "pid": d.pid,
                     "state": _state(d, now, ttl), "started_at": d.started_at.isoformat(),
                     "last_seen": d.last_seen.isoformat(), "failovers": d.failovers,
                     "leases": [lease.name for lease in leases
                                if lease.owner == d.owner and not lease.expired]}
                    for d in daemons],
        "leases": [{"name": lease.name, "owner": lease.owner, "epoch": lease.epoch,
                    "renewed_at": lease.renewed_at.isoformat(),
                    "expires_at": lease.expires_at.isoformat(), "expired": lease.expired}
                   for lease in leases],
    }


def _as_text(bot: str, daemons: list[DaemonInfo], leases: list[LeaseInfo], now: datetime,
             ttl: float) -> str:
    rows = [f"bot {bot}: {sum(_state(d, now, ttl) == 'alive' for d in daemons)} daemon(s) alive",
            "", f"{'DAEMON':<34} {'STATE':<8} {'LAST SEEN':<14} {'FAILOVERS':>9}  LEASES"]
    for d in daemons:
        held = [lease.name for lease in leases if lease.owner == d.owner and not lease.expired]
        rows.append(f"{d.owner:<34} {_state(d, now, ttl):<8} {_ago(d.last_seen, now):<14} "
                    f"{d.failovers:>9}  {', '.join(held) or '-'}")
    rows += ["", f"{'LEASE':<24} {'OWNER':<34} {'EPOCH':>5}  {'RENEWED':<14} EXPIRES"]
    for lease in leases:
        expires = "expired" if lease.expired else _ago(lease.expires_at, now)
        rows.append(f"{lease.name:<24} {lease.owner:<34} {lease.epoch:>5}  "
                    f"{_ago(lease.renewed_at, now):<14} {expires}")
    return "\n".join(rows)
