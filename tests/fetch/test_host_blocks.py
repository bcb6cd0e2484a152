"""The store's HostRepo as the client's shared host store (the ``SharedHosts`` seam).

fetch declares what it needs (``aggregator.fetch.host_blocks.SharedHosts``) and the store
satisfies it without importing fetch. The typed assignment below is that check for mypy
(``mypy tests/fetch/test_host_blocks.py``); the test is the same check at run time, on
SQLite (naive datetimes) and PostgreSQL.
"""

from __future__ import annotations

import pytest

from aggregator.errors import FetchError
from aggregator.fetch.client import HttpClient
from aggregator.fetch.host_blocks import SharedHosts
from aggregator.store import Store
from tests.conftest import FrozenClock
from tests.feedserver import FeedServer

from .conftest import UA

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


async def test_a_pause_recorded_by_one_client_stops_another(
    store: Store, feed_server: FeedServer, clock: FrozenClock
) -> None:
    hosts: SharedHosts = store.hosts
    feed_server.error("/limited", 429, retry_after=120)
    feed_server.add("/feed", RSS)
    async with HttpClient(user_agent=UA, allow_private=True, per_host_delay=0.0, clock=clock, host_blocks=hosts) as one:
        with pytest.raises(FetchError) as busy:
            await one.get(feed_server.url("/limited"))
    assert busy.value.status == 429
    count = len(feed_server.requests)
    clock.advance(20)
    # A fresh client stands for another crawler process: it knows the pause only from the store.
    async with HttpClient(user_agent=UA, allow_private=True, per_host_delay=0.0, clock=clock, host_blocks=hosts) as two:
        with pytest.raises(FetchError, match="asked us to wait") as blocked:
            await two.get(feed_server.url("/feed"))
        assert blocked.value.retry_after == 100
        assert len(feed_server.requests) == count  # refused without a request
        clock.advance(101)
        result = await two.get(feed_server.url("/feed"))
    assert result.status == 200
