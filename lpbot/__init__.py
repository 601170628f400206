"""lpbot: bots and automations for LivePerson's consumer Messaging Window API."""

from __future__ import annotations

import logging

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

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectionClosed",
    "LpError",
    "PluginError",
    "ProtocolError",
    "RequestError",
    "RequestRejected",
    "RequestTimeout",
]

# A library configures no handlers; the CLI does (house style §3.13).
logging.getLogger("lpbot").addHandler(logging.NullHandler())


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version

        return version("lpbot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
