"""Leases on a real PostgreSQL: taking, renewing, losing, releasing, and fenced job runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lpbot.errors import LeaseLost
from lpbot.runtime.leases import Lease, LeaseStore

from .daemons import query


@pytest.fixture
def stores(state_url: str) -> Iterator[tuple[LeaseStore, LeaseStore]]:
    first = LeaseStore(state_url, bot="bot", owner="first", ttl=30)
    second = LeaseStore(state_url, bot="bot", owner="second", ttl=30)
    first.open()
    second.open()
    yield first, second
    first.close()
    second.close()


def expire(url: str, name: str) -> None:
    """What lease_ttl seconds without a renewal do, without waiting them out."""
    query(url, "UPDATE lpbot_leases SET expires_at = clock_timestamp() - interval '1 second' "
               "WHERE name = %s", (name,))


def test_a_lease_has_one_owner_until_it_expires(state_url: str,
                                                stores: tuple[LeaseStore, LeaseStore]) -> None:
    first, second = stores
    taken = first.acquire("scheduler")
    assert taken is not None
    lease, failover = taken
    assert (lease.epoch, failover) == (1, False)
    assert second.acquire("scheduler") is None
    assert first.renew(lease)
    expire(state_url, "scheduler")
    took_over = second.acquire("scheduler")
    assert took_over is not None
    assert (took_over[0].epoch, took_over[1]) == (2, True)
    assert not first.renew(lease)
    assert lease.lost
    with pytest.raises(LeaseLost):
        lease.check()


def test_a_released_lease_is_taken_at_once_and_is_no_failover(
        stores: tuple[LeaseStore, LeaseStore]) -> None:
    first, second = stores
    taken = first.acquire("consumer:a")
    assert taken is not None
    first.release(taken[0])
    again = second.acquire("consumer:a")
    assert again is not None
    assert (again[0].epoch, again[1]) == (2, False)


def test_each_scheduled_run_is_recorded_once_and_never_under_an_old_epoch(
        state_url: str, stores: tuple[LeaseStore, LeaseStore]) -> None:
    first, second = stores
    taken = first.acquire("scheduler")
    assert taken is not None
    due = datetime(2030, 1, 1, tzinfo=UTC)
    assert first.record_run(taken[0], "job", due)
    assert not first.record_run(taken[0], "job", due)
    expire(state_url, "scheduler")
    newer = second.acquire("scheduler")
    assert newer is not None
    # the old owner has not noticed yet (its local deadline is ahead): the database refuses
    with pytest.raises(LeaseLost):
        first.record_run(taken[0], "job", datetime(2030, 1, 2, tzinfo=UTC))
    assert taken[0].lost
    assert second.record_run(newer[0], "job", datetime(2030, 1, 2, tzinfo=UTC))
    assert query(state_url, "SELECT owner, epoch FROM lpbot_job_runs ORDER BY scheduled_at") == [
        ("first", 1), ("second", 2)]


def test_a_lease_past_its_local_deadline_is_not_valid() -> None:
    lease = Lease("scheduler", 1, time.monotonic() - 0.001)
    assert not lease.valid()
    with pytest.raises(LeaseLost, match="scheduler"):
        lease.check()


def test_cluster_status_lists_daemons_and_leases(stores: tuple[LeaseStore, LeaseStore]) -> None:
    first, second = stores
    first.acquire("scheduler")
    first.heartbeat(failovers=3)
    daemons = {daemon.owner: daemon for daemon in second.daemons()}
    assert daemons["first"].failovers == 3
    assert daemons["first"].stopped_at is None
    assert [(lease.name, lease.owner, lease.expired) for lease in second.leases()] == [
        ("scheduler", "first", False)]
