"""Per-host and global limits: the slots themselves, then a real server's request log."""

from __future__ import annotations

import asyncio
import itertools

from aggregator.fetch.client import HttpClient
from aggregator.fetch.politeness import SWEEP_INTERVAL, Politeness
from tests.feedserver import FeedServer, RecordedRequest

from .conftest import UA


async def _hold(pol: Politeness, host: str, entered: asyncio.Event, release: asyncio.Event) -> None:
    async with pol.slot(host):
        entered.set()
        await release.wait()


async def test_per_host_limit_does_not_hold_back_other_hosts() -> None:
    pol = Politeness(per_host_limit=2, per_host_delay=0.0, global_limit=10)
    release = asyncio.Event()
    events = {name: asyncio.Event() for name in ("a1", "a2", "a3", "b1")}
    tasks = [
        asyncio.create_task(_hold(pol, name[0], events[name], release))
        for name in ("a1", "a2", "a3")
    ]
    await asyncio.wait_for(asyncio.gather(events["a1"].wait(), events["a2"].wait()), 5)
    tasks.append(asyncio.create_task(_hold(pol, "b", events["b1"], release)))
    await asyncio.wait_for(events["b1"].wait(), 5)  # b gets in while a is full
    assert not events["a3"].is_set()  # a third request to a waits
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert events["a3"].is_set()


async def test_global_limit_bounds_all_hosts() -> None:
    pol = Politeness(per_host_limit=2, per_host_delay=0.0, global_limit=3)
    release = asyncio.Event()
    events = [asyncio.Event() for _ in range(6)]
    tasks = [asyncio.create_task(_hold(pol, f"host{i}", events[i], release)) for i in range(6)]
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert sum(e.is_set() for e in events) == 3
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert all(e.is_set() for e in events)


async def test_idle_hosts_are_forgotten() -> None:
    now = [1000.0]
    pol = Politeness(
        per_host_limit=2, per_host_delay=0.5, global_limit=16, monotonic=lambda: now[0]
    )
    for i in range(2000):
        async with pol.slot(f"h{i}.example"):
            pass
    assert len(pol) == 2000  # each host started less than per_host_delay ago (frozen time)
    now[0] += SWEEP_INTERVAL + 1
    async with pol.slot("late.example"):
        pass
    assert len(pol) == 1  # only the host just used is still remembered
    fast = Politeness(per_host_limit=2, per_host_delay=0.0, global_limit=16)
    for i in range(2000):
        async with fast.slot(f"h{i}.example"):
            pass
    assert len(fast) == 0


def _starts(requests: list[RecordedRequest]) -> list[float]:
    return sorted(r.time for r in requests)


async def test_real_server_sees_two_at_a_time_and_spaced_starts() -> None:
    async with FeedServer("127.0.0.2") as a, FeedServer("127.0.0.3") as b:
        for server in (a, b):
            server.slow("/feed", delay=0.3)
        async with HttpClient(
            user_agent=UA, allow_private=True, per_host_limit=2, per_host_delay=0.2
        ) as http:
            await asyncio.gather(
                *(http.get(server.url("/feed")) for server in (a, b) for _ in range(6))
            )
        for server in (a, b):
            assert len(server.requests) == 6
            assert server.max_in_flight <= 2
            starts = _starts(server.requests)
            gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
            assert min(gaps) > 0.15, gaps
