"""When to fetch a source next: pure functions of what the last fetch taught us."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

WEEK = 7 * 86400.0


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def success_interval(
    published: Iterable[datetime],
    *,
    now: datetime,
    min_interval: float,
    max_interval: float,
    max_age: float | None = None,
    ttl: float | None = None,
    previous: float | None = None,
) -> float:
    """Seconds until the next fetch after a successful one.

    The publishing rate sets the pace (Miniflux's entry-frequency rule: a week divided by
    the entries of the last week); the server's Cache-Control/Expires and the feed's
    ``<ttl>`` are honoured as lower bounds; all clamped to [min, max]. With no recent
    entries the previous interval grows by half, up to the maximum.
    """
    week_ago = now - timedelta(seconds=WEEK)
    recent = sum(1 for p in published if week_ago <= p <= now)
    if recent:
        interval = WEEK / recent
    elif previous:
        interval = previous * 1.5
    else:
        interval = max_interval
    for floor in (max_age, ttl):
        if floor is not None and floor > interval:
            interval = floor
    return clamp(interval, min_interval, max_interval)


def failure_interval(
    error_count: int,
    *,
    min_interval: float,
    max_interval: float,
    retry_after: float | None = None,
) -> float:
    """Exponential back-off after ``error_count`` consecutive failures (1 = the first)."""
    interval = min_interval * (2 ** max(0, min(error_count - 1, 20)))
    if retry_after is not None:
        interval = max(interval, retry_after)
    return clamp(interval, min_interval, max_interval)


def jittered(now: datetime, seconds: float, rng: random.Random, spread: float = 0.1) -> datetime:
    """``now + seconds`` give or take ``spread``: sources added together drift apart."""
    factor = 1 + rng.uniform(-spread, spread)
    return now + timedelta(seconds=seconds * factor)
