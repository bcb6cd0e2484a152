"""The sources page links the published feeds, the list and the starter pack (bsky.app)."""

from __future__ import annotations

from typing import Any

from aggregator.config import parse_config
from aggregator.model import BlueskyPublished
from aggregator.store import Store
from tests.building import aggregator_for

RELAY = "did:plc:relayrelayrelayrelayrelay"
CONFIG = """
sources:
  - {name: Le Site, url: 'https://site.example/feed'}
bluesky_feed:
  feeds:
    - {short_name: reseau, display_name: Médias indépendants}
    - {short_name: lyon, display_name: Lyon}
  list: {name: Les médias}
  starter_pack: {name: Tous}
"""


async def test_links_appear_once_published(tmp_path: Any, clock: Any, aiohttp_client: Any) -> None:
    store = Store(f"sqlite:///{tmp_path / 'page.sqlite3'}", clock=clock)
    store.upgrade()
    try:
        async with aggregator_for(store, parse_config(CONFIG), base_url="https://medias.example.org") as agg:
            client = await aiohttp_client(agg.web_app(with_index=False))
            page = await (await client.get("/sources")).text()
            assert "bsky.app" not in page and "Sur Bluesky" not in page
            store.bluesky_feed.save_published(BlueskyPublished(
                did=RELAY, handle="relais.example",
                feeds=(("reseau", f"at://{RELAY}/app.bsky.feed.generator/reseau"),
                       ("gone", f"at://{RELAY}/app.bsky.feed.generator/gone")),
                list_uri=f"at://{RELAY}/app.bsky.graph.list/3kabc", starter_pack_uri=f"at://{RELAY}/app.bsky.graph.starterpack/3kdef"))
            page = await (await client.get("/sources")).text()
            assert "Sur Bluesky" in page
            assert f'href="https://bsky.app/profile/{RELAY}/feed/reseau"' in page and "le fil « Médias indépendants »" in page
            assert "/feed/gone" not in page, "a feed no longer configured is not offered"
            assert f'href="https://bsky.app/profile/{RELAY}/lists/3kabc"' in page
            assert f'href="https://bsky.app/starter-pack/{RELAY}/3kdef"' in page
            english = await (await client.get("/sources", headers={"Accept-Language": "en"})).text()
            assert "On Bluesky:" in english and "the starter pack to follow them all" in english
    finally:
        store.close()
