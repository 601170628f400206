"""Helpers for the synthetic-conversation tests: client options pointing at a sandbox."""

from __future__ import annotations

from pathlib import Path

from lpbot.client import ClientOptions
from lpbot.client.backoff import Backoff
from lpbot.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "config" / "scenarios"


def options_for(sandbox: Sandbox) -> ClientOptions:
    """Client options for consumers of ``sandbox`` (TLS if it serves it, quick retries)."""
    return ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain,
                         tls=sandbox.tls, ca_file=sandbox.ca_file, backoff=Backoff.immediate())
