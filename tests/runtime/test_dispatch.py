"""The dispatcher: order per key, isolation of failing plugins, backpressure, drain."""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

import lpbot
from lpbot.errors import PluginError
from lpbot.runtime.counters import (
    DISPATCH_BLOCKED,
    DISPATCH_DROPPED,
    EVENTS_DISPATCHED,
    HOOK_CALLS,
    HOOK_ERRORS,
    Counters,
)
from lpbot.runtime.dispatch import Dispatcher, call_each, shard_of
from lpbot.runtime.plugins import PluginManager

from .conftest import wait_for


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.lock = threading.Lock()

    @lpbot.hookimpl
    def lpbot_message_received(self, conversation: str, message: int) -> None:
        with self.lock:
            self.seen[conversation].append(message)


class Raising:
    @lpbot.hookimpl
    def lpbot_message_received(self, message: int) -> None:
        raise RuntimeError(f"boom {message}")

    @lpbot.hookimpl
    def lpbot_startup(self) -> None:
        raise RuntimeError("cannot start")


class Blocking:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    @lpbot.hookimpl
    def lpbot_message_received(self) -> None:
        self.entered.set()
        self.release.wait(10)


def make(*plugins: object, **options: object) -> tuple[Dispatcher, Counters, PluginManager]:
    manager = PluginManager()
    for index, plugin in enumerate(plugins):
        manager.register(plugin, name=f"{type(plugin).__name__.lower()}-{index}")
    counters = Counters()
    dispatcher = Dispatcher(manager, counters=counters, **options)  # type: ignore[arg-type]
    dispatcher.start()
    return dispatcher, counters, manager


def message_args(conversation: str, number: int) -> dict[str, object]:
    return {"bot": None, "conversation": conversation, "message": number}


def produce_in_background(dispatcher: Dispatcher, number: int) -> tuple[threading.Thread,
                                                                         threading.Event]:
    """Submit message ``number`` of "c" from a named thread; the event is set once queued."""
    done = threading.Event()

    def produce() -> None:
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number))
        done.set()

    producer = threading.Thread(target=produce, name="test-producer")
    producer.start()
    return producer, done


def test_order_is_kept_per_key_with_keys_in_parallel() -> None:
    recorder = Recorder()
    dispatcher, counters, _ = make(recorder, workers=4, queue_size=50)
    keys = [f"conversation-{n}" for n in range(200)]
    for number in range(30):
        for key in keys:
            dispatcher.submit(key, "lpbot_message_received", message_args(key, number))
    assert dispatcher.drain(10)
    assert all(recorder.seen[key] == list(range(30)) for key in keys)
    assert counters.value(EVENTS_DISPATCHED, "lpbot_message_received") == 6000
    assert {shard_of(key, 4) for key in keys} == {0, 1, 2, 3}


def test_a_raising_plugin_is_logged_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    dispatcher, counters, _ = make(Raising(), recorder, workers=2)
    for number in range(5):
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number))
    assert dispatcher.drain(5)
    assert recorder.seen["c"] == [0, 1, 2, 3, 4]
    assert counters.value(HOOK_ERRORS, "raising-0", "lpbot_message_received") == 5
    assert counters.value(HOOK_CALLS, "recorder-1", "lpbot_message_received") == 5
    failures = [r for r in caplog.records if "plugin 'raising-0' failed" in r.getMessage()]
    assert len(failures) == 5
    assert failures[0].exc_info is not None


def test_strict_calls_raise_plugin_error_naming_the_plugin() -> None:
    dispatcher, counters, _ = make(Raising())
    with pytest.raises(PluginError, match="plugin 'raising-0' in lpbot_startup") as caught:
        dispatcher.call("lpbot_startup", {"bot": None}, strict=True)
    assert caught.value.plugin == "raising-0"
    assert counters.value(HOOK_ERRORS, "raising-0", "lpbot_startup") == 1
    assert dispatcher.drain(1)


