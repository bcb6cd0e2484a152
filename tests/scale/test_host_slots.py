"""Shared per-host slots (HostRepo.reserve): spaced by the delay across callers."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.store import Store
from tests.conftest import FrozenClock


def test_slots_follow_each_other_by_the_delay_on_the_injected_clock(tmp_path: Path, clock: FrozenClock) -> None:
    """SQLite reserves on the store's clock (PostgreSQL uses the server's: threaded test below)."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", clock=clock)
    store.upgrade()
    assert store.hosts.reserve("a.example", 1.0) == 0.0
    assert store.hosts.reserve("a.example", 1.0) == 1.0
    assert store.hosts.reserve("a.example", 1.0) == 2.0
    assert store.hosts.reserve("b.example", 1.0) == 0.0  # hosts are independent
    clock.advance(10)
    assert store.hosts.reserve("a.example", 1.0) == 0.0  # an idle host starts at once
    store.close()


def test_a_blocked_host_can_be_reserved(store: Store, clock: FrozenClock) -> None:
    store.hosts.block("c.example", clock() + timedelta(hours=1))
    first = store.hosts.reserve("c.example", 0.5)
    second = store.hosts.reserve("c.example", 0.5)
    assert first == pytest.approx(0.0, abs=0.05) and second > first
    assert store.hosts.blocked_until("c.example") == clock() + timedelta(hours=1)  # untouched


@pytest.mark.postgres
def test_concurrent_reservations_on_postgresql_never_overlap(pg_url: str) -> None:
    store = Store(pg_url)
    store.upgrade()
    delay = 0.3
    try:
        def book(_: int) -> float:
            wait = store.hosts.reserve("shared.example", delay)
            return time.monotonic() + wait  # when this caller may start

        with ThreadPoolExecutor(max_workers=8) as pool:
            starts = sorted(pool.map(book, range(16)))
    finally:
        store.close()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # every caller got its own slot: starts are a delay apart (a few ms of latency aside)
    assert min(gaps) >= delay - 0.05, gaps
    assert starts[-1] - starts[0] >= delay * 15 - 0.05
