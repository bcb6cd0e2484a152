"""Followers get the clean link: a feed's tracking parameters never reach a relayed post (issue 10)."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import update

from aggregator.model import SourceConfig
from aggregator.store import Store
from aggregator.store import schema as S
from tests.building import Relays
from tests.crawl.helpers import config_for, crawler
from tests.feedserver import FeedServer

from .conftest import article, save
from .mastodon_fake import FakeMastodon
from .test_relay_mastodon import posts, relay_for

TRACKED = "https://media.example/spip.php?article7&utm_source=rss&utm_medium=feed&fbclid=IwAR0x#xtor=RSS-1"
CLEAN = "https://media.example/spip.php?article7"
FEED = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Média</title>'
    "<link>https://media.example/</link><description>Infos</description>"
    "<item><title>Rassemblement devant la préfecture ce soir</title>"
    f"<link>{TRACKED.replace('&', '&amp;')}</link><guid isPermaLink=\"false\">a7</guid>"
    "<pubDate>Fri, 20 Nov 2026 10:00:00 +0000</pubDate>"
    "<description>&lt;p&gt;Rendez-vous à 18 h.&lt;/p&gt;</description></item></channel></rss>"
)


async def test_a_crawled_tracking_link_is_posted_clean(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    async with FeedServer() as server:
        server.add("/feed.xml", FEED)
        config = config_for(f"  - name: Média\n    slug: media\n    url: {server.url('/feed.xml')}\n",
                            relay="relay:\n  mastodon:\n    api_base_url: https://relay.example\n")
        async with crawler(store, config) as c:
            assert (await c.crawl(every=True)).as_json()["new_items"] == 1
    relay = await relay_for(relays, store, mastodon)
    [report] = await relay.run_once()
    [sent] = posts(mastodon)
    assert report["state"] == "posted" and report["url"] == CLEAN
    assert sent["status"] == f"Rassemblement devant la préfecture ce soir\n\n{CLEAN}\n\n#presse"
    for tracker in ("utm_", "fbclid", "xtor"):
        assert tracker not in sent["status"]


async def test_a_post_sent_with_the_tracked_link_before_the_upgrade_is_found(
    store: Store, clock, mastodon: FakeMastodon, relays: Relays
) -> None:
    """Killed mid-post before upgrading; migration 0005 then cleaned the stored link. The
    relay must recognise its earlier post (with the tracked link) instead of posting twice."""
    site = SourceConfig(slug="media", name="Média", kind="feed", url="https://media.example/feed")
    store.sources.sync([site])
    save(store, site, [article("a7", "Rassemblement devant la préfecture ce soir", TRACKED)], targets=("mastodon",))
    mastodon.hang_after_commit = True
    relay = await relay_for(relays, store, mastodon)
    task = asyncio.create_task(relay.run_once())
    for _ in range(200):
        if mastodon.statuses:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert [r.state for r in store.outbox.all()] == ["sending"]
    with store.db.write() as conn:  # what the upgrade did to the stored link
        conn.execute(update(S.entries).values(url=CLEAN))
    mastodon.hang_after_commit = False
    mastodon.expire_keys()
    relay = await relay_for(relays, store, mastodon)
    assert [r["state"] for r in await relay.run_once()] == ["posted"]
    assert len(posts(mastodon)) == 1
