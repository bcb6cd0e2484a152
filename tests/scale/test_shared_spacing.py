"""Per-host spacing shared through PostgreSQL: two HTTP clients, one host, one delay."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from aggregator.fetch.client import HttpClient
from aggregator.store import Store
from tests.crawl.helpers import UA
from tests.feedserver import FeedServer

pytestmark = pytest.mark.postgres

DELAY = 0.5


async def test_two_clients_sharing_host_slots_keep_the_spacing(pg_url: str) -> None:
    """Two clients stand for two crawler processes: each alone would start at once."""
    store = Store(pg_url)
    store.upgrade()
    try:
        async with FeedServer(host="127.0.0.7") as server:
            for n in range(8):
                server.add(f"/{n}.xml", "<rss version='2.0'><channel><title>t</title></channel></rss>")
            async with (
                HttpClient(user_agent=UA, allow_private=True, per_host_delay=DELAY, host_blocks=store.hosts) as one,
                HttpClient(user_agent=UA, allow_private=True, per_host_delay=DELAY, host_blocks=store.hosts) as two,
            ):
                clients = itertools.cycle([one, two])
                await asyncio.gather(*(next(clients).get(server.url(f"/{n}.xml")) for n in range(8)))
        starts = sorted(r.time for r in server.requests)
    finally:
        store.close()
    assert len(starts) == 8
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= DELAY - 0.1, [round(g, 3) for g in gaps]
