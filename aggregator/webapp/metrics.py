"""Prometheus text exposition, written by hand: a few counters and one histogram.

Per process: each web replica exposes its own request figures; the store figures
(sources by status, items, relay outbox) are the same everywhere because they are read
from the database at scrape time.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict

#: Seconds; the river target is 50 ms at p95, so resolution matters below 100 ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**values: str) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in values.items())
    return "{" + inner + "}" if inner else ""


class Metrics:
    """Request latency by route and status class, recorded by a middleware."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sum: dict[tuple[str, str], float] = defaultdict(float)
        self._count: dict[tuple[str, str], int] = defaultdict(int)

    def observe(self, route: str, method: str, seconds: float) -> None:
        key = (route, method)
        with self._lock:
            self._buckets[key][bisect_left(BUCKETS, seconds)] += 1
            self._sum[key] += seconds
            self._count[key] += 1

    def render_requests(self) -> list[str]:
        lines = [
            "# HELP aggregator_http_request_duration_seconds Time to answer a request, by route.",
            "# TYPE aggregator_http_request_duration_seconds histogram",
        ]
        with self._lock:
            for (route, method), counts in sorted(self._buckets.items()):
                cumulative = 0
                for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                    cumulative += n
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    lines.append(
                        f"aggregator_http_request_duration_seconds_bucket{labels(route=route, method=method, le=le)} {cumulative}"
                    )
                lab = labels(route=route, method=method)
                lines.append(f"aggregator_http_request_duration_seconds_sum{lab} {self._sum[(route, method)]:.6f}")
                lines.append(f"aggregator_http_request_duration_seconds_count{lab} {self._count[(route, method)]}")
        return lines


def render_store_metrics(
    by_status: dict[str, int], items: int, outbox: dict[tuple[str, str], int]
) -> list[str]:
    """The crawl, store and relay gauges, read from the database at scrape time."""
    lines = [
        "# HELP aggregator_sources Configured sources by the outcome of their last fetch.",
        "# TYPE aggregator_sources gauge",
    ]
    for status in ("ok", "not_modified", "failing", "disabled", "never"):
        lines.append(f"aggregator_sources{labels(status=status)} {by_status.get(status, 0)}")
    lines += [
        "# HELP aggregator_items Stored items (deleted ones excluded).",
        "# TYPE aggregator_items gauge",
        f"aggregator_items {items}",
        "# HELP aggregator_relay_posts Relay outbox rows by target and state.",
        "# TYPE aggregator_relay_posts gauge",
    ]
    for (target, state), n in sorted(outbox.items()):
        lines.append(f"aggregator_relay_posts{labels(target=target, state=state)} {n}")
    return lines
