"""lpbot: bots and automations for LivePerson's consumer Messaging Window API."""

from __future__ import annotations

import logging

from lpbot.config import Config, PluginConfig
from lpbot.errors import (
    AuthError,
    ConfigError,
    ConnectionClosed,
    LpError,
    PluginError,
    ProtocolError,
    RequestError,
    RequestRejected,
    RequestTimeout,
)
from lpbot.hookspecs import hookimpl
from lpbot.stash import Stash, StashKey

__all__ = [
    "AuthError",
    "Config",
    "ConfigError",
    "ConnectionClosed",
    "LpError",
    "PluginConfig",
    "PluginError",
    "ProtocolError",
    "RequestError",
    "RequestRejected",
    "RequestTimeout",
    "Stash",
    "StashKey",
    "hookimpl",
]

# A library configures no handlers; the CLI does (house style §3.13).
logging.getLogger("lpbot").addHandler(logging.NullHandler())


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("lpbot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
