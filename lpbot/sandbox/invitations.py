"""CoBrowse, voice and video dialogs: an agent's invitation inside a conversation (§6.1 Ex. D).

An agent invites the consumer to a co-browsing session or a call; the conversation gains a dialog
of type ``OTHER`` on channel ``COBROWSE`` whose ``metaData`` carries the session (``serviceId``,
``mode``, ``expires`` in epoch *seconds* as the example shows, ``sessionState``). The invitation
expires after two minutes unless accepted; the dialog closes with the session, or with the MAIN
dialog. The docs require the consumer to have declared ``CO_BROWSE`` (§6.1); a strict sandbox
refuses an invitation otherwise. No content is published in such a dialog (rule
``messaging-dialog``).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Final

from lpbot.protocol.names import Role

from .model import Conversation, Dialog, now_ms
from .world import World

__all__ = ["INVITATION_LIFETIME", "INVITATION_MODES", "SESSION_STATES", "Invitations"]

#: what an invitation opens, and the ``metaData.mode`` it carries (§6.1)
INVITATION_MODES: Final = {
    "cobrowse": "shared",
    "cobrowse-view": "view",
    "cobrowse-follow": "follow",
    "voice": "VOICE_CALL",
    "video": "VIDEO_CALL",
}
SESSION_STATES: Final = ("INVITED", "ACCEPTED", "CLOSED")
#: seconds before an unanswered invitation expires (§6.1: two minutes)
INVITATION_LIFETIME: Final = 120.0


class Invitations:
    """Opens and ends CoBrowse / voice / video dialogs (event-loop thread only)."""

    def __init__(
        self, world: World, *, strict: bool = True, lifetime: float = INVITATION_LIFETIME
    ) -> None:
        self.world = world
        self.strict = strict
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lifetime = lifetime

    def invite(self, conversation: Conversation, kind: str = "cobrowse") -> Dialog:
        """Open an invitation dialog of ``kind`` (a key of :data:`INVITATION_MODES`).

        Raises:
            ValueError: unknown kind, a conversation that is not open or has no agent, or (when
                strict) a consumer that did not declare ``CO_BROWSE``.
        """
        mode = INVITATION_MODES.get(kind)
        if mode is None:
            raise ValueError(f"kind must be one of {', '.join(INVITATION_MODES)}, not {kind!r}")
        if not conversation.is_open:
            raise ValueError(f"conversation {conversation.conversation_id} is closed")
        agent_id = conversation.agent_id
        if agent_id is None:
            raise ValueError("only an assigned agent invites: accept the conversation first")
        if self.strict and "CO_BROWSE" not in conversation.features:
            raise ValueError(
                "the consumer did not declare the CO_BROWSE feature (protocol notes §6.1); "
                "a lenient sandbox invites anyway"
            )
        dialog_id = str(uuid.uuid4())
        created = now_ms()
        dialog = Dialog(
            dialog_id=dialog_id,
            conversation_id=conversation.conversation_id,
            dialog_type="OTHER",
            channel_type="COBROWSE",
            participants=[
                (conversation.consumer_id, Role.CONSUMER.value),
                (agent_id, Role.ASSIGNED_AGENT.value),
            ],
            creation_ts=created,
            meta_data_last_update_ts=created,
            meta_data={
                "serviceId": f"{conversation.consumer_id}#{uuid.uuid4()}",
                "mode": mode,
                "expires": (created / 1000) + self.lifetime,
                "sessionState": "INVITED",
                "dialogId": dialog_id,
            },
        )
        with self.world.lock:
            self.world.add_dialog(conversation, dialog)
            self.world.conversation_changed(conversation)
        if self.loop is not None:
            self.loop.call_later(self.lifetime, self._expire, conversation, dialog)
        return dialog

    def set_state(self, conversation: Conversation, dialog_id: str, state: str) -> None:
        """Move the session to ``ACCEPTED`` or ``CLOSED`` (which closes the dialog)."""
        if state not in SESSION_STATES[1:]:
            raise ValueError(f"state must be ACCEPTED or CLOSED, not {state!r}")
        dialog = conversation.dialogs.get(dialog_id)
        if dialog is None or dialog.channel_type != "COBROWSE":
            raise KeyError(f"no invitation dialog {dialog_id} in {conversation.conversation_id}")
        if not dialog.is_open:
            raise ValueError(f"dialog {dialog_id} is closed")
        self._change(conversation, dialog, state, "Closed by agent")

    def _expire(self, conversation: Conversation, dialog: Dialog) -> None:
        meta = dialog.meta_data or {}
        if dialog.is_open and meta.get("sessionState") == "INVITED":
            self._change(conversation, dialog, "CLOSED", "Invitation expired")

    def _change(self, conversation: Conversation, dialog: Dialog, state: str, cause: str) -> None:
        with self.world.lock:
            dialog.meta_data = {**(dialog.meta_data or {}), "sessionState": state}
            dialog.meta_data_last_update_ts = now_ms()
            if state == "CLOSED":
                self.world.close_dialog(dialog, closed_by="AGENT", cause=cause)
            self.world.conversation_changed(conversation)
