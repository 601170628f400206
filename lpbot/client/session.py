"""The client's protocol logic without I/O: subscriptions, resume, de-duplication, close codes.

:class:`Session` is fed decoded notifications and subscription outcomes and answers with the
requests to send and the events to deliver (websockets' sans-I/O model): no sockets, no threads,
no clock, so its guarantees are unit-tested (with hypothesis) in microseconds.

Guarantees, per dialog:

* **resume** — on every new socket the conversation stream is subscribed again; each followed
  OPEN dialog is subscribed from ``last seen + 1`` (protocol notes §5.7: ``fromSeq`` returns events
  with ``sequence >= fromSeq``; §7.1 step 4a), and a CLOSE dialog we were following is
  subscribed once more to fetch what arrived while we were away;
* **exactly once, in order** — a sequenced event is delivered only when it is the next one of
  its dialog (``last + 1``; 0 for a dialog never seen, §7.4); a repeat (backlog overlap, a
  second subscription) is dropped and counted. A jump triggers one re-subscription from the
  expected sequence before the jump is accepted as a real hole (and counted as a gap);
* chat states carry no sequence (§5.8.5) and are delivered as they come.

**Retention** — :meth:`Session.prune` forgets a conversation whose dialogs have all been
closed for the retention, with its dialogs, so a consumer that runs for months keeps only its
open and recently closed conversations. A forgotten dialog's last sequence is kept in a bounded
tombstone (:data:`FORGOTTEN_LIMIT` dialogs): a snapshot that reports the conversation open
again, or an explicit ``follow``, brings the dialog back and resumes after that sequence
instead of from 0, so nothing repeats.

**Quiet conversations** — a conversation that was unfollowed (:meth:`Session.unfollow`) or
forgotten is quiet: its dialogs are not subscribed on later sockets, its events and changes
are dropped and counted (``dropped_events``, ``dropped_changes``), and no per-dialog state is
kept for it (its dialogs go to the tombstone). An unfollowed conversation's metadata is still
kept (``conversations``), so its state stays current; a forgotten one is not known at all
until a snapshot reports it open again. Only an explicit ``follow`` ends the quiet. The
messaging stream has no unsubscribe (protocol notes §5.7), hence the dropping.

:func:`classify` maps close codes, handshake statuses and errors to a :class:`Recovery` in one
table, citing protocol notes §3.5 on each row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

from lpbot.client.dialogs import is_messaging
from lpbot.client.tombstone import Forgotten, Tombstone
from lpbot.errors import AuthError, CertificateError, ConfigError, IdentityRefused
from lpbot.protocol.names import CloseCode, ConversationState, Role
from lpbot.protocol.notifications import (
    ConversationChange,
    ConversationDetails,
    ExConversationChangeNotification,
    MessagingEvent,
    MessagingEventNotification,
)
from lpbot.protocol.requests import SubscribeExConversations, SubscribeMessagingEvents

__all__ = [
    "FORGOTTEN_LIMIT",
    "Pruned",
    "Recovery",
    "Session",
    "SessionStats",
    "classify",
    "resume_from",
]

log = logging.getLogger(__name__)

#: forgotten dialogs whose last sequence is remembered (a few MB at most); the oldest beyond
#: it are dropped for good, and their committed sequences with them
FORGOTTEN_LIMIT: Final = 10_000


class Recovery(StrEnum):
    """What to do after a socket ended or failed to open."""

    REFRESH_TOKEN = "refresh-token"  # noqa: S105 - a name, not a secret; new token from the provider, then reconnect
    RENEW_IDENTITY = "renew-identity"    # unauthenticated identity expired: ACR0 refresh, or signup
    RATE_LIMITED = "rate-limited"        # wait at least the documented minimum, then reconnect
    BACKOFF = "backoff"                  # wait the backoff delay, then reconnect
    FATAL = "fatal"                      # retrying cannot help (bad account, bad config)
    STOP = "stop"                        # we closed it ourselves


# (close code) -> recovery. Codes not listed: "any other: wait a short while and reconnect with
# the same token" (protocol notes §3.5).
_CLOSE_TABLE: Mapping[int, Recovery] = {
    CloseCode.TOKEN_EXPIRED_AUTHENTICATED: Recovery.REFRESH_TOKEN,    # §3.5/§2.5: 4401 fresh token
    CloseCode.TOKEN_EXPIRED_UNAUTHENTICATED: Recovery.RENEW_IDENTITY,  # §3.5/§2.5: 4407 renew
    CloseCode.POLICY_VIOLATION: Recovery.REFRESH_TOKEN,   # §3.5: 1008 is an auth error (lpTag)
    # §3.5: 1011 is listed as an auth issue for the *agent* SDK only; on the consumer socket it
    # is an internal error, and renewing an unauthenticated identity would lose the consumer.
    CloseCode.INTERNAL_ERROR: Recovery.BACKOFF,
    # §3.5: 1006 covers idle close and (known issue) token revocation; a revoked token shows
    # up as HTTP 401 on the next handshake, which refreshes it.
    CloseCode.ABNORMAL: Recovery.BACKOFF,
}


def classify(
    *,
    close_code: int | None = None,
    http_status: int | None = None,
    error: BaseException | None = None,
    authenticated: bool = True,
) -> Recovery:
    """Decide how to recover from a close, a refused handshake or an error (protocol notes §3.5).

    Args:
        close_code: the WebSocket close code, when the socket was closed with one.
        http_status: the HTTP status of a refused upgrade.
        error: the exception that ended the attempt, if any.
        authenticated: whether the identity is authenticated (a refused token is then
            refreshed from the provider, otherwise the unauthenticated identity is renewed).
    """
    if http_status is not None:
        if http_status == 401:  # §3.5: bad/expired token at the upgrade -> re-login
            return Recovery.REFRESH_TOKEN if authenticated else Recovery.RENEW_IDENTITY
        if http_status == 429:  # §4.2: retry after >= 1 s, avoid bursts
            return Recovery.RATE_LIMITED
        if http_status >= 500 or http_status == 408:  # §3.5: 5xx -> 5, 10, 15 s then longer
            return Recovery.BACKOFF
        if 400 <= http_status < 500:  # §3.5: other 4xx -> do not retry, fix the request
            return Recovery.FATAL
        return Recovery.BACKOFF
    if isinstance(error, ConfigError | CertificateError | IdentityRefused):
        return Recovery.FATAL  # trust is configuration, too; the IDP said no for good
    if isinstance(error, AuthError):
        # The IDP refused us (4xx) or the provider failed; retrying with backoff lets a
        # provider recover (a vault restarting) without a tight loop.
        return Recovery.BACKOFF
    if close_code is not None:
        return _CLOSE_TABLE.get(close_code, Recovery.BACKOFF)
    return Recovery.BACKOFF  # network errors: §3.5 "wait a short while and reconnect"


def resume_from(last_seen: int | None) -> int:
    """``fromSeq`` for a dialog whose last seen sequence is ``last_seen`` (§5.7, §7.1)."""
    return 0 if last_seen is None else last_seen + 1


@dataclass(slots=True)
class SessionStats:
    """Counters of the session's decisions (exposed through ``Client.stats``)."""

    delivered: int = 0
    duplicates: int = 0
    gaps: int = 0
    resyncs: int = 0
    #: events of unfollowed or forgotten conversations, not delivered
    dropped_events: int = 0
    #: conversation changes of unfollowed or forgotten conversations, not delivered
    dropped_changes: int = 0
    stale_conversations: int = 0


