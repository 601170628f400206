"""What the bot knows about each conversation, and how a metadata change becomes hook calls.

:func:`conversation_hooks` turns one conversation change into the ordered hook calls of
``hookspecs`` (opened, changed, participant joined/left, TTR changed, CoBrowse dialog,
closed).
:class:`ConversationTracker` keeps the last details and a little activity per conversation
(who spoke last, since when the consumer waits for an agent), and lets jobs wait for what
happens next; plugins keep their own per-conversation state in ``Conversation.stash``. It is
registered as an internal plugin whose implementations run first, so plugins see state that
is up to date.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from lpbot.client.dialogs import changed_cobrowse_dialogs
from lpbot.hookspecs import hookimpl
from lpbot.protocol.names import Role
from lpbot.protocol.notifications import ConversationChange, ConversationDetails, MessagingEvent
from lpbot.runtime.counters import CONVERSATIONS

if TYPE_CHECKING:
    from collections.abc import Callable

    from lpbot.runtime.bot import Bot

__all__ = ["Activity", "ConversationTracker", "conversation_hooks"]

#: closed conversations remembered (for late CSAT changes) before the oldest go
KEEP_CLOSED: Final = 10_000
#: seconds a closed conversation is remembered at most: the client's own ``closed_retention``,
#: after which no late event of it arrives (a count alone let memory grow for hours)
CLOSED_RETENTION: Final = 300.0
_AGENT_ROLES: Final = frozenset({Role.ASSIGNED_AGENT, Role.AGENT, Role.MANAGER})


def conversation_hooks(
    previous: ConversationDetails | None, change: ConversationChange
) -> list[tuple[str, dict[str, Any]]]:
    """The hook calls, in order, that ``change`` means after ``previous`` details."""
    current = change.details
    if current is None:
        return []
    calls: list[tuple[str, dict[str, Any]]] = []
    if previous is None:
        calls.append(("lpbot_conversation_opened", {}))
    calls.append(("lpbot_conversation_changed", {"previous": previous, "current": current}))
    before = {(p.id, str(p.role)) for p in previous.participants} if previous else set()
    after = {(p.id, str(p.role)) for p in current.participants}
    calls.extend(("lpbot_participant_joined", {"participant": p}) for p in current.participants
                 if (p.id, str(p.role)) not in before)
    if previous is not None:
        calls.extend(("lpbot_participant_left", {"participant": p})
                     for p in previous.participants if (p.id, str(p.role)) not in after)
    old_ttr = previous.ttr if previous is not None else None
    if current.ttr is not None and current.ttr != old_ttr:
        calls.append(("lpbot_ttr_changed", {"ttr": current.ttr, "previous": old_ttr}))
    calls.extend(("lpbot_cobrowse_dialog", {"dialog": dialog})
                 for dialog in changed_cobrowse_dialogs(previous, current))
    if not current.is_open and (previous is None or previous.is_open):
        calls.append(("lpbot_conversation_closed", {"closed_by": current.close_reason}))
    return calls


@dataclass(slots=True)
class Activity:
    """Mutable per-conversation facts, read under the tracker's lock (``wait_until``)."""

    consumer: str
    details: ConversationDetails | None = None
    agent_joined: bool = False
    closed: bool = False
    last_agent_sequence: int = -1
    last_consumer_sequence: int = -1
    #: wall-clock time of the consumer's first message not yet answered by an agent
    waiting_since: float | None = None


