"""The consumer client: discovery, identity, a connection that never loses a message, conversations.

Example:
    >>> from lpbot.client import Client, ClientOptions
    >>> with Client(ClientOptions(account="123"), state_dir="state") as client:  # doctest: +SKIP
    ...     client.connect(timeout=10)
    ...     client.open_conversation().send_text("hello")
"""

from __future__ import annotations

from lpbot.client.client import Client
from lpbot.client.conversation import Conversation
from lpbot.client.dialogs import CoBrowseDialog, cobrowse_dialogs
from lpbot.client.identity import (
    CommandTokenProvider,
    FunctionTokenProvider,
    Identity,
    StaticTokenProvider,
    TokenProvider,
    token_provider,
)
from lpbot.client.options import ClientOptions, ClientStats, ConnectionState, StateChange
from lpbot.client.profiles import AgentProfile
from lpbot.protocol.requests import SetUserProfile

__all__ = [
    "AgentProfile",
    "Client",
    "ClientOptions",
    "ClientStats",
    "CoBrowseDialog",
    "CommandTokenProvider",
    "ConnectionState",
    "Conversation",
    "FunctionTokenProvider",
    "Identity",
    "SetUserProfile",
    "StateChange",
    "StaticTokenProvider",
    "TokenProvider",
    "cobrowse_dialogs",
    "token_provider",
]
