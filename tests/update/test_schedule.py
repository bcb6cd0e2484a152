"""When to fetch next: pure functions of what the last fetch taught us."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.update.schedule import WEEK, failure_interval, jittered, success_interval

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LIMITS = {"min_interval": 300.0, "max_interval": 86400.0}


def hours_ago(*hours: float) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in hours]


@pytest.mark.parametrize(("published", "expected"), [
    (hours_ago(*range(0, 7 * 24, 12)), WEEK / 14),   # 14 entries in the week: every 12 h
    (hours_ago(1, 2, 3), WEEK / 3),                   # a slow source: capped at the maximum below
    (hours_ago(*[i / 60 for i in range(5000)]), 300.0),  # a firehose: not under the minimum
    (hours_ago(24 * 8, 24 * 9), 86400.0),             # nothing this week, no history: the maximum
    ([NOW + timedelta(hours=1)], 86400.0),            # future dates do not count
])
def test_the_pace_follows_the_publishing_rate(published: list[datetime], expected: float) -> None:
    assert success_interval(published, now=NOW, **LIMITS) == min(expected, 86400.0)


def test_a_quiet_source_slows_down_from_its_previous_pace() -> None:
    assert success_interval([], now=NOW, previous=3600.0, **LIMITS) == 5400.0
    assert success_interval([], now=NOW, previous=80000.0, **LIMITS) == 86400.0


def test_server_hints_are_floors_within_the_limits() -> None:
    busy = hours_ago(*range(0, 7 * 24, 1))  # hourly
    assert success_interval(busy, now=NOW, max_age=7200.0, **LIMITS) == 7200.0
    assert success_interval(busy, now=NOW, ttl=3 * 3600.0, **LIMITS) == 3 * 3600.0
    assert success_interval(busy, now=NOW, max_age=10.0, **LIMITS) == WEEK / len(busy)
    assert success_interval(busy, now=NOW, max_age=10 * 86400.0, **LIMITS) == 86400.0


@pytest.mark.parametrize(("errors", "expected"), [(1, 300.0), (2, 600.0), (5, 4800.0), (12, 86400.0), (500, 86400.0)])
def test_failures_back_off_exponentially(errors: int, expected: float) -> None:
    assert failure_interval(errors, **LIMITS) == expected


def test_retry_after_wins_when_longer() -> None:
    assert failure_interval(1, retry_after=7200.0, **LIMITS) == 7200.0
    assert failure_interval(3, retry_after=5.0, **LIMITS) == 1200.0


def test_jitter_stays_within_ten_percent_and_is_reproducible() -> None:
    rng = random.Random(3)
    times = [jittered(NOW, 1000.0, rng) for _ in range(200)]
    assert all(NOW + timedelta(seconds=900) <= t <= NOW + timedelta(seconds=1100) for t in times)
    assert len(set(times)) > 100
    assert jittered(NOW, 1000.0, random.Random(3)) == times[0]
