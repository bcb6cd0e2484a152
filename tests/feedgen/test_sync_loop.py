"""``run``'s sync loop: at start, then again; a failure waits for the retry, never stops the loop."""

from __future__ import annotations

import asyncio

from aggregator.errors import ConfigError, RelayError
from aggregator.feedgen.publish import Outcome, keep_in_sync


async def test_publishes_at_start_retries_failures_and_stops() -> None:
    stop = asyncio.Event()
    calls = 0

    async def publish() -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RelayError("bluesky publish: rate limited", target="bluesky", retry_after=0.01)
        stop.set()
        return [Outcome("list", "at://did:plc:x/app.bsky.graph.list/3k", "L", "unchanged")]

    # A round an hour: only the retry after the failure makes it go on this soon.
    await asyncio.wait_for(keep_in_sync(publish, stop, every=3600, retry=0.01), timeout=30)
    assert calls == 2


async def test_a_configuration_error_waits_for_the_next_round() -> None:
    stop = asyncio.Event()
    calls = 0

    async def publish() -> list[Outcome]:
        nonlocal calls
        calls += 1
        raise ConfigError("cannot read the avatar", file="sources.yaml", field="bluesky_feed.list.avatar")

    loop = asyncio.create_task(keep_in_sync(publish, stop, every=3600, retry=0.01))
    await asyncio.sleep(0.2)  # many retry periods: none is used for an error the operator must fix
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert calls == 1