def test_firstresult_stops_at_the_first_answer_and_skips_failures() -> None:
    class Nothing:
        @lpbot.hookimpl(tryfirst=True)
        def lpbot_csat_score(self) -> int | None:
            return None

    class Broken:
        @lpbot.hookimpl
        def lpbot_csat_score(self) -> int:
            raise ValueError("no score")

    class Four:
        @lpbot.hookimpl(trylast=True)
        def lpbot_csat_score(self) -> int:
            return 4

    class Five:
        @lpbot.hookimpl(trylast=True)
        def lpbot_csat_score(self) -> int:
            return 5

    manager = PluginManager()
    for plugin in (Five(), Four(), Broken(), Nothing()):
        manager.register(plugin)
    results = call_each(manager.hook.lpbot_csat_score, {"bot": None, "conversation": None},
                        strict=False)
    assert results == [5]  # among trylast ones, the first registered is called first


def test_chat_states_are_dropped_when_the_queue_is_full() -> None:
    blocking = Blocking()
    dispatcher, counters, _ = make(blocking, workers=1, queue_size=1)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 0))
    assert blocking.entered.wait(5)
    assert dispatcher.submit("c", "lpbot_message_received", message_args("c", 1))
    assert not dispatcher.submit("c", "lpbot_chat_state_received", message_args("c", 2),
                                 droppable=True)
    assert counters.value(DISPATCH_DROPPED, "full") == 1
    blocking.release.set()
    assert dispatcher.drain(5)


def test_a_full_queue_blocks_the_producer_until_there_is_room(
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocking = Blocking()
    recorder = Recorder()
    dispatcher, counters, _ = make(blocking, recorder, workers=1, queue_size=1,
                                   put_timeout=0.01)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 0))
    assert blocking.entered.wait(5)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 1))
    producer, done = produce_in_background(dispatcher, 2)
    wait_for(lambda: counters.value(DISPATCH_BLOCKED, "0") >= 2, what="the producer to block")
    assert not done.is_set()
    blocking.release.set()
    assert done.wait(5)
    producer.join(5)
    assert dispatcher.drain(5)
    assert recorder.seen["c"] == [0, 1, 2]
    assert any("queue 0 full" in r.getMessage() for r in caplog.records)


class Turnstile:
    """Lets one hook call through per release of ``steps``; counts the calls that began."""

    def __init__(self) -> None:
        self.steps = threading.Semaphore(0)
        self.entered = 0
        self.lock = threading.Lock()

    @lpbot.hookimpl
    def lpbot_message_received(self) -> None:
        with self.lock:
            self.entered += 1
        self.steps.acquire(timeout=10)  # a test that forgets a step fails on its own waits


def test_a_blocked_producer_resumes_once_the_queue_is_half_empty() -> None:
    gate = Turnstile()
    recorder = Recorder()
    dispatcher, counters, _ = make(gate, recorder, workers=1, queue_size=4, put_timeout=0.01)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 0))
    wait_for(lambda: gate.entered == 1, what="the first call")
    for number in range(1, 5):  # fills the queue: 4 waiting behind the call in progress
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number))
    producer, done = produce_in_background(dispatcher, 5)
    wait_for(lambda: counters.value(DISPATCH_BLOCKED, "0") >= 1, what="the producer to block")
    gate.steps.release()  # 3 left in the queue: room, but not yet down to half
    wait_for(lambda: gate.entered == 2, what="the second call")
    blocked = counters.value(DISPATCH_BLOCKED, "0")
    wait_for(lambda: counters.value(DISPATCH_BLOCKED, "0") >= blocked + 2,
             what="the producer to go on waiting")
    assert not done.is_set()
    # there is room for one, but the waiting producer is let in first: a chat state is dropped
    assert not dispatcher.submit("c", "lpbot_chat_state_received", message_args("c", 9),
                                 droppable=True)
    assert counters.value(DISPATCH_DROPPED, "full") == 1
    gate.steps.release()  # 2 left: half the capacity, the producer goes on
    assert done.wait(5)
    producer.join(5)
    for _ in range(4):
        gate.steps.release()
    assert dispatcher.drain(5)
    assert recorder.seen["c"] == [0, 1, 2, 3, 4, 5]


