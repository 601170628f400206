"""Delays between retries, as a value: LivePerson's published retry policy (protocol notes §3.5).

The policy is data, not a loop (urllib3's ``Retry``, discord.py's ``backoff``): the client asks
it for the delay of attempt *n* and waits with ``stop_event.wait(delay)`` itself, so shutdown
interrupts every wait. Tests use :meth:`Backoff.scaled` or :meth:`Backoff.immediate` and stay
fast; they assert the delays asked for, never wall time.

Example:
    >>> import random
    >>> policy = Backoff(jitter=0.0)
    >>> [policy.delay(n, random.Random(1)) for n in range(6)]
    [5.0, 10.0, 15.0, 30.0, 60.0, 120.0]
    >>> policy.rate_limited(0, random.Random(1))
    1.0
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Protocol

__all__ = ["Backoff", "Waiter", "wait_on_event"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Reconnect and retry delays: 5, 10, 15 s, then capped exponential, jittered.

    protocol notes §3.5 (LivePerson's retry-policy recommendations): 5xx → retry at 5, 10, 15 s;
    socket-close / login loops → a longer, exponential interval; 429 → retry after at least
    1 s (§4.2). ``scale`` multiplies every delay (tests use ``scale=0.001`` or ``0``).

    Attributes:
        steps: the first delays, in seconds, before exponential growth starts.
        factor: growth per attempt after ``steps`` (the last step is the base).
        cap: no delay is longer than this (before scaling).
        jitter: each delay is multiplied by a uniform factor in ``[1 - jitter, 1 + jitter]``
            (never below the documented minimum, so 429 still waits at least ``rate_limit_min``).
        rate_limit_min: the documented minimum wait after a 429 (§4.2: at least 1 s).
        request_retries: how many times a rejected (429 / 5xx) request is retried (§3.5: 3).
        scale: multiplies every delay; 1.0 in production.
    """

    steps: tuple[float, ...] = (5.0, 10.0, 15.0)
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.2
    rate_limit_min: float = 1.0
    request_retries: int = 3
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.steps or any(step < 0 for step in self.steps):
            raise ValueError("Backoff.steps must be non-empty and non-negative")
        if self.factor < 1 or self.cap < 0 or not 0 <= self.jitter < 1 or self.scale < 0:
            raise ValueError("Backoff needs factor >= 1, cap >= 0, 0 <= jitter < 1, scale >= 0")
        if self.request_retries < 0 or self.rate_limit_min < 0:
            raise ValueError("Backoff needs request_retries >= 0 and rate_limit_min >= 0")

    @classmethod
    def immediate(cls) -> Backoff:
        """A zero-delay policy for tests (stamina's testing mode): same attempts, no waiting."""
        return cls(jitter=0.0, scale=0.0)

    def scaled(self, scale: float, *, jitter: float | None = None) -> Backoff:
        """Return a copy whose delays are multiplied by ``scale`` (tests: ``0.001``)."""
        return replace(self, scale=scale, jitter=self.jitter if jitter is None else jitter)

    def nominal(self, attempt: int) -> float:
        """The un-jittered, un-scaled delay before retry number ``attempt`` (0-based)."""
        if attempt < len(self.steps):
            return min(self.steps[attempt], self.cap)
        exponent = attempt - len(self.steps) + 1
        # Cap the exponent too: factor ** 1000 would overflow long before the cap applies.
        growth = self.factor ** min(exponent, 64)
        return min(self.steps[-1] * growth, self.cap)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before retry ``attempt`` after a 5xx or a network failure (§3.5)."""
        return self._jittered(self.nominal(attempt), 0.0, rng)

    def rate_limited(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay before retry ``attempt`` after a 429: at least ``rate_limit_min`` (§4.2).

        Grows like :meth:`delay` from ``rate_limit_min`` (1, 2, 4 ... s) so repeated 429s back
        off instead of bursting, as the docs ask ("avoid bursts").
        """
        base = min(self.rate_limit_min * self.factor ** min(attempt, 64), self.cap)
        return self._jittered(max(base, self.rate_limit_min), self.rate_limit_min, rng)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the delays of attempts 0, 1, 2 ... forever (callers stop when they succeed)."""
        attempt = 0
        while True:
            yield self.delay(attempt, rng)
            attempt += 1

    def _jittered(self, nominal: float, floor: float, rng: random.Random | None) -> float:
        value = nominal
        if self.jitter:
            source = rng if rng is not None else random
            value = nominal * source.uniform(1 - self.jitter, 1 + self.jitter)
        return max(value, floor) * self.scale


class Waiter(Protocol):
    """How the client waits ``delay`` seconds; returns True when ``stop`` was set meanwhile.

    The default is :func:`wait_on_event`. Tests inject one that records the delays asked for.
    """

    def __call__(self, stop: threading.Event, delay: float) -> bool:
        """Wait up to ``delay`` seconds or until ``stop`` is set; True when stopped."""
        ...


def wait_on_event(stop: threading.Event, delay: float) -> bool:
    """Wait with ``stop.wait(delay)`` so that ``close()`` interrupts the wait at once."""
    return stop.wait(delay) if delay > 0 else stop.is_set()
