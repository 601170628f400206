"""lpbot: bots and automations for LivePerson's consumer Messaging Window API."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lpbot.errors import (
    AuthError,
    ConfigError,
    ConnectionClosed,
    IdentityRefused,
    LeaseLost,
    LpError,
    PluginError,
    ProtocolError,
    RequestError,
    RequestRejected,
    RequestTimeout,
    StateConnectError,
    StateError,
)
from lpbot.hookspecs import hookimpl
from lpbot.stash import Stash, StashKey
from lpbot.transcripts import read_transcript, transcript_path

if TYPE_CHECKING:
    from lpbot.client import ConnectionState, Conversation, StateChange
    from lpbot.httpserver import BoundedHTTPServer, BoundedRequestHandler, ServerLimits
    from lpbot.protocol import (
        AcceptStatusEvent,
        ChatStateEvent,
        ContentEvent,
        ConversationDetails,
        MessagingEvent,
        Participant,
        RichContentEvent,
        Ttr,
    )
    from lpbot.protocol.names import (
        AcceptStatus,
        ChatState,
        ConversationState,
        Role,
        TTRType,
    )
    from lpbot.redaction import JWT_PATTERN, Redactor
    from lpbot.runtime.bot import Bot
    from lpbot.runtime.config import Config, PluginConfig
    from lpbot.runtime.counters import Counters
    from lpbot.runtime.scheduler import JobInfo, JobRun, Scheduler
    from lpbot.synthetic.results import RunResult, StepResult, TranscriptLine

__all__ = [
    "AcceptStatus",
    "AcceptStatusEvent",
    "AuthError",
    "Bot",
    "BoundedHTTPServer",
    "BoundedRequestHandler",
    "ChatState",
    "ChatStateEvent",
    "Config",
    "ConfigError",
    "ConnectionClosed",
    "ConnectionState",
    "ContentEvent",
    "Conversation",
    "ConversationDetails",
    "ConversationState",
    "Counters",
    "IdentityRefused",
    "JWT_PATTERN",
    "JobInfo",
    "JobRun",
    "LeaseLost",
    "LpError",
    "MessagingEvent",
    "Participant",
    "PluginConfig",
    "PluginError",
    "ProtocolError",
    "Redactor",
    "RequestError",
    "RequestRejected",
    "RequestTimeout",
    "RichContentEvent",
    "Role",
    "RunResult",
    "Scheduler",
    "ServerLimits",
    "Stash",
    "StashKey",
    "StateChange",
    "StateConnectError",
    "StateError",
    "StepResult",
    "TTRType",
    "TranscriptLine",
    "Ttr",
    "hookimpl",
    "read_transcript",
    "transcript_path",
]

# A library configures no handlers; the CLI does (house style §3.13).
logging.getLogger("lpbot").addHandler(logging.NullHandler())


#: public names imported on first use, so that ``import lpbot`` stays light (no sockets, HTTP or
#: scheduler libraries until a bot is built)
_LAZY = {
    "Bot": "lpbot.runtime.bot",
    "ConnectionState": "lpbot.client",
    "Conversation": "lpbot.client",
    "Config": "lpbot.runtime.config",
    "Counters": "lpbot.runtime.counters",
    **dict.fromkeys(("AcceptStatus", "ChatState", "ConversationState", "Role", "TTRType"),
                    "lpbot.protocol.names"),
    **dict.fromkeys(("BoundedHTTPServer", "BoundedRequestHandler", "ServerLimits"),
                    "lpbot.httpserver"),
    "JWT_PATTERN": "lpbot.redaction",
    "Redactor": "lpbot.redaction",
    "JobInfo": "lpbot.runtime.scheduler",
    "JobRun": "lpbot.runtime.scheduler",
    "PluginConfig": "lpbot.runtime.config",
    "Scheduler": "lpbot.runtime.scheduler",
    "StateChange": "lpbot.client",
    **dict.fromkeys(("RunResult", "StepResult", "TranscriptLine"), "lpbot.synthetic.results"),
    **dict.fromkeys(("AcceptStatusEvent", "ChatStateEvent", "ContentEvent", "ConversationDetails",
                     "MessagingEvent", "Participant", "RichContentEvent", "Ttr"), "lpbot.protocol"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("lpbot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