@dataclass(slots=True)
class _Dialog:
    conversation_id: str
    last_seen: int | None = None
    open: bool = True
    subscribed: bool = False         # on the current socket
    caught_up: bool = False          # a CLOSE dialog fetched once after a reconnect
    resync_from: int | None = None   # a gap re-subscription is pending from this sequence
    resync_answered: bool = False
    orphan_since: float | None = None  # first prune that found its conversation unknown


@dataclass(slots=True)
class Pruned:
    """What :meth:`Session.prune` forgot."""

    #: conversations no longer known (their handles may go too)
    conversations: list[str] = field(default_factory=list)
    #: dialogs forgotten now (their last sequence is remembered in the tombstone)
    dialogs: list[str] = field(default_factory=list)
    #: dialogs dropped from the tombstone: their committed sequences can be deleted
    evicted: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EventsResult:
    """What :meth:`Session.on_events` decided."""

    deliver: list[MessagingEvent] = field(default_factory=list)
    requests: list[SubscribeMessagingEvents] = field(default_factory=list)


@dataclass(slots=True)
class ConversationsResult:
    """What :meth:`Session.on_conversations` decided."""

    changes: list[ConversationChange] = field(default_factory=list)
    requests: list[SubscribeMessagingEvents] = field(default_factory=list)


