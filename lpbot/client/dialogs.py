"""CoBrowse, voice and video dialogs: what they are, and which of them changed.

A conversation carries its messages in its messaging dialog: MAIN, or the post-conversation
survey (``POST_SURVEY``) while that one is open (protocol notes §6.1 Example C, §7.3). An agent may
also open a dialog of channel ``COBROWSE`` (§6.1 Example D): a co-browsing session (mode
``shared``, ``view`` or ``follow``), a voice call (``VOICE_CALL``) or a video call
(``VIDEO_CALL``), whose invitation the consumer accepts or lets expire. Such a dialog takes no
messages: the client never sends to it nor follows it as a message stream; it is reported as a
:class:`CoBrowseDialog` instead (the runtime's ``lpbot_cobrowse_dialog`` hook).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from lpbot.protocol.names import ConversationState
from lpbot.protocol.notifications import ConversationDetails, Dialog

__all__ = ["MESSAGING_CHANNELS", "CoBrowseDialog", "changed_cobrowse_dialogs",
           "cobrowse_dialogs", "is_messaging"]

#: channel types whose dialogs carry messages (``None``: a server that does not say)
MESSAGING_CHANNELS: Final = frozenset({None, "MESSAGING"})

_KINDS: Final = {"VOICE_CALL": "voice", "VIDEO_CALL": "video"}


def is_messaging(dialog: Dialog) -> bool:
    """True for a dialog that carries messages (MAIN, a survey), False for CoBrowse & co."""
    return dialog.channel_type in MESSAGING_CHANNELS


@dataclass(frozen=True, slots=True, kw_only=True)
class CoBrowseDialog:
    """A CoBrowse, voice or video dialog of a conversation, as last reported (§6.1 Example D).

    Attributes:
        conversation_id: the conversation it belongs to.
        dialog_id: its own id (never the conversation's).
        kind: ``"cobrowse"``, ``"voice"`` or ``"video"`` (from ``metaData.mode``).
        mode: ``shared``, ``view``, ``follow``, ``VOICE_CALL`` or ``VIDEO_CALL``.
        session_state: ``INVITED``, ``ACCEPTED`` or ``CLOSED`` (``metaData.sessionState``).
        state: the dialog's ``OPEN`` / ``CLOSE``.
        expires: when an invitation expires, epoch seconds (two minutes after it is sent).
        service_id: ``metaData.serviceId``, what a CoBrowse or call client joins with.
        meta_data: the whole ``metaData`` as received.
    """

    conversation_id: str
    dialog_id: str
    kind: Literal["cobrowse", "voice", "video"]
    mode: str | None = None
    session_state: str | None = None
    state: ConversationState | str | None = None
    expires: float | None = None
    service_id: str | None = None
    meta_data: Mapping[str, Any] | None = None

    @property
    def is_open(self) -> bool:
        """True while the dialog is OPEN."""
        return self.state == ConversationState.OPEN

    @classmethod
    def from_dialog(cls, conversation_id: str, dialog: Dialog) -> CoBrowseDialog:
        """Read one non-messaging ``dialogs[]`` element."""
        meta = dialog.meta_data or {}
        mode = meta.get("mode") if isinstance(meta.get("mode"), str) else None
        expires = meta.get("expires")
        service = meta.get("serviceId")
        session = meta.get("sessionState")
        kind: Any = _KINDS.get(mode or "", "cobrowse")
        return cls(
            conversation_id=conversation_id, dialog_id=dialog.dialog_id, kind=kind, mode=mode,
            session_state=session if isinstance(session, str) else None, state=dialog.state,
            expires=float(expires) if isinstance(expires, int | float)
            and not isinstance(expires, bool) else None,
            service_id=service if isinstance(service, str) else None,
            meta_data=dialog.meta_data)


def cobrowse_dialogs(details: ConversationDetails | None) -> list[CoBrowseDialog]:
    """The conversation's CoBrowse, voice and video dialogs, in the server's order."""
    if details is None or details.conversation_id is None:
        return []
    return [CoBrowseDialog.from_dialog(details.conversation_id, d) for d in details.dialogs
            if not is_messaging(d)]


def changed_cobrowse_dialogs(previous: ConversationDetails | None,
                             current: ConversationDetails) -> list[CoBrowseDialog]:
    """The CoBrowse dialogs of ``current`` that are new or changed since ``previous``."""
    before = {d.dialog_id: d for d in cobrowse_dialogs(previous)}
    return [d for d in cobrowse_dialogs(current) if before.get(d.dialog_id) != d]
