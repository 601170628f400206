"""What the console page sees: plain JSON views of conversations and events.

Built from the world's live objects while the caller holds the world's lock, so each view is a
consistent copy; the page keeps its own state from a snapshot plus the changes after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import Conversation, StoredEvent

__all__ = ["conversation_view", "event_view"]


def event_view(stored: StoredEvent) -> dict[str, Any]:
    """One stored event as the page reads it (the event itself is as on the wire)."""
    return {
        "conversationId": stored.conversation_id,
        "dialogId": stored.dialog_id,
        "sequence": stored.sequence,
        "originatorId": stored.originator_id,
        "role": stored.role,
        "serverTimestamp": stored.server_timestamp,
        "event": dict(stored.event),
    }


def conversation_view(
    conversation: Conversation,
    *,
    names: Mapping[str, str],
    person_id: str,
    events: bool = False,
) -> dict[str, Any]:
    """A conversation's metadata (and, with ``events``, every event of every dialog).

    ``names`` maps agent ids to nicknames; ``person_id`` is the console person's agent id, so
    the page can tell its own conversations from those the simulated agents hold.
    """
    agent_id = conversation.agent_id
    view: dict[str, Any] = {
        "conversationId": conversation.conversation_id,
        "consumerId": conversation.consumer_id,
        "state": conversation.state,
        "stage": conversation.stage,
        "closeReason": conversation.close_reason,
        "skillId": conversation.skill_id,
        "ttr": {"ttrType": conversation.ttr_type, "value": conversation.ttr_value},
        "csat": dict(conversation.csat) if conversation.csat is not None else None,
        "startTs": conversation.start_ts,
        "endTs": conversation.end_ts,
        "participants": [
            {"id": pid, "role": role, "name": names.get(pid)}
            for pid, role in conversation.participants
        ],
        "agentId": agent_id,
        "agentName": names.get(agent_id) if agent_id is not None else None,
        "mine": agent_id is not None and agent_id == person_id,
        "waiting": conversation.is_open and agent_id is None,
        "dialogs": [
            {"dialogId": d.dialog_id, "dialogType": d.dialog_type, "state": d.state}
            for d in conversation.dialogs.values()
        ],
    }
    if events:
        view["events"] = [
            event_view(stored) for d in conversation.dialogs.values() for stored in d.events
        ]
    return view
