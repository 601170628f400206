"""The ``activity`` plugin: one readable log line per thing that happens.

Enabled by name (``[plugins] enabled = ["activity"]``); the embedded default turns it on, so
``lpbot run`` shows conversations opening, agents joining, messages both ways, CSAT and closes.
It uses only the public ``lpbot`` API, like any plugin. Lines go to the ``lpbot.activity``
logger at INFO, so they follow the chosen log format and pass through redaction.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from lpbot import ContentEvent, LpError, RichContentEvent, Role, StashKey, hookimpl

if TYPE_CHECKING:
    from lpbot import (
        Conversation,
        ConversationDetails,
        MessagingEvent,
        Participant,
        PluginConfig,
        Ttr,
    )

__all__ = [
    "lpbot_configure",
    "lpbot_conversation_changed",
    "lpbot_conversation_closed",
    "lpbot_conversation_opened",
    "lpbot_message_received",
    "lpbot_participant_joined",
    "lpbot_ttr_changed",
]

#: the logger's name is part of the interface (log filters, tests), wherever the module lives
log = logging.getLogger("lpbot.activity")

#: agent id -> display name, per conversation
NICKNAMES: Final = StashKey[dict[str, str]]()
#: longest message text shown
MAX_TEXT: Final = 200
_AGENTS: Final = frozenset({Role.ASSIGNED_AGENT, Role.AGENT, Role.MANAGER})


def _short(conversation: Conversation) -> str:
    return conversation.id[:8]


def _agent_name(conversation: Conversation, agent_id: str | None) -> str:
    if agent_id is None:
        return "agent"
    names = conversation.stash.setdefault(NICKNAMES, {})
    if agent_id not in names:
        try:
            profile = conversation.agent_profile()
        except LpError as exc:
            log.debug("no profile for agent %s: %s", agent_id, exc)
            profile = None
        nickname = profile.nickname if profile is not None else None
        names[agent_id] = f"agent {nickname}" if nickname else "agent"
    return names[agent_id]


@hookimpl
def lpbot_configure(config: PluginConfig) -> None:
    """Refuse options: this plugin has none."""
    for key in config.table:
        raise config.error(key, "the activity plugin takes no options")


@hookimpl
def lpbot_conversation_opened(conversation: Conversation) -> None:
    """``[1a2b3c4d] conversation opened``."""
    log.info("[%s] conversation opened", _short(conversation))


@hookimpl
def lpbot_participant_joined(conversation: Conversation, participant: Participant) -> None:
    """``[1a2b3c4d] agent Alice joined``."""
    if participant.role in _AGENTS:
        log.info("[%s] %s joined as %s", _short(conversation),
                 _agent_name(conversation, participant.id), participant.role)


@hookimpl
def lpbot_message_received(conversation: Conversation, message: MessagingEvent) -> None:
    """``[1a2b3c4d] consumer: Hello!`` and ``[1a2b3c4d] agent Alice: Hi, I'm Alice.``."""
    event = message.event
    if isinstance(event, ContentEvent):
        text = event.text if event.text is not None else f"[{event.content_type}]"
    elif isinstance(event, RichContentEvent):
        text = "[rich content]"
    else:
        return
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "..."
    who = ("consumer" if message.role == Role.CONSUMER
           else _agent_name(conversation, message.originator_id))
    log.info("[%s] %s: %s", _short(conversation), who, text)


@hookimpl
def lpbot_ttr_changed(conversation: Conversation, ttr: Ttr, previous: Ttr | None) -> None:
    """``[1a2b3c4d] TTR URGENT (300 s)`` when it changes after the conversation opened."""
    if previous is not None:
        log.info("[%s] TTR %s (%d s)", _short(conversation), ttr.ttr_type, ttr.value)


@hookimpl
def lpbot_conversation_changed(conversation: Conversation, previous: ConversationDetails | None,
                               current: ConversationDetails) -> None:
    """``[1a2b3c4d] CSAT 5/5, resolved`` when a rating arrives."""
    csat = current.csat
    if csat is not None and (previous is None or previous.csat != csat):
        confirmed = csat.resolution_confirmation
        resolved = "" if confirmed is None else ", resolved" if confirmed else ", not resolved"
        log.info("[%s] CSAT %d/5%s", _short(conversation), csat.rate, resolved)


@hookimpl
def lpbot_conversation_closed(conversation: Conversation, closed_by: str | None) -> None:
    """``[1a2b3c4d] conversation closed by CONSUMER``."""
    log.info("[%s] conversation closed%s", _short(conversation),
             f" by {closed_by}" if closed_by else "")
