"""What a session keeps of what it forgot: last sequences and quiet conversations, bounded.

A long-lived consumer forgets closed conversations (:meth:`Session.prune
<lpbot.client.session.Session.prune>`) and drops the dialogs of conversations its user
unsubscribed (:meth:`Session.unfollow <lpbot.client.session.Session.unfollow>`). A
:class:`Tombstone` remembers, for at most ``limit`` dialogs, each such dialog's last sequence,
so that a dialog brought back resumes after it and nothing repeats; and, for at most ``limit``
conversations each, which conversations are unfollowed and which are forgotten, so that their
notifications are dropped. The oldest entries go first. Dialogs dropped for good are reported
by :meth:`Tombstone.take_evicted`, so that their stored sequences can be deleted too.

Like the session, it is plain data without I/O, threads or a clock (not thread-safe: the
session's lock covers it).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple, TypeVar

__all__ = ["Forgotten", "Tombstone"]

_V = TypeVar("_V")


class Forgotten(NamedTuple):
    """A dialog the session no longer tracks."""

    #: its last delivered sequence (None: nothing delivered)
    last_seen: int | None
    #: it was followed explicitly: it is followed again when it comes back
    followed: bool
    #: its conversation was unfollowed: only an explicit follow brings it back
    muted: bool


class Tombstone:
    """Forgotten dialogs and quiet conversations, each kind bounded by ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._dialogs: OrderedDict[str, Forgotten] = OrderedDict()
        self._unfollowed: OrderedDict[str, None] = OrderedDict()
        self._gone: OrderedDict[str, None] = OrderedDict()
        self._evicted: list[str] = []

    # --- dialogs --------------------------------------------------------------------------

    def __contains__(self, dialog_id: object) -> bool:
        return dialog_id in self._dialogs

    def get(self, dialog_id: str) -> Forgotten | None:
        """What is remembered of ``dialog_id``, if anything."""
        return self._dialogs.get(dialog_id)

    def bury(self, dialog_id: str, entry: Forgotten) -> None:
        """Remember ``entry`` for ``dialog_id`` (as the newest), dropping the oldest beyond."""
        self._evicted.extend(_add(self._dialogs, dialog_id, entry, self.limit))

    def revive(self, dialog_id: str) -> Forgotten | None:
        """Take ``dialog_id`` out (it is tracked again); what was remembered of it."""
        return self._dialogs.pop(dialog_id, None)

    def take_evicted(self) -> list[str]:
        """The dialogs dropped for good since the last call."""
        evicted, self._evicted = self._evicted, []
        return evicted

    # --- conversations -----------------------------------------------------------------

    def is_unfollowed(self, conversation_id: str | None) -> bool:
        """True while ``conversation_id`` is unfollowed."""
        return conversation_id in self._unfollowed

    def is_gone(self, conversation_id: str) -> bool:
        """True while ``conversation_id`` is forgotten."""
        return conversation_id in self._gone

    def unfollow(self, conversation_id: str) -> None:
        """``conversation_id`` was unfollowed."""
        _add(self._unfollowed, conversation_id, None, self.limit)

    def forget(self, conversation_id: str) -> None:
        """``conversation_id`` was forgotten (it is no longer unfollowed: it is unknown)."""
        self._unfollowed.pop(conversation_id, None)
        _add(self._gone, conversation_id, None, self.limit)

    def reopened(self, conversation_id: str) -> None:
        """A forgotten ``conversation_id`` was reported open again: it is known again."""
        self._gone.pop(conversation_id, None)

    def follow(self, conversation_id: str) -> None:
        """``conversation_id`` was followed explicitly: neither unfollowed nor forgotten."""
        self._unfollowed.pop(conversation_id, None)
        self._gone.pop(conversation_id, None)


def _add(entries: OrderedDict[str, _V], key: str, value: _V, limit: int) -> list[str]:
    """Set ``key`` as the newest entry; returns the oldest keys dropped beyond ``limit``."""
    entries[key] = value
    entries.move_to_end(key)
    dropped = []
    while len(entries) > limit:
        dropped.append(entries.popitem(last=False)[0])
    return dropped
