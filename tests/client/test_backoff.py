from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lpbot.client.backoff import Backoff, wait_on_event


def test_documented_steps_then_capped_exponential():
    policy = Backoff(jitter=0.0)
    delays = [policy.delay(n) for n in range(10)]
    assert delays[:3] == [5.0, 10.0, 15.0]  # protocol notes §3.5: 5xx -> 5, 10, 15 s
    assert delays[3:6] == [30.0, 60.0, 120.0]
    assert delays[-1] == 300.0  # capped


def test_rate_limited_waits_at_least_one_second():
    policy = Backoff(jitter=0.0)
    assert [policy.rate_limited(n) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]


@given(attempt=st.integers(min_value=0, max_value=10_000), seed=st.integers())
def test_jitter_stays_within_bounds_and_429_never_below_minimum(attempt, seed):
    policy = Backoff()
    rng = random.Random(seed)
    nominal = policy.nominal(attempt)
    delay = policy.delay(attempt, rng)
    assert nominal * 0.8 <= delay <= nominal * 1.2
    assert policy.cap * 1.2 >= delay
    assert policy.rate_limited(attempt, rng) >= policy.rate_limit_min


def test_scaled_and_immediate_policies_for_tests():
    scaled = Backoff().scaled(0.001, jitter=0.0)
    assert [scaled.delay(n) for n in range(3)] == pytest.approx([0.005, 0.010, 0.015])
    assert scaled.rate_limited(0) == pytest.approx(0.001)
    immediate = Backoff.immediate()
    assert list(zip(range(5), immediate.delays(), strict=False)) == [(n, 0.0) for n in range(5)]


def test_invalid_policies_are_refused():
    with pytest.raises(ValueError, match="steps"):
        Backoff(steps=())
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)


def test_wait_on_event_is_interrupted_by_stop():
    stop = threading.Event()
    stop.set()
    assert wait_on_event(stop, 3600.0) is True  # returns at once: close() interrupts waits
    assert wait_on_event(threading.Event(), 0.0) is False
