"""A Bluesky source crawled end to end from the real local network (PDS + AppView)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from aggregator.store import Store
from tests.conftest import FrozenClock
from tests.peers.bluesky import BlueskyNetwork, create_account, create_record, poll

from .helpers import config_for, crawler

pytestmark = [pytest.mark.peers, pytest.mark.slow]


async def test_bluesky_source_is_crawled_and_reposts_are_told_apart(
    bluesky_network: BlueskyNetwork, tmp_path, clock: FrozenClock
) -> None:
    net = bluesky_network
    now = datetime.now(UTC)
    clock.now = now + timedelta(minutes=1)
    suffix = secrets.token_hex(3)
    stamp = now.isoformat().replace("+00:00", "Z")
    async with aiohttp.ClientSession() as session:
        source = await create_account(session, net, f"crawlsrc-{suffix}.test")
        other = await create_account(session, net, f"crawlother-{suffix}.test")
        theirs = await create_record(session, net, other, "app.bsky.feed.post", {"text": "Le texte d'un autre média", "createdAt": stamp})
        own = await create_record(session, net, source, "app.bsky.feed.post", {"text": "Notre article sur la grève des éboueurs", "langs": ["fr"], "createdAt": stamp})
        await create_record(session, net, source, "app.bsky.feed.repost", {"subject": theirs, "createdAt": stamp})

        async def indexed() -> bool:
            url = f"{net.appview}/xrpc/app.bsky.feed.getAuthorFeed"
            async with session.get(url, params={"actor": source.did}) as r:
                return r.status == 200 and len((await r.json())["feed"]) >= 2

        await poll(indexed, what="the author feed")

    store = Store(f"sqlite:///{tmp_path / 'b.sqlite3'}", clock=clock)
    store.upgrade()
    config = config_for(
        f"  - name: Média\n    slug: media\n    kind: bluesky\n    handle: {source.handle}\n",
        relay="relay:\n  bluesky:\n    service: https://pds.example\nsettings:\n  bluesky_appview: " + net.appview + "\n",
    )
    async with crawler(store, config) as c:
        report = await c.crawl(every=True)
    assert report.as_json()["ok"] == 1 and report.as_json()["new_items"] == 2, report.as_json()
    entries = {e.kind: e for e in store.entries.newest(source="media")}
    assert set(entries) == {"post", "repost"}
    assert entries["post"].native_uri == own["uri"] and entries["post"].native_cid == own["cid"]
    assert entries["repost"].native_uri == theirs["uri"]
    state = store.sources.get("media")
    assert state is not None and state.resolved_id == source.did
    assert store.outbox.counts() == {("bluesky", "pending"): 2}
