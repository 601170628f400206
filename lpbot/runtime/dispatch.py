"""Hook dispatch: sharded bounded queues, named worker threads, and per-plugin isolation.

Events flow from the connection threads (``submit``) to ``workers`` threads named
``lpbot-worker-<n>``. Each worker owns one bounded queue; an event goes to queue
``zlib.crc32(key) % workers``, where the key is the conversation id (or ``consumer:<name>``,
``job:<id>``). So one conversation's events reach hooks in order, and different conversations
run in parallel. Hooks are called by :func:`call_each`: an implementation that raises is logged
with its plugin's name and counted, and the others still run.

Backpressure policy. ``submit`` runs on a connection's receive thread and never runs a hook.
When the target queue is full:

* a *droppable* item (chat states: not sequenced, never replayed) is dropped at once and
  counted in ``dispatch_dropped{reason="full"}`` (also while another item waits for room);
* any other item waits for room: the receive thread blocks until the worker has emptied the
  queue to half its capacity (so they trade one wake-up per half queue, not one per item), in
  slices of ``put_timeout`` seconds; after each slice it logs a warning naming the shard and
  counts ``dispatch_blocked{shard}``. A blocked receive thread stops reading its socket, so TCP flow
  control slows the server down. Sequenced events are never dropped, because committing a later
  sequence would lose a dropped one for good.

Waiting without blocking a worker. A hook that wants to act later (the auto-responder's typing
delay) calls :meth:`Dispatcher.call_later` instead of sleeping: the call waits on the
``lpbot-timer`` thread (:mod:`lpbot.runtime.timers`), then runs on the key's worker. Until it
has run, that key's later items are held back on their worker (in arrival order), so a
conversation's events and delayed calls keep their order, while every other key on the worker
goes on at once.

Once ``drain()`` has begun, ``submit`` drops new items (``reason="stopping"``). That is safe:
the sequence of an event is committed (``after``) only once its hooks ran, so an event dropped
or left queued at shutdown is fetched again on the next start.

Group commit. Committing a sequence is a database write, dearer than a no-op hook, and it
releases the GIL: the receive thread then holds it for up to CPython's switch interval (5 ms),
so a worker that commits often falls behind a burst, and a long queue keeps thousands of
events alive for the garbage collector to walk. A worker therefore commits once its queue has
stayed empty for ``COMMIT_DELAY`` (50 ms), and while it is busy once ``commit_interval`` (0.25 s)
has passed since the first uncommitted event or ``commit_batch`` events are waiting, whichever
comes first, keeping only the latest sequence per dialog (sequences only move forward). A clean
stop commits everything; after a crash (kill -9) the events whose hooks had already run but
were not yet committed (at most ``commit_interval`` or ``commit_batch`` per worker) are
delivered again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, cast

import pluggy

from lpbot.errors import LpError, PluginError
from lpbot.runtime.counters import (
    COMMIT_ERRORS,
    DISPATCH_BLOCKED,
    DISPATCH_DROPPED,
    DISPATCH_LATENCY,
    EVENTS_DISPATCHED,
    HOOK_CALLS,
    HOOK_ERRORS,
    Counters,
)
from lpbot.runtime.timers import Timers

__all__ = ["Dispatcher", "Tracer", "call_each", "log_tracer", "shard_of"]

log = logging.getLogger(__name__)

#: called with (hook name, arguments) just before a hook's implementations run, on that thread
Tracer = Callable[[str, Mapping[str, object]], None]

_STOP: Final = object()
#: seconds a worker with uncommitted sequences waits for more events before committing them
COMMIT_DELAY: Final = 0.05


def shard_of(key: str, shards: int) -> int:
    """The worker that handles ``key``: stable across processes, unlike ``hash()``."""
    return zlib.crc32(key.encode()) % shards


def call_each(
    hook: pluggy.HookCaller,
    kwargs: Mapping[str, object],
    *,
    strict: bool,
    counters: Counters | None = None,
    per_plugin: Callable[[str], Mapping[str, object]] | None = None,
    calls: dict[tuple[str, ...], float] | None = None,
) -> list[object]:
    """Call each implementation of ``hook`` in pluggy's order; one that raises never stops the rest.

    pluggy's own call loop stops at the first exception, so implementations are called one at
    a time here. Each implementation gets only the arguments it names. On a ``firstresult``
    hook the first non-None result ends the call, as in pluggy.

    Args:
        hook: The hook caller (``plugin_manager.hook.lpbot_x``).
        kwargs: Every argument of the hook spec, by name.
        strict: Raise the first error as ``PluginError`` naming the plugin (life-cycle hooks),
            instead of logging, counting and going on (event hooks).
        counters: Where calls and errors are counted per (plugin, hook).
        per_plugin: Extra arguments for one plugin, by its name (``lpbot_configure`` gets each
            plugin's own config table this way).
        calls: This thread's own ``HOOK_CALLS`` table (:meth:`Counters.local_series`), which
            a worker fetches once, instead of looking it up per implementation.

    Returns:
        The non-None results, in call order.
    """
    firstresult = hook.spec is not None and bool(hook.spec.opts.get("firstresult"))
    results: list[object] = []
    # pluggy keeps tryfirst implementations at the end and calls the list in reverse.
    if calls is None and counters is not None:
        calls = counters.local_series(HOOK_CALLS)
    for impl in reversed(hook.get_hookimpls()):
        if calls is not None:
            key = (impl.plugin_name, hook.name)
            calls[key] = calls.get(key, 0) + 1
        arguments = kwargs if per_plugin is None else {**kwargs, **per_plugin(impl.plugin_name)}
        try:
            result = impl.function(*[arguments[name] for name in impl.argnames])
        except Exception as exc:  # isolation boundary: one plugin
            if counters is not None:
                counters.inc(HOOK_ERRORS, impl.plugin_name, hook.name)
            if strict:
                raise PluginError(impl.plugin_name, f"{type(exc).__name__}: {exc}",
                                  hook=hook.name) from exc
            log.exception("plugin %r failed in %s", impl.plugin_name, hook.name)
            continue
        if result is not None:
            results.append(result)
            if firstresult:
                break
    return results


def log_tracer(hook_name: str, kwargs: Mapping[str, object]) -> None:
    """A :data:`Tracer` that logs every hook call (``LPBOT_TRACE_HOOKS=1``)."""
    log.info("hook %s(%s)", hook_name, ", ".join(sorted(kwargs)))


class _Item:
    __slots__ = ("after", "after_key", "hook_name", "key", "kwargs", "submitted")

    def __init__(self, key: str, hook_name: str | None, kwargs: dict[str, object],
                 after: Callable[[], object] | None, after_key: Hashable | None) -> None:
        self.key = key
        self.hook_name = hook_name
        self.kwargs = kwargs
        self.after = after
        self.after_key = after_key
        self.submitted = time.monotonic()


class _Due:
    """A delayed call that fell due: runs on the worker of ``key``, then releases the key."""

    __slots__ = ("call", "key")

    def __init__(self, key: str, call: Callable[[], object]) -> None:
        self.key = key
        self.call = call


class _Shard:
    """One worker's queue: a C-level SimpleQueue (cheap put/get) bounded by ``capacity``.

    A producer that finds it full waits on ``room`` until the worker has taken it down to
    ``resume`` (half the capacity); the worker then opens the gate (``opened`` counts the
    openings) and every waiting producer goes on while there is room. The gap between the two
    marks makes the producers and the worker trade wake-ups once per half queue rather than
    once per item. While a producer waits, other producers do not pass it: they wait too (or
    drop, for droppable items). The worker notifies only when someone registered in
    ``waiting`` (producers register before re-checking the size, so no wake-up is lost).
    """

    __slots__ = ("capacity", "holds", "holds_lock", "opened", "queue", "resume", "room",
                 "waiting")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.resume = capacity // 2
        self.queue: queue.SimpleQueue[_Item | _Due | object] = queue.SimpleQueue()
        self.room = threading.Condition(threading.Lock())
        self.waiting = 0
        self.opened = 0
        #: key -> delayed calls not yet run; the worker holds back that key's items meanwhile
        self.holds: dict[str, int] = {}
        self.holds_lock = threading.Lock()

    def hold(self, key: str) -> None:
        """One more delayed call of ``key`` is outstanding (any thread)."""
        with self.holds_lock:
            self.holds[key] = self.holds.get(key, 0) + 1

    def release(self, key: str) -> bool:
        """One delayed call of ``key`` ran (worker); True when none is left."""
        with self.holds_lock:
            left = self.holds[key] - 1
            if left:
                self.holds[key] = left
                return False
            del self.holds[key]
            return True

    def full(self) -> bool:
        return self.queue.qsize() >= self.capacity

    def drained(self) -> bool:
        return self.queue.qsize() <= self.resume

    def put_waiting(self, item: object, timeout: float) -> bool:
        """Wait up to ``timeout`` for the queue to drain to ``resume``, then queue ``item``.

        Called once the queue was found full, and again after each False (nothing queued).
        """
        with self.room:
            self.waiting += 1
            opened = self.opened
            try:
                if not self.room.wait_for(
                        lambda: self.drained() or (self.opened != opened and not self.full()),
                        timeout):
                    return False
            finally:
                self.waiting -= 1
        self.queue.put(item)
        return True

    def took_one(self) -> None:
        """Called by the worker after each get: wake waiting producers once drained enough."""
        if self.waiting and self.queue.qsize() <= self.resume:
            with self.room:
                self.opened += 1
                self.room.notify_all()


class Dispatcher:
    """Runs hooks on ``workers`` named threads, in order per key; see the module docstring.

    Args:
        plugin_manager: Whose hooks to call.
        counters: Where hook calls, errors, drops and latencies are counted.
        workers: Number of worker threads (and queues).
        queue_size: Capacity of each worker's queue.
        put_timeout: Seconds a full queue blocks ``submit`` before a warning (then it waits on).
        commit_batch: Commit (run ``after``) at least every this many items, keeping only the
            latest per ``after_key``; an idle worker commits after ``COMMIT_DELAY``. 1 commits
            after every item.
        commit_interval: Seconds a busy worker may hold an uncommitted item before committing.
        on_fatal: Called if a worker thread itself crashes (not a hook: those are isolated).
    """

    def __init__(
        self,
        plugin_manager: pluggy.PluginManager,
        *,
        counters: Counters,
        workers: int = 4,
        queue_size: int = 10_000,
        put_timeout: float = 1.0,
        commit_batch: int = 1000,
        commit_interval: float = 0.25,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        if (workers < 1 or queue_size < 1 or put_timeout <= 0 or commit_batch < 1
                or commit_interval <= 0):
            raise ValueError("workers, queue_size, put_timeout, commit_batch and commit_interval "
                             "must be positive")
        self._pm = plugin_manager
        self._counters = counters
        self._put_timeout = put_timeout
        self._commit_batch = commit_batch
        self._commit_interval = commit_interval
        self._on_fatal = on_fatal
        self._shards = [_Shard(queue_size) for _ in range(workers)]
        self._threads: list[threading.Thread] = []
        self._tracers: tuple[Tracer, ...] = ()
        self._lock = threading.Lock()
        self._started = False
        self._stopping = threading.Event()
        self._discard = threading.Event()
        self._drained = threading.Event()  # the workers are gone: nothing would run a call
        self._timers = Timers(self._fire)
        self._commit_failed = False

    @property
    def workers(self) -> int:
        """Number of worker threads."""
        return len(self._shards)

    def queue_depths(self) -> list[int]:
        """Approximate number of items waiting in each worker's queue."""
        return [shard.queue.qsize() for shard in self._shards]

    def add_tracer(self, tracer: Tracer) -> None:
        """Call ``tracer`` before every hook call made by this dispatcher (tests, debugging)."""
        with self._lock:
            self._tracers = (*self._tracers, tracer)

    def remove_tracer(self, tracer: Tracer) -> None:
        """Stop calling ``tracer``."""
        with self._lock:
            self._tracers = tuple(t for t in self._tracers if t is not tracer)

    def start(self) -> None:
        """Start the worker threads (once)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            for index, shard in enumerate(self._shards):
                thread = threading.Thread(
                    target=self._run, args=(shard,), name=f"lpbot-worker-{index}",
                    daemon=True,  # a safety net only: drain() joins every worker
                )
                self._threads.append(thread)
                thread.start()
            self._timers.start()

    def call(
        self,
        hook_name: str,
        kwargs: Mapping[str, object],
        *,
        strict: bool,
        per_plugin: Callable[[str], Mapping[str, object]] | None = None,
    ) -> list[object]:
        """Call a hook now on this thread (life-cycle hooks), traced like queued calls."""
        for tracer in self._tracers:
            self._trace(tracer, hook_name, kwargs)
        return call_each(getattr(self._pm.hook, hook_name), kwargs, strict=strict,
                         counters=self._counters, per_plugin=per_plugin)

    def submit(
        self,
        key: str,
        hook_name: str | None,
        kwargs: dict[str, object],
        *,
        after: Callable[[], object] | None = None,
        after_key: Hashable | None = None,
        droppable: bool = False,
    ) -> bool:
        """Queue a hook call behind earlier calls with the same ``key``.

        Args:
            key: Ordering key (conversation id, ``consumer:<name>``, ``job:<id>``).
            hook_name: The hook to call; None runs only ``after``, in order (an event no hook
                takes still has its sequence committed behind the earlier ones).
            kwargs: Every argument of the hook spec.
            after: Called on the worker once every implementation returned (commits a sequence).
            after_key: Items with the same key have ``after`` calls that supersede each other
                (a later sequence of the same dialog): under a backlog only the latest runs.
                None: ``after`` always runs, right after its hooks.
            droppable: Drop instead of waiting when the queue is full (chat states).

        Returns:
            Whether the item was queued (False: dropped, and counted).
        """
        if self._stopping.is_set():
            self._counters.inc(DISPATCH_DROPPED, "stopping")
            return False
        index = shard_of(key, len(self._shards))
        shard = self._shards[index]
        item = _Item(key, hook_name, kwargs, after, after_key)
        if not shard.waiting and not shard.full():  # no one waiting to be let in first
            shard.queue.put(item)
            return True
        if droppable:
            self._counters.inc(DISPATCH_DROPPED, "full")
            return False
        while not shard.put_waiting(item, self._put_timeout):
            self._counters.inc(DISPATCH_BLOCKED, str(index))
            if self._stopping.is_set():
                self._counters.inc(DISPATCH_DROPPED, "stopping")
                return False
            log.warning("dispatcher queue %d full for %.1f s: a hook is slow; "
                        "the receive thread waits", index, self._put_timeout)
        return True

    def call_later(self, delay: float, key: str, call: Callable[[], object]) -> None:
        """Run ``call()`` on the worker of ``key`` in ``delay`` seconds, without blocking it.

        Meanwhile the worker goes on with other keys; items of ``key`` submitted after this
        (and not yet run) wait until ``call`` has run, so the key's order is kept. Several
        delayed calls of one key run in due order. ``call`` is isolated like a hook: if it
        raises, the error is logged and counted (``hook_errors{plugin="call_later"}``).
        Once :meth:`drain` has begun, calls are due at once: shutdown does not wait them out;
        once it has ended, a call is dropped and counted (``dispatch_dropped{reason="stopping"}``).
        """
        if self._drained.is_set():
            self._counters.inc(DISPATCH_DROPPED, "stopping")
            return
        shard = self._shards[shard_of(key, len(self._shards))]
        shard.hold(key)
        if not self._timers.add(delay, key, call):
            self._fire(key, call)  # stopping: run it now, behind what is queued

    def _fire(self, key: str, call: Callable[[], object]) -> None:
        # Unbounded put: the calls in flight are bounded by what hooks scheduled.
        self._shards[shard_of(key, len(self._shards))].queue.put(_Due(key, call))

    def drain(self, timeout: float) -> bool:
        """Deliver what is queued, stop the workers and join them within ``timeout`` seconds.

        New items are refused from now on. If the queues cannot be emptied in time, the items
        not yet started are discarded (their sequences are not committed, so they come back
        on the next start) and the running hooks get what is left of the budget.

        Returns:
            True if every worker stopped; False if one is still stuck in a hook (logged).
        """
        deadline = time.monotonic() + timeout
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for key, call in self._timers.stop(max(0.0, deadline - time.monotonic())):
            self._fire(key, call)  # due now, queued before the workers' stop sentinels
        if not threads:
            self._drained.set()
            return True
        for shard in self._shards:
            shard.queue.put(_STOP)  # behind what is queued; the bound is for producers only
        for thread in threads:
            thread.join(max(0.0, (deadline - time.monotonic()) * 0.7))
            if thread.is_alive():
                self._discard.set()  # the workers now skip queued items, so they end quickly
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [thread.name for thread in threads if thread.is_alive()]
        self._drained.set()
        if stuck:
            log.error("dispatcher workers still inside a hook after %.1f s: %s",
                      timeout, ", ".join(stuck))
        return not stuck

    def _run(self, shard: _Shard) -> None:
        try:
            self._loop(shard)
        except BaseException as exc:  # isolation boundary: report, then die
            log.critical("dispatcher worker %s crashed", threading.current_thread().name,
                         exc_info=True)
            if self._on_fatal is not None:
                self._on_fatal(exc)

    def _loop(self, shard: _Shard) -> None:
        counters = self._counters
        hooks = self._pm.hook
        get = shard.queue.get
        calls = counters.local_series(HOOK_CALLS)
        dispatched = counters.local_series(EVENTS_DISPATCHED)
        latency: dict[str, Callable[[float], None]] = {}  # hook name -> its histogram's add
        pending: dict[Hashable, Callable[[], object]] = {}  # after_key -> latest after
        deferred = 0  # items whose after is in pending: bounds what a crash can replay
        commit_by = 0.0  # monotonic time by which a busy worker commits what is pending
        batch, interval = self._commit_batch, self._commit_interval
        monotonic = time.monotonic
        holds = shard.holds  # keys with a delayed call outstanding
        held: dict[str, deque[object]] = {}  # their items, held back in arrival order
        ready: deque[object] = deque()  # items released by a delayed call, run before the queue
        while True:
            if ready:
                got = ready.popleft()
            else:
                if pending:
                    try:  # a burst usually goes on: wait a moment before committing
                        got = get(timeout=COMMIT_DELAY)
                    except queue.Empty:
                        self._run_afters(pending)
                        deferred = 0
                        continue
                else:
                    got = get()
                shard.took_one()
            if got is _STOP:
                if self._finish(shard, ready):
                    continue
                self._run_afters(pending)
                return
            if type(got) is _Due:
                if self._discard.is_set():
                    continue
                self._run_due(got)
                if shard.release(got.key) and got.key in held:
                    ready.extend(held.pop(got.key))
                continue
            item = cast(_Item, got)
            if holds and item.key in holds:
                held.setdefault(item.key, deque()).append(item)
                continue
            if self._discard.is_set():
                counters.inc(DISPATCH_DROPPED, "stopping")
                continue
            hook_name = item.hook_name
            now = monotonic()
            if hook_name is not None:
                observe = latency.get(hook_name)
                if observe is None:
                    observe = latency[hook_name] = counters.local_histogram(DISPATCH_LATENCY,
                                                                            hook_name)
                observe(now - item.submitted)
                for tracer in self._tracers:
                    self._trace(tracer, hook_name, item.kwargs)
                call_each(getattr(hooks, hook_name), item.kwargs, strict=False,
                          counters=counters, calls=calls)
                key = (hook_name,)
                dispatched[key] = dispatched.get(key, 0) + 1
            after = item.after
            if after is not None:
                if item.after_key is None:
                    self._run_after(after)
                else:
                    if not pending:
                        commit_by = now + interval
                    pending[item.after_key] = after
                    deferred += 1
            if pending and (deferred >= batch or monotonic() >= commit_by):
                self._run_afters(pending)
                deferred = 0

    @staticmethod
    def _finish(shard: _Shard, ready: deque[object]) -> bool:
        """At the stop sentinel: True (go on) while items remain to run before stopping.

        Producers are refused by now, but a delayed call made while draining is queued behind
        the sentinel, and a call that fell due releases held items into ``ready``.
        """
        while True:
            try:
                ready.append(shard.queue.get_nowait())
            except queue.Empty:
                break
        if not ready:
            return False
        ready.append(_STOP)
        return True

    def _run_due(self, due: _Due) -> None:
        try:
            due.call()
        except Exception:  # isolation boundary: a delayed call, like a hook
            name = getattr(getattr(due.call, "func", due.call), "__qualname__", "?")  # partial
            self._counters.inc(HOOK_ERRORS, "call_later", name)
            log.exception("delayed call %r for %s failed", due.call, due.key)

    def _run_afters(self, pending: dict[Hashable, Callable[[], object]]) -> None:
        for after in pending.values():
            self._run_after(after)
        pending.clear()

    def _run_after(self, after: Callable[[], object]) -> None:
        try:
            after()
        except Exception as exc:  # isolation boundary: a failed commit is counted, not fatal
            self._counters.inc(COMMIT_ERRORS, type(exc).__name__)
            with self._lock:
                first, self._commit_failed = not self._commit_failed, True
            if first:  # one line, not one per event: the count says how many
                log.error("could not commit a handled event (it will be delivered again after "
                          "a restart; later failures are only counted in %s): %s",
                          COMMIT_ERRORS, exc, exc_info=not isinstance(exc, LpError))
            else:
                log.debug("could not commit a handled event: %s", exc)

    @staticmethod
    def _trace(tracer: Tracer, hook_name: str, kwargs: Mapping[str, Any]) -> None:
        try:
            tracer(hook_name, kwargs)
        except Exception:  # isolation boundary: a broken tracer
            log.exception("hook tracer failed on %s", hook_name)
