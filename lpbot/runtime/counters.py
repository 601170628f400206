"""In-process counters and histograms: hook calls and errors, queue pressure, latencies, jobs.

The runtime counts what happens (a failing plugin is counted, never silent); the metrics plugin
exposes these numbers, and tests read them. One :class:`Counters` belongs to one ``Bot``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

__all__ = [
    "COMMIT_ERRORS",
    "CONVERSATIONS",
    "DEFAULT_BUCKETS",
    "DISPATCH_BLOCKED",
    "DISPATCH_DROPPED",
    "DISPATCH_LATENCY",
    "EVENTS_DISPATCHED",
    "HOOK_CALLS",
    "HOOK_ERRORS",
    "JOBS",
    "Counters",
    "HistogramSnapshot",
]

#: (plugin, hook): implementations called
HOOK_CALLS: Final = "hook_calls"
#: (plugin, hook): implementations that raised
HOOK_ERRORS: Final = "hook_errors"
#: (hook,): work items a dispatcher worker ran
EVENTS_DISPATCHED: Final = "events_dispatched"
#: (shard,): times a producer waited a whole ``put_timeout`` on a full queue
DISPATCH_BLOCKED: Final = "dispatch_blocked"
#: (reason,): work items dropped ("full" for chat states, "stopping" at shutdown)
DISPATCH_DROPPED: Final = "dispatch_dropped"
#: histogram (hook,): seconds from submit (on the receive thread) to the first implementation
DISPATCH_LATENCY: Final = "dispatch_latency_seconds"
#: (outcome,): scheduled job runs by outcome "ran", "missed", "failed"
JOBS: Final = "jobs"
#: (event,): conversations "opened" and "closed", as the bot saw them
CONVERSATIONS: Final = "conversations"
#: (error type,): handled events whose sequence could not be committed (they come again)
COMMIT_ERRORS: Final = "commit_errors"

#: upper bounds in seconds, like Prometheus' defaults but finer below 10 ms
DEFAULT_BUCKETS: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistogramSnapshot:
    """A copy of one histogram: per-bucket counts (last bucket is +Inf), count and sum."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    total: float

    def quantile(self, q: float) -> float:
        """Estimate the ``q`` quantile (0..1) by interpolating inside the bucket that holds it."""
        if self.count == 0:
            return 0.0
        rank = q * self.count
        seen = 0
        for index, in_bucket in enumerate(self.counts):
            if in_bucket and seen + in_bucket >= rank:
                upper = self.bounds[index] if index < len(self.bounds) else self.bounds[-1]
                lower = self.bounds[index - 1] if index > 0 else 0.0
                return lower + (upper - lower) * (rank - seen) / in_bucket
            seen += in_bucket
        return self.bounds[-1]


class _Histogram:
    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.total += value


class _Shard:
    """One thread's counters and histograms."""

    __slots__ = ("counters", "histograms")

    def __init__(self) -> None:
        self.counters: dict[str, dict[tuple[str, ...], float]] = {}
        self.histograms: dict[str, dict[tuple[str, ...], _Histogram]] = {}


class Counters:
    """Thread-safe named counters and histograms, each split by a tuple of label values.

    Each thread writes its own tables without a lock (hooks count several things per event);
    reads add up every thread's tables.

    The names the runtime counts are class attributes too, so plugins need only ``lpbot``:
    ``bot.counters.series(bot.counters.HOOK_ERRORS)`` maps (plugin, hook) to an error count.
    """

    HOOK_CALLS: ClassVar = HOOK_CALLS
    HOOK_ERRORS: ClassVar = HOOK_ERRORS
    EVENTS_DISPATCHED: ClassVar = EVENTS_DISPATCHED
    DISPATCH_BLOCKED: ClassVar = DISPATCH_BLOCKED
    DISPATCH_DROPPED: ClassVar = DISPATCH_DROPPED
    DISPATCH_LATENCY: ClassVar = DISPATCH_LATENCY
    JOBS: ClassVar = JOBS
    CONVERSATIONS: ClassVar = CONVERSATIONS
    COMMIT_ERRORS: ClassVar = COMMIT_ERRORS

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._shards: list[_Shard] = []

    def _shard(self) -> _Shard:
        """This thread's own tables: written without a lock (only this thread writes them)."""
        try:
            shard: _Shard = self._local.shard
        except AttributeError:
            shard = self._local.shard = _Shard()
            with self._lock:
                self._shards.append(shard)
        return shard

    def _all(self) -> list[_Shard]:
        with self._lock:
            return list(self._shards)

    def inc(self, name: str, *labels: str, amount: float = 1) -> None:
        """Add ``amount`` to the counter ``name`` for these label values."""
        series = self.local_series(name)
        series[labels] = series.get(labels, 0) + amount

    def local_series(self, name: str) -> dict[tuple[str, ...], float]:
        """This thread's own table of counter ``name``: label values -> amount.

        For a loop that counts every item: it adds to the table directly, on this thread only.
        """
        return self._shard().counters.setdefault(name, {})

    def local_histogram(
        self, name: str, *labels: str, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> Callable[[float], None]:
        """A function recording a value in this thread's part of histogram ``name``.

        For a loop that observes every item with these label values, on this thread only.
        """
        series = self._shard().histograms.setdefault(name, {})
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = _Histogram(buckets)
        return histogram.add

    def value(self, name: str, *labels: str) -> float:
        """The counter's value for these label values (0 if never incremented)."""
        return sum(shard.counters.get(name, {}).get(labels, 0) for shard in self._all())

    def series(self, name: str) -> Mapping[tuple[str, ...], float]:
        """A copy of every label combination of counter ``name`` and its value."""
        merged: dict[tuple[str, ...], float] = {}
        for shard in self._all():
            # dict() copies in one step under the GIL: safe while the owner thread writes
            for labels, value in dict(shard.counters.get(name, {})).items():
                merged[labels] = merged.get(labels, 0) + value
        return merged

    def total(self, name: str) -> float:
        """The sum of counter ``name`` over all its label values."""
        return sum(self.series(name).values())

    def observe(
        self, name: str, value: float, *labels: str, buckets: Sequence[float] = DEFAULT_BUCKETS
    ) -> None:
        """Record ``value`` in histogram ``name``; ``buckets`` applies when the series is new."""
        self.local_histogram(name, *labels, buckets=buckets)(value)

    def histogram(self, name: str, *labels: str) -> HistogramSnapshot:
        """A snapshot of histogram ``name`` for these label values (empty if never observed)."""
        parts = [h for shard in self._all()
                 if (h := shard.histograms.get(name, {}).get(labels)) is not None]
        if not parts:
            return HistogramSnapshot(bounds=DEFAULT_BUCKETS,
                                     counts=(0,) * (len(DEFAULT_BUCKETS) + 1), count=0, total=0.0)
        counts = [0] * len(parts[0].counts)
        for part in parts:
            for index, count in enumerate(list(part.counts)):
                counts[index] += count
        return HistogramSnapshot(bounds=parts[0].bounds, counts=tuple(counts),
                                 count=sum(p.count for p in parts),
                                 total=sum(p.total for p in parts))

    def histograms(self, name: str) -> Mapping[tuple[str, ...], HistogramSnapshot]:
        """Snapshots of every label combination of histogram ``name``."""
        labels = {label for shard in self._all() for label in dict(shard.histograms.get(name, {}))}
        return {label: self.histogram(name, *label) for label in labels}
