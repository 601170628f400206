"""The Conversation handle: send, receipts, typing, TTR, CSAT, close, agent profile.

A handle has behaviour and is safe to use from any thread (house style §3.7); it holds no
state of its own besides the conversation id: :attr:`Conversation.state` is always the latest
snapshot the conversation stream reported. Every method blocks until the server answers and
returns the typed result, or raises a typed error (``RequestRejected``, ``RequestTimeout``,
``ConnectionClosed``).

Example:
    >>> with client.open_conversation(skill_id="sales") as conversation:  # doctest: +SKIP
    ...     sequence = conversation.send_text("Where is my order?")
    ...     conversation.set_chat_state("ACTIVE")
    ...     conversation.mark_read([sequence])
    ...     conversation.close()
    ...     conversation.rate(5, resolved=True)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lpbot.client.dialogs import is_messaging
from lpbot.client.files import download_file, file_to_send, upload_file
from lpbot.client.profiles import AgentProfile
from lpbot.protocol.events import (
    AcceptStatusEvent,
    ChatStateEvent,
    ContentEvent,
    Event,
    HostedFile,
    RichContentEvent,
)
from lpbot.protocol.fields import CloseConversation, CsatRate, TtrChange
from lpbot.protocol.names import ChatState, ConversationState, TTRType
from lpbot.protocol.notifications import ConversationDetails, MessagingEvent
from lpbot.protocol.requests import PublishEvent, UpdateConversationField
from lpbot.stash import Stash

if TYPE_CHECKING:
    from lpbot.client.client import Client

__all__ = ["Conversation"]


class Conversation:
    """A handle on one of the consumer's conversations.

    Get it from :meth:`Client.open_conversation` or :meth:`Client.conversation`; both hand out
    one object per conversation id, so :attr:`stash` keeps plugin state between events.
    Used as a context manager, it follows the conversation for the ``with`` block:
    ``__enter__`` subscribes, ``__exit__`` unsubscribes (:meth:`unsubscribe`; the conversation
    itself stays open: call :meth:`close` to close it).
    """

    __slots__ = ("_client", "conversation_id", "stash")

    def __init__(self, client: Client, conversation_id: str) -> None:
        self._client = client
        self.conversation_id = conversation_id
        #: The conversation's plugin state: the one per-conversation stash. It lives as long as
        #: the handle: :meth:`Client.conversation` hands out one handle per id, kept until the
        #: conversation has been closed for ``closed_retention`` seconds (300 by default), so
        #: late events (a CSAT after the close) still find it; then both are forgotten. It is
        #: in memory only: a restart starts with an empty stash.
        self.stash = Stash()

    def __repr__(self) -> str:
        return f"Conversation({self.conversation_id!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Conversation)
                and other.conversation_id == self.conversation_id
                and other._client is self._client)

    def __hash__(self) -> int:
        return hash(self.conversation_id)

    def __enter__(self) -> Conversation:
        self.subscribe()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    @property
    def id(self) -> str:
        """The conversation id (also the MAIN dialog id, protocol notes §7.3)."""
        return self.conversation_id

    @property
    def state(self) -> ConversationDetails | None:
        """The latest metadata snapshot (participants, state, TTR, CSAT ...), if reported."""
        return self._client.link.details(self.conversation_id)

    @property
    def is_open(self) -> bool:
        """True while the conversation's state is OPEN."""
        details = self.state
        return details is not None and details.state == ConversationState.OPEN

    @property
    def dialog_id(self) -> str:
        """Where messages go: an open non-MAIN messaging dialog (a survey) if any, else MAIN.

        A CoBrowse, voice or video dialog (channel ``COBROWSE``, §6.1 Example D) takes no
        messages, so it is never chosen.
        """
        details = self.state
        if details is not None:
            for dialog in details.dialogs:
                if (dialog.is_open and dialog.dialog_id != self.conversation_id
                        and is_messaging(dialog)):
                    return dialog.dialog_id
        return self.conversation_id

    @property
    def agent_id(self) -> str | None:
        """The ASSIGNED_AGENT participant, once an agent accepted the conversation."""
        details = self.state
        return None if details is None else details.assigned_agent_id

    # --- subscriptions ------------------------------------------------------------------

    def subscribe(self, *, timeout: float | None = None) -> None:
        """Deliver this conversation's events to ``on_message`` (resuming after the last seen).

        Returns once the server confirmed the subscription (or ``timeout`` passed).
        """
        self._follow(None, timeout)

    def follow_dialog(self, dialog_id: str, *, timeout: float | None = None) -> None:
        """Deliver the events of one more dialog of this conversation, such as a CoBrowse one.

        A CoBrowse, voice or video dialog carries no messages and is not followed unless
        asked here; its changes are reported as conversation changes anyway
        (:func:`lpbot.client.dialogs.cobrowse_dialogs`). Returns once the server confirmed
        the subscription (or ``timeout`` passed).
        """
        self._follow([dialog_id], timeout)

    def _follow(self, dialog_ids: list[str] | None, timeout: float | None) -> None:
        limit = self._client.options.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        for reply in self._client.streams.follow(self.conversation_id, dialog_ids):
            reply.wait(max(0.0, deadline - time.monotonic()))

    def unsubscribe(self) -> None:
        """Make the conversation quiet for this client until :meth:`subscribe` is called.

        None of its events reach ``on_message`` and none of its changes reach
        ``on_conversation``; its dialogs are not subscribed again on later connections, nor is
        a dialog that opens later (a survey); the client keeps only each dialog's last
        sequence, so :meth:`subscribe` resumes after the last event delivered and nothing is
        lost. :attr:`state` stays current. A dialog's message stream has no unsubscribe
        request (protocol notes §5.7): what the server still sends on the current connection is
        dropped and counted (``ClientStats.dropped_events``, ``dropped_changes``). Returns at
        once; sends nothing.
        """
        self._client.streams.unfollow(self.conversation_id)

    # --- publishing ---------------------------------------------------------------------

    def publish(self, event: Event, *, dialog_id: str | None = None,
                metadata: Iterable[Mapping[str, Any]] = (), timeout: float | None = None) -> int:
        """Publish any event (protocol notes §5.8); returns its sequence (0 for chat states)."""
        target = dialog_id or self.dialog_id
        request = PublishEvent(
            dialog_id=target, event=event, metadata=tuple(metadata),
            conversation_id=self.conversation_id if target != self.conversation_id else None)
        return self._client.request(request, timeout=timeout)

    def send_text(self, text: str, *, metadata: Iterable[Mapping[str, Any]] = (),
                  timeout: float | None = None) -> int:
        """Send a text message (§5.8.1); returns its sequence.

        Example:
            >>> conversation.send_text("hello")   # doctest: +SKIP
            3
        """
        return self.publish(ContentEvent.text_plain(text), metadata=metadata, timeout=timeout)

    def send_rich_content(self, content: Mapping[str, Any], *,
                          metadata: Iterable[Mapping[str, Any]] = (),
                          timeout: float | None = None) -> int:
        """Send structured content (§5.8.3), passed through intact; returns its sequence.

        Example:
            >>> conversation.send_rich_content({"type": "vertical", "elements": [
            ...     {"type": "text", "text": "Pick one"}]})   # doctest: +SKIP
            4
        """
        return self.publish(RichContentEvent(content=content), metadata=metadata,
                            timeout=timeout)

    def send_file(self, source: bytes | str | Path, *, file_type: str | None = None,
                  caption: str = "", metadata: Iterable[Mapping[str, Any]] = (),
                  timeout: float | None = None) -> int:
        """Upload a file (§5.9) and send it as a hosted file (§5.8.2); returns its sequence.

        ``source`` is a path (its suffix gives ``file_type`` unless given) or the bytes (then
        ``file_type`` is required). The documented limits (JPG, JPEG, PNG or GIF; 1 byte to
        3 MB) are checked before anything is sent: ``ValueError`` outside them.

        Example:
            >>> conversation.send_file("receipt.png", caption="receipt")   # doctest: +SKIP
            5
        """
        data, kind = file_to_send(source, file_type)
        limit = self._client.options.request_timeout if timeout is None else timeout
        path = upload_file(self._client, data, kind, timeout=limit)
        return self.publish(ContentEvent.hosted_file(path, kind, caption),
                            metadata=metadata, timeout=timeout)

    def fetch_file(self, file: MessagingEvent | HostedFile | str, *,
                   timeout: float | None = None) -> bytes:
        """The bytes of a hosted file (§5.9): of a file message, a ``HostedFile`` or a path.

        ``ValueError`` if the message is no hosted file.
        """
        if isinstance(file, MessagingEvent):
            event = file.event
            hosted = event.file if isinstance(event, ContentEvent) else None
            if hosted is None:
                raise ValueError("the message is not a hosted file")
            file = hosted
        path = file.relative_path if isinstance(file, HostedFile) else file
        limit = self._client.options.request_timeout if timeout is None else timeout
        return download_file(self._client, path, timeout=limit)

    def click(self, sequence: int, text: str | None, metadata: Iterable[Mapping[str, Any]], *,
              dialog_id: str | None = None, timeout: float | None = None) -> int:
        """Press a quick reply or button of the agent's message ``sequence`` (§5.8.6).

        Sends an ``ACTION`` receipt for the message with the button's ``metadata``, then the
        button's ``text`` with the same metadata (no text for a link button); returns the
        sequence of the last event sent.
        """
        meta = tuple(metadata)
        last = self.publish(AcceptStatusEvent(status="ACTION", sequence_list=(sequence,)),
                            dialog_id=dialog_id, metadata=meta, timeout=timeout)
        if text is not None:
            last = self.publish(ContentEvent.text_plain(text), dialog_id=dialog_id,
                                metadata=meta, timeout=timeout)
        return last

    def mark_accepted(self, sequences: Iterable[int], *, timeout: float | None = None) -> int:
        """Acknowledge delivery of the agent's messages ``sequences`` (§5.8.4 ``ACCEPT``)."""
        return self.publish(AcceptStatusEvent.accept(sequences), timeout=timeout)

    def mark_read(self, sequences: Iterable[int], *, timeout: float | None = None) -> int:
        """Mark the agent's messages ``sequences`` as read (§5.8.4 ``READ``)."""
        return self.publish(AcceptStatusEvent.read(sequences), timeout=timeout)

    def set_chat_state(self, chat_state: ChatState | str, *,
                       timeout: float | None = None) -> None:
        """Publish a chat state (§5.8.5): ``COMPOSING`` while typing, ``ACTIVE`` after.

        Example:
            >>> conversation.set_chat_state("COMPOSING")   # doctest: +SKIP
        """
        self.publish(ChatStateEvent(chat_state=chat_state), timeout=timeout)

    # --- conversation fields ------------------------------------------------------------

    def set_ttr(self, ttr_type: TTRType | str, value: int = 0, *,
                timeout: float | None = None) -> None:
        """Change the time-to-respond urgency (§5.4.5), e.g. ``set_ttr("URGENT", 300)``."""
        request = UpdateConversationField(
            conversation_id=self.conversation_id,
            fields=(TtrChange(ttr_type=ttr_type, value=value),))
        self._client.request(request, timeout=timeout)

    def close(self, *, timeout: float | None = None) -> None:
        """Close the conversation as the consumer (§5.4.1)."""
        request = UpdateConversationField(conversation_id=self.conversation_id,
                                          fields=(CloseConversation(),))
        self._client.request(request, timeout=timeout)

    def rate(self, rate: int, *, resolved: bool, status: str = "FILLED",
             timeout: float | None = None) -> None:
        """Submit the legacy CSAT (§5.4.4; 1-5) after the conversation was closed.

        Example:
            >>> conversation.rate(5, resolved=True)   # doctest: +SKIP
        """
        if not 1 <= rate <= 5:
            raise ValueError("CSAT rate must be 1..5")
        request = UpdateConversationField(
            conversation_id=self.conversation_id,
            fields=(CsatRate(rate=rate, resolution_confirmation=resolved, status=status),))
        self._client.request(request, timeout=timeout)

    def agent_profile(self, *, timeout: float | None = None) -> AgentProfile | None:
        """The assigned agent's public profile (§5.13), or ``None`` before an agent accepted."""
        agent_id = self.agent_id
        if agent_id is None:
            return None
        return self._client.agent_profile(agent_id, timeout=timeout)