class Session:
    """Subscription and sequence bookkeeping for one consumer (not thread-safe: lock it).

    Example:
        >>> session = Session("consumer-1", committed={"conv-1": 4})
        >>> session.connected().conv_state
        ('OPEN', 'CLOSE')
        >>> session.follow("conv-1", "conv-1").from_seq
        5
    """

    def __init__(
        self,
        consumer_id: str,
        *,
        committed: Mapping[str, int] | None = None,
        auto_follow: bool = True,
        forgotten_limit: int = FORGOTTEN_LIMIT,
    ) -> None:
        self.consumer_id = consumer_id
        self.auto_follow = auto_follow
        self.stats = SessionStats()
        self.conversations: dict[str, ConversationDetails] = {}
        self.subscription_id: str | None = None
        self._dialogs: dict[str, _Dialog] = {}
        self._followed: set[str] = set()
        self._closed_since: dict[str, float] = {}  # conversation -> when it was seen finished
        self._tomb = Tombstone(forgotten_limit)  # forgotten dialogs, quiet conversations
        for dialog_id, sequence in (committed or {}).items():
            # The conversation id is not persisted; it is learned from the stream (for the
            # main dialog, it is the dialog id itself, §7.3).
            self._dialogs[dialog_id] = _Dialog(conversation_id=dialog_id, last_seen=sequence,
                                               open=False)

    # --- socket lifecycle ---------------------------------------------------------------

    def connected(self) -> SubscribeExConversations:
        """A new socket is up: forget its subscriptions; subscribe the conversation stream."""
        self.subscription_id = None
        for dialog in self._dialogs.values():
            dialog.subscribed = False
            dialog.resync_from = None
            dialog.resync_answered = False
        return SubscribeExConversations()

    def conversations_subscribed(self, subscription_id: str) -> None:
        """The conversation stream subscription was accepted."""
        self.subscription_id = subscription_id

    # --- conversation metadata ----------------------------------------------------------

    def on_conversations(self, notification: ExConversationChangeNotification) -> (
            ConversationsResult):
        """Update the conversation map; subscribe every followed dialog not yet subscribed."""
        result = ConversationsResult()
        stats = self.stats
        for change in notification.changes:
            conversation_id = change.conversation_id
            details = change.details
            if self._tomb.is_gone(conversation_id):
                if details is None or change.change_type == "DELETE" or not (
                        details.open_dialog_ids):
                    stats.dropped_changes += 1  # forgotten, and not open again
                    continue
                self._tomb.reopened(conversation_id)
            quiet = self._tomb.is_unfollowed(conversation_id)
            if change.change_type == "DELETE" or details is None:
                self.conversations.pop(conversation_id, None)
                self._closed_since.pop(conversation_id, None)
                if quiet:
                    stats.dropped_changes += 1
                else:
                    result.changes.append(change)
                continue
            known = self.conversations.get(conversation_id)
            if (known is not None and known.meta_data_last_update_ts is not None
                    and details.meta_data_last_update_ts is not None
                    and details.meta_data_last_update_ts < known.meta_data_last_update_ts):
                # §5.5: notification order is not guaranteed; drop the older snapshot.
                self.stats.stale_conversations += 1
                continue
            self.conversations[conversation_id] = details
            if quiet:
                stats.dropped_changes += 1
                continue
            result.changes.append(change)
            result.requests.extend(self._follow_dialogs(conversation_id, details))
        return result

    def _follow_dialogs(self, conversation_id: str, details: ConversationDetails) -> (
            list[SubscribeMessagingEvents]):
        requests: list[SubscribeMessagingEvents] = []
        open_ids = set(details.open_dialog_ids)
        # Only dialogs that carry messages: a CoBrowse, voice or video dialog (§6.1 Example D)
        # has no events to follow, unless it was asked for (Conversation.follow_dialog).
        dialog_ids = [d.dialog_id for d in details.dialogs
                      if is_messaging(d) or d.dialog_id in self._followed] or [conversation_id]
        for dialog_id in dialog_ids:
            dialog = self._dialogs.get(dialog_id)
            is_open = dialog_id in open_ids
            if dialog is None:
                gone = self._tomb.get(dialog_id)
                if not is_open or (gone is not None and gone.muted):
                    # Never followed, forgotten after it closed (its tail was caught up then),
                    # or unfollowed: nothing to fetch.
                    continue
                dialog = self._new_dialog(dialog_id, conversation_id)
            dialog.conversation_id = conversation_id
            was_open, dialog.open = dialog.open, is_open
            if dialog.subscribed:
                continue
            if not (self.auto_follow or dialog_id in self._followed):
                continue
            if not is_open:
                # A dialog we followed closed while we were away: fetch its tail once.
                if dialog.caught_up or (not was_open and dialog.last_seen is None):
                    continue
                dialog.caught_up = True
            requests.append(self._subscribe(dialog_id, dialog))
        return requests

    def _subscribe(self, dialog_id: str, dialog: _Dialog) -> SubscribeMessagingEvents:
        dialog.subscribed = True
        conversation_id = dialog.conversation_id if dialog.conversation_id != dialog_id else None
        return SubscribeMessagingEvents(dialog_id=dialog_id, from_seq=resume_from(
            dialog.last_seen), conversation_id=conversation_id)

    # --- explicit subscriptions (the Conversation handle) --------------------------------

    def follow(self, dialog_id: str, conversation_id: str, *,
               subscribe: bool = True) -> SubscribeMessagingEvents | None:
        """Follow a dialog explicitly; returns the request when it is not subscribed yet.

        With ``subscribe=False`` (no socket is ready) the dialog is only marked as followed:
        the next socket's conversation snapshot subscribes it.
        """
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            dialog = self._new_dialog(dialog_id, conversation_id)
        self._followed.add(dialog_id)
        self._tomb.follow(conversation_id)
        dialog.conversation_id = conversation_id
        if dialog.subscribed or not subscribe:
            return None
        return self._subscribe(dialog_id, dialog)

    def unfollow(self, conversation_id: str) -> None:
        """Make a conversation quiet until it is followed again (module docstring).

        Its dialogs' last sequences go to the tombstone, so a later :meth:`follow` resumes
        after them; the events dropped meanwhile are fetched then.
        """
        self._tomb.unfollow(conversation_id)
        ids = {*self.dialogs_of(conversation_id),
               *(d for d, state in self._dialogs.items()
                 if state.conversation_id == conversation_id)}
        for dialog_id in ids:
            dialog = self._dialogs.pop(dialog_id, None)
            gone = self._tomb.get(dialog_id)
            last_seen = (dialog.last_seen if dialog is not None
                         else gone.last_seen if gone is not None else None)
            self._followed.discard(dialog_id)
            self._tomb.bury(dialog_id, Forgotten(last_seen, followed=False, muted=True))

    def is_followed(self, dialog_id: str) -> bool:
        """True when events of ``dialog_id`` are delivered."""
        dialog = self._dialogs.get(dialog_id)
        return dialog is not None and (self.auto_follow or dialog_id in self._followed)

    def subscription_failed(self, dialog_id: str) -> None:
        """A SubscribeMessagingEvents was rejected: allow a later attempt on this socket."""
        dialog = self._dialogs.get(dialog_id)
        if dialog is not None:
            dialog.subscribed = False
            dialog.resync_from = None

    def subscription_answered(self, dialog_id: str) -> None:
        """A SubscribeMessagingEvents was accepted (its backlog notification comes next)."""
        dialog = self._dialogs.get(dialog_id)
        if dialog is not None and dialog.resync_from is not None:
            dialog.resync_answered = True

    # --- messaging events ---------------------------------------------------------------

    def on_events(self, notification: MessagingEventNotification) -> EventsResult:
        """Decide which events to deliver (exactly once, in order) and what to re-subscribe."""
        result = EventsResult()
        deliver = result.deliver
        dialogs = self._dialogs
        for event in notification.changes:
            dialog_id = event.dialog_id
            dialog = dialogs.get(dialog_id)
            if dialog is None and (dialog_id in self._tomb
                                   or self._tomb.is_unfollowed(event.conversation_id)):
                self.stats.dropped_events += 1  # quiet: only an explicit follow resumes it
                continue
            if event.role is None or event.conversation_id is None:
                event = self._complete(event, dialog)
            sequence = event.sequence
            if sequence is None:  # chat state (§5.8.5): unsequenced, delivered as it comes
                deliver.append(event)
                continue
            if dialog is None:
                dialog = self._new_dialog(dialog_id, event.conversation_id or dialog_id)
            # Sequences start at 0 (§7.4) and a new dialog is subscribed from 0, so the first
            # expected sequence of a dialog never seen is 0.
            last = dialog.last_seen
            expected = 0 if last is None else last + 1
            if sequence != expected:
                if sequence < expected:
                    self.stats.duplicates += 1
                    continue
                if not self._accept_gap(dialog_id, dialog, result):
                    continue
            dialog.last_seen = sequence
            dialog.resync_from = None
            dialog.resync_answered = False
            deliver.append(event)
        self.stats.delivered += len(deliver)
        return result

    def _complete(self, event: MessagingEvent, dialog: _Dialog | None) -> MessagingEvent:
        """Fill in what a documented shape leaves out: the conversation and the role.

        protocol notes §6.2's first example and the older single-event body (§6.3) carry neither
        ``conversationId`` nor ``originatorMetadata``: the conversation is the dialog's, and the
        originator's role is the one the conversation's participants give it (the dialog's own
        participants first, since one agent can be ASSIGNED_AGENT and READER at once, §6.1
        Example C).
        """
        conversation_id = event.conversation_id
        if conversation_id is None:
            conversation_id = dialog.conversation_id if dialog is not None else None
            if conversation_id is None and event.dialog_id in self.conversations:
                conversation_id = event.dialog_id  # the MAIN dialog's id is the conversation's
        role = event.role
        originator = event.originator_id
        if role is None and originator is not None:
            if originator == self.consumer_id:
                role = Role.CONSUMER
            else:
                role = self._participant_role(conversation_id, event.dialog_id, originator)
        if role is event.role and conversation_id == event.conversation_id:
            return event
        return replace(event, role=role, conversation_id=conversation_id)

    def _participant_role(self, conversation_id: str | None, dialog_id: str,
                          originator: str) -> Role | str | None:
        details = self.conversations.get(conversation_id) if conversation_id else None
        if details is None:
            return None
        for dialog in details.dialogs:
            if dialog.dialog_id == dialog_id:
                for participant in dialog.participants:
                    if participant.id == originator and participant.role:
                        return participant.role
        for participant in details.participants:
            if participant.id == originator and participant.role:
                return participant.role
        return None

    def _accept_gap(self, dialog_id: str, dialog: _Dialog, result: EventsResult) -> bool:
        expected = resume_from(dialog.last_seen)
        if dialog.resync_from == expected:
            if not dialog.resync_answered:
                return False  # the re-subscription's backlog has not arrived yet: drop
            self.stats.gaps += 1
            log.warning("dialog %s: sequence gap after %s confirmed by a re-subscription",
                        dialog_id, dialog.last_seen)
            return True
        self.stats.resyncs += 1
        log.info("dialog %s: sequence jump after %s, re-subscribing", dialog_id, dialog.last_seen)
        dialog.resync_from = expected
        dialog.resync_answered = False
        dialog.subscribed = True
        conversation_id = dialog.conversation_id if dialog.conversation_id != dialog_id else None
        result.requests.append(SubscribeMessagingEvents(
            dialog_id=dialog_id, from_seq=expected, conversation_id=conversation_id))
        return False

    # --- retention ----------------------------------------------------------------------

    def _new_dialog(self, dialog_id: str, conversation_id: str) -> _Dialog:
        """Add a dialog; one that was forgotten comes back with its last sequence."""
        dialog = self._dialogs[dialog_id] = _Dialog(conversation_id=conversation_id)
        gone = self._tomb.revive(dialog_id)
        if gone is not None:
            dialog.last_seen = gone.last_seen
            if gone.followed:
                self._followed.add(dialog_id)
        return dialog

    def prune(self, now: float, retention: float) -> Pruned:
        """Forget conversations closed for ``retention`` seconds, and their dialogs.

        ``now`` is wall-clock time (epoch seconds). A conversation counts as closed from its
        last ``endTs`` (any dialog's), or from the first prune that saw it with no open dialog,
        whichever is earlier; one that opens a dialog again (a survey) starts over. A dialog
        whose conversation the server no longer reports (DELETE, or a sequence loaded from the
        state directory that no snapshot mentioned) is forgotten ``retention`` seconds after
        the first prune that found it so. Call it only once a conversation snapshot was
        received on the current socket, or open conversations would look unknown.
        """
        pruned = Pruned()
        horizon = now - retention
        gone: set[str] = set()
        for conversation_id, details in list(self.conversations.items()):
            if details.open_dialog_ids:
                self._closed_since.pop(conversation_id, None)
                continue
            since = self._closed_since.get(conversation_id)
            if since is None:
                ended = _ended_at(details)
                since = now if ended is None else min(now, ended)
                self._closed_since[conversation_id] = since
            if since <= horizon:
                gone.add(conversation_id)
                gone.update(d.dialog_id for d in details.dialogs)
                del self.conversations[conversation_id]
                del self._closed_since[conversation_id]
                self._tomb.forget(conversation_id)
                pruned.conversations.append(conversation_id)
        for dialog_id, dialog in list(self._dialogs.items()):
            conversation_id = dialog.conversation_id
            if dialog_id not in gone and conversation_id not in gone:
                if conversation_id in self.conversations:
                    dialog.orphan_since = None
                    continue
                if dialog.orphan_since is None:
                    dialog.orphan_since = now
                if dialog.orphan_since > horizon:
                    continue
                if conversation_id not in pruned.conversations:
                    pruned.conversations.append(conversation_id)
                    self._tomb.forget(conversation_id)
            self._forget(dialog_id, dialog)
            pruned.dialogs.append(dialog_id)
        pruned.evicted.extend(self._tomb.take_evicted())
        return pruned

    def _forget(self, dialog_id: str, dialog: _Dialog) -> None:
        del self._dialogs[dialog_id]
        followed = dialog_id in self._followed
        self._followed.discard(dialog_id)
        self._tomb.bury(dialog_id, Forgotten(dialog.last_seen, followed, muted=False))

    def retained(self) -> tuple[int, int]:
        """How many conversations and dialogs are kept in memory now."""
        return len(self.conversations), len(self._dialogs)

    # --- sequences ----------------------------------------------------------------------

    def last_seen(self, dialog_id: str) -> int | None:
        """The last delivered sequence of ``dialog_id`` (``None``: nothing yet)."""
        dialog = self._dialogs.get(dialog_id)
        return None if dialog is None else dialog.last_seen

    def resume_points(self) -> dict[str, int]:
        """``fromSeq`` that each known dialog would be subscribed from now."""
        return {d: resume_from(s.last_seen) for d, s in self._dialogs.items()}

    def open_conversations(self) -> list[ConversationDetails]:
        """The consumer's open conversations, most recently started first.

        protocol notes §7.2: with multi-dialog, ``state`` is the MAIN dialog's and ``stage`` the
        container's; a conversation whose survey still runs (state CLOSE, stage OPEN) is still
        the consumer's one open conversation, and the server refuses a new one meanwhile.
        Without ``stage`` (no multi-dialog), ``state`` decides.
        """
        found = [c for c in self.conversations.values()
                 if (c.stage if c.stage is not None else c.state) == ConversationState.OPEN]
        return sorted(found, key=lambda c: c.start_ts or 0, reverse=True)

    def dialogs_of(self, conversation_id: str, *, messaging: bool = False) -> Iterable[str]:
        """Dialog ids known for ``conversation_id`` (the main dialog first).

        With ``messaging``, only the dialogs that carry messages: not a CoBrowse, voice or
        video dialog (§6.1 Example D).
        """
        details = self.conversations.get(conversation_id)
        ids = [d.dialog_id for d in details.dialogs
               if not messaging or is_messaging(d)] if details is not None else []
        if conversation_id not in ids:
            ids.insert(0, conversation_id)
        return ids


def _ended_at(details: ConversationDetails) -> float | None:
    """The latest ``endTs`` of a conversation and its dialogs, in epoch seconds."""
    stamps = [d.end_ts for d in details.dialogs if d.end_ts]
    if details.end_ts:
        stamps.append(details.end_ts)
    return max(stamps) / 1000 if stamps else None