class ConversationTracker:
    """Per-conversation details and activity of one bot; see the module docstring."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._condition = threading.Condition(threading.RLock())
        self._waiters = 0  # threads in wait_until: the hooks notify only when there are some
        self._activities: OrderedDict[str, Activity] = OrderedDict()
        #: closed ones, oldest first, with the ``time.monotonic()`` they closed at
        self._closed: OrderedDict[str, float] = OrderedDict()

    # --- reader thread --------------------------------------------------------------------

    def update(
        self, consumer: str, change: ConversationChange
    ) -> tuple[bool, ConversationDetails | None]:
        """Record ``change``; return whether to report it, and the previous details.

        Nothing is said for a deletion, a repeat of the same details, or a conversation first
        seen already closed (a restart sees recently closed ones again: they were reported).
        """
        details = change.details
        if change.change_type == "DELETE" or details is None:
            return False, None
        with self._condition:
            activity = self._activity(change.conversation_id, consumer)
            previous = activity.details
            if previous == details:
                return False, previous
            activity.details = details
            if previous is None and not details.is_open:
                self._mark_closed(change.conversation_id, activity)
                return False, None
            return True, previous

    # --- queries ------------------------------------------------------------------------

    def activity(self, conversation_id: str) -> Activity:
        """The live activity record of a conversation (read its fields inside ``wait_until``)."""
        with self._condition:
            return self._activity(conversation_id, "")

    def waiting(self, older_than: float) -> list[tuple[str, Activity]]:
        """Open conversations whose consumer has waited for an agent since before ``older_than``."""
        with self._condition:
            return [(conversation_id, activity)
                    for conversation_id, activity in self._activities.items()
                    if not activity.closed and activity.waiting_since is not None
                    and activity.waiting_since <= older_than]

    def open_conversations(self) -> list[tuple[str, Activity]]:
        """Every conversation seen open and not closed since."""
        with self._condition:
            return [(conversation_id, activity)
                    for conversation_id, activity in self._activities.items()
                    if activity.details is not None and not activity.closed]

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked under the lock after each event).

        False after ``timeout`` seconds, or as soon as the bot is stopping.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            self._waiters += 1
            try:
                while True:
                    if predicate():
                        return True
                    remaining = deadline - time.monotonic()
                    if (remaining <= 0 or self._bot.stopping.is_set()
                            or self._bot.fatal.is_set()):
                        return False
                    self._condition.wait(remaining)
            finally:
                self._waiters -= 1

    def _notify(self) -> None:
        """Wake the threads in :meth:`wait_until` (called holding the lock)."""
        if self._waiters:
            self._condition.notify_all()

    def wake(self) -> None:
        """Wake every waiter (the bot is stopping)."""
        with self._condition:
            self._condition.notify_all()

    # --- hooks: run first on the workers, so plugins see up-to-date activity -------------

    @hookimpl(tryfirst=True)
    def lpbot_conversation_opened(self) -> None:
        """Count it."""
        self._bot.counters.inc(CONVERSATIONS, "opened")

    @hookimpl(tryfirst=True)
    def lpbot_participant_joined(self, conversation: Any, participant: Any) -> None:
        """Note that an agent joined."""
        if participant.role in _AGENT_ROLES:
            with self._condition:
                self._activity(conversation.id, "").agent_joined = True
                self._notify()

    @hookimpl(tryfirst=True)
    def lpbot_conversation_changed(self) -> None:
        """Wake waiters: details (CSAT, TTR, participants) may be what they wait for."""
        self.wake()

    @hookimpl(tryfirst=True)
    def lpbot_message_received(self, conversation: Any, message: MessagingEvent) -> None:
        """Track who spoke last and since when the consumer waits for an answer."""
        sequence = message.sequence if message.sequence is not None else -1
        with self._condition:
            activity = self._activity(conversation.id, "")
            if message.role == Role.CONSUMER:
                activity.last_consumer_sequence = max(activity.last_consumer_sequence, sequence)
                if activity.waiting_since is None:
                    activity.waiting_since = time.time()
            elif message.role in _AGENT_ROLES:
                activity.last_agent_sequence = max(activity.last_agent_sequence, sequence)
                activity.waiting_since = None
            self._notify()

    @hookimpl(tryfirst=True)
    def lpbot_conversation_closed(self, conversation: Any) -> None:
        """Mark it closed, count it, and forget the oldest closed ones beyond a bound."""
        with self._condition:
            self._mark_closed(conversation.id, self._activity(conversation.id, ""))
            self._notify()
        self._bot.counters.inc(CONVERSATIONS, "closed")

    def _mark_closed(self, conversation_id: str, activity: Activity) -> None:
        """Mark it closed and forget the longest-closed ones beyond ``KEEP_CLOSED`` (locked)."""
        activity.closed = True
        now = time.monotonic()
        self._closed[conversation_id] = now
        self._closed.move_to_end(conversation_id)
        while self._closed and (len(self._closed) > KEEP_CLOSED
                                or next(iter(self._closed.values())) < now - CLOSED_RETENTION):
            oldest, _ = self._closed.popitem(last=False)
            self._activities.pop(oldest, None)

    def _activity(self, conversation_id: str, consumer: str) -> Activity:
        activity = self._activities.get(conversation_id)
        if activity is None:
            activity = self._activities[conversation_id] = Activity(consumer=consumer)
        elif consumer and not activity.consumer:
            activity.consumer = consumer
        return activity