def test_drain_discards_what_cannot_be_delivered_in_time() -> None:
    blocking = Blocking()
    recorder = Recorder()
    dispatcher, counters, _ = make(blocking, recorder, workers=1, queue_size=100)
    for number in range(10):
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number))
    assert blocking.entered.wait(5)
    drained = threading.Event()
    result: list[bool] = []

    def drain() -> None:
        result.append(dispatcher.drain(0.2))
        drained.set()

    drainer = threading.Thread(target=drain, name="test-drainer")
    drainer.start()
    assert drained.wait(5)
    assert result == [False]  # the worker is still inside the blocking hook
    blocking.release.set()
    drainer.join(5)
    wait_for(lambda: not any(t.name == "lpbot-worker-0" for t in threading.enumerate()),
             what="the worker to finish")
    assert counters.value(DISPATCH_DROPPED, "stopping") == 9
    assert recorder.seen["c"] == [0]
    assert not dispatcher.submit("c", "lpbot_message_received", message_args("c", 99))


def test_after_runs_once_the_hooks_returned_and_tracers_see_every_call() -> None:
    recorder = Recorder()
    dispatcher, _, _ = make(recorder, workers=2)
    committed: list[int] = []
    traced: list[str] = []
    dispatcher.add_tracer(lambda name, kwargs: traced.append(name))
    for number in range(3):
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number),
                          after=lambda n=number: committed.append(n))
    assert dispatcher.drain(5)
    assert committed == [0, 1, 2]
    assert traced == ["lpbot_message_received"] * 3
    assert not [t for t in threading.enumerate() if t.name.startswith("lpbot-worker")]


def test_worker_threads_are_named_and_joined() -> None:
    dispatcher, _, _ = make(workers=3)
    names = {t.name for t in threading.enumerate()}
    assert {"lpbot-worker-0", "lpbot-worker-1", "lpbot-worker-2"} <= names
    assert dispatcher.drain(5)
    assert not [t for t in threading.enumerate() if t.name.startswith("lpbot-worker")]


