"""lpbot: bots and automations for LivePerson's consumer Messaging Window API."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from lpbot.bot import Bot
    from lpbot.client import Conversation

__all__ = [
    "AuthError",
    "Bot",
    "Config",
    "ConfigError",
    "ConnectionClosed",
    "Conversation",
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


#: public names imported on first use, so that ``import lpbot`` stays light (no sockets, HTTP or
#: scheduler libraries until a bot is built)
_LAZY = {"Bot": "lpbot.bot", "Conversation": "lpbot.client"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("lpbot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
