"""Typed per-bot and per-conversation plugin state, after pytest's ``Stash``.

A plugin declares its keys once at module level (``REPLIES = StashKey[int]()``) and stores values
in the stash of the bot or of a conversation. Keys are objects, not strings, so two plugins never
clash and a type checker knows each value's type. This module imports nothing from lpbot, so any
layer may hold a stash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast, final

__all__ = ["Stash", "StashKey"]

T = TypeVar("T")
D = TypeVar("D")


@final
class StashKey(Generic[T]):
    """A key of a :class:`Stash`, bound to the type ``T`` of its value; unique by identity."""

    __slots__ = ()


@final
class Stash:
    """A type-safe mapping from :class:`StashKey` to values, safe to share between threads.

    Example::

        REPLIES = lpbot.StashKey[int]()
        conversation_stash[REPLIES] = conversation_stash.get(REPLIES, 0) + 1

    The read-modify-write above is not atomic; use :meth:`update` when two threads may touch
    the same key (for example a hook and a scheduled job).
    """

    __slots__ = ("_lock", "_storage")

    def __init__(self) -> None:
        self._storage: dict[StashKey[Any], object] = {}
        self._lock = threading.Lock()

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        """Set the value of ``key``."""
        self._storage[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        """Return the value of ``key``; raises ``KeyError`` if it was never set."""
        return cast(T, self._storage[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        """Return the value of ``key``, or ``default`` if it was never set."""
        return cast("T | D", self._storage.get(key, default))

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """Return the value of ``key``, setting it to ``default`` first if it was never set."""
        return cast(T, self._storage.setdefault(key, default))

    def update(self, key: StashKey[T], function: Callable[[T], T], default: T) -> T:
        """Atomically replace the value of ``key`` by ``function(value)``; returns the new value.

        ``default`` stands for the value when the key was never set.
        """
        with self._lock:
            value = function(cast(T, self._storage.get(key, default)))
            self._storage[key] = value
            return value

    def __delitem__(self, key: StashKey[T]) -> None:
        """Delete the value of ``key``; raises ``KeyError`` if it was never set."""
        del self._storage[key]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` was set."""
        return key in self._storage

    def __len__(self) -> int:
        """How many keys are set."""
        return len(self._storage)