class Gate:
    """Holds the worker in the hook of message 0 until released, so a backlog builds."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    @lpbot.hookimpl
    def lpbot_message_received(self, message: int) -> None:
        if message == 0:
            self.entered.set()
            assert self.release.wait(5)


def test_a_backlog_commits_only_the_latest_sequence_of_each_dialog() -> None:
    gate = Gate()
    dispatcher, _, _ = make(gate, workers=1, commit_batch=1000)
    committed: list[tuple[str, int]] = []
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 0),
                      after=lambda: committed.append(("c", 0)), after_key="c")
    assert gate.entered.wait(5)
    for number in range(1, 50):
        for dialog in ("c", "d"):
            dispatcher.submit(dialog, "lpbot_message_received", message_args(dialog, number),
                              after=lambda d=dialog, n=number: committed.append((d, n)),
                              after_key=dialog)
    gate.release.set()
    # an idle worker commits by itself, without a drain
    wait_for(lambda: ("c", 49) in committed and ("d", 49) in committed,
             what="the latest sequence of each dialog committed")
    assert dispatcher.drain(5)
    assert [n for d, n in committed if d == "c"][-1] == 49
    assert len(committed) < 99  # superseded sequences were skipped, not each written


class Snapshot(Gate):
    """A Gate whose message 0 then outlasts ``hold`` seconds; message 1 records what was
    committed by then."""

    def __init__(self, committed: list[int], hold: float) -> None:
        super().__init__()
        self.committed = committed
        self.hold = hold
        self.seen_by_1: list[int] | None = None

    @lpbot.hookimpl
    def lpbot_message_received(self, message: int) -> None:
        super().lpbot_message_received(message)
        if message == 0:
            threading.Event().wait(self.hold)  # let the commit interval pass, nothing to wait on
        elif message == 1:
            self.seen_by_1 = list(self.committed)


def test_a_busy_worker_commits_once_the_commit_interval_passed() -> None:
    committed: list[int] = []
    hook = Snapshot(committed, hold=0.05)
    dispatcher, _, _ = make(hook, workers=1, commit_batch=1000, commit_interval=0.01)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 0),
                      after=lambda: committed.append(0), after_key="c")
    assert hook.entered.wait(5)
    # message 1 is queued before message 0 ends: the worker never idles, yet commits
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 1),
                      after=lambda: committed.append(1), after_key="c")
    hook.release.set()
    assert dispatcher.drain(5)
    assert hook.seen_by_1 == [0]
    assert committed == [0, 1]


def test_commit_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="commit_interval"):
        Dispatcher(PluginManager(), counters=Counters(), commit_interval=0)


def test_commit_batch_1_commits_after_every_event_and_drain_commits_what_is_left() -> None:
    dispatcher, _, _ = make(Recorder(), workers=1, commit_batch=1)
    committed: list[int] = []
    for number in range(20):
        dispatcher.submit("c", "lpbot_message_received", message_args("c", number),
                          after=lambda n=number: committed.append(n), after_key="c")
    assert dispatcher.drain(5)
    assert committed == list(range(20))


class Delaying:
    """On message 1 of conversation "a": answer in an hour, through call_later."""

    def __init__(self, dispatcher: list[Dispatcher]) -> None:
        self.dispatcher = dispatcher
        self.order: list[str] = []
        self.ran = threading.Event()

    @lpbot.hookimpl
    def lpbot_message_received(self, conversation: str, message: int) -> None:
        self.order.append(f"{conversation}{message}")
        if conversation == "a" and message == 1:
            self.dispatcher[0].call_later(3600, conversation,
                                          lambda: self.order.append(f"{conversation}-later"))
        if conversation == "b" and message == 2:
            self.ran.set()


def test_call_later_frees_the_worker_and_holds_back_only_its_own_key() -> None:
    owner: list[Dispatcher] = []
    plugin = Delaying(owner)
    dispatcher, _, _ = make(plugin, workers=1)
    owner.append(dispatcher)
    for conversation, number in (("a", 1), ("b", 1), ("a", 2), ("b", 2)):
        dispatcher.submit(conversation, "lpbot_message_received", message_args(conversation,
                                                                                number))
    assert plugin.ran.wait(5)
    # One worker, one queue: a2 was queued before b2, yet waits for a's delayed call.
    assert plugin.order == ["a1", "b1", "b2"]
    assert dispatcher.drain(5)  # stopping: the hour-long waits end now, in order
    assert plugin.order == ["a1", "b1", "b2", "a-later", "a2"]
    assert not [t for t in threading.enumerate() if t.name == "lpbot-timer"]


def test_a_failing_delayed_call_is_counted_and_releases_its_key() -> None:
    plugin = Recorder()
    dispatcher, counters, _ = make(plugin, workers=1)

    def broken() -> None:
        raise RuntimeError("late boom")

    dispatcher.call_later(0, "c", broken)
    dispatcher.submit("c", "lpbot_message_received", message_args("c", 1))
    wait_for(lambda: plugin.seen["c"] == [1])
    assert counters.series(HOOK_ERRORS)[("call_later", "test_a_failing_delayed_call_is_"
                                         "counted_and_releases_its_key.<locals>.broken")] == 1
    assert dispatcher.drain(5)


def test_a_delayed_call_after_the_drain_is_dropped_and_counted() -> None:
    plugin = Recorder()
    dispatcher, counters, _ = make(plugin, workers=1)
    assert dispatcher.drain(5)
    dispatcher.call_later(0, "c", lambda: plugin.seen["c"].append(99))
    assert counters.series(DISPATCH_DROPPED)[("stopping",)] == 1
    assert plugin.seen["c"] == []
