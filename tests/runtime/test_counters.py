"""Counters written from several threads add up; hot loops' local tables are the same tables."""

from __future__ import annotations

import threading

import pytest

from lpbot.runtime.counters import DISPATCH_LATENCY, HOOK_CALLS, Counters


def test_local_tables_of_several_threads_add_up_with_inc_and_observe() -> None:
    counters = Counters()
    start = threading.Barrier(3)

    def count() -> None:
        start.wait(5)
        calls = counters.local_series(HOOK_CALLS)
        observe = counters.local_histogram(DISPATCH_LATENCY, "lpbot_message_received")
        for _ in range(1000):
            calls[("p", "h")] = calls.get(("p", "h"), 0) + 1
            observe(0.002)
        counters.inc(HOOK_CALLS, "p", "h")
        counters.observe(DISPATCH_LATENCY, 20.0, "lpbot_message_received")

    threads = [threading.Thread(target=count, name=f"test-counter-{n}") for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    assert counters.value(HOOK_CALLS, "p", "h") == 3 * 1001
    histogram = counters.histogram(DISPATCH_LATENCY, "lpbot_message_received")
    assert histogram.count == 3 * 1001
    assert histogram.total == pytest.approx(3 * (1000 * 0.002 + 20.0))
    assert histogram.quantile(0.5) <= 0.0025
    assert histogram.quantile(1.0) > 10.0
