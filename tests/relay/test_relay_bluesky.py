"""The relay against the real local Bluesky network (PDS + AppView from @atproto/dev-env)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aggregator.model import BlueskyTarget, EntryData, RelayConfig, SourceConfig
from aggregator.relay.bluesky import SESSION_KEY
from aggregator.relay.format import short_url
from aggregator.settings import Credentials
from aggregator.store import Store
from aggregator.store.meta import MetaRepo
from tests.building import Relays
from tests.peers.bluesky import BlueskyNetwork, create_account, create_record, poll, xrpc

from .bsky_helpers import list_records
from .conftest import ArticleSite, article, save

pytestmark = pytest.mark.peers
PASSWORD = "correct-horse-battery"


@pytest.fixture
def sqlite_store(tmp_path: Path, clock) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'relay.sqlite3'}", clock=clock)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()


async def test_posts_cards_facets_languages_and_reposts(bluesky_network: BlueskyNetwork, sqlite_store: Store,
                                                        clock, site: ArticleSite, relays: Relays) -> None:
    store = sqlite_store
    net = bluesky_network
    async with aiohttp.ClientSession() as http:
        relay_account = await create_account(http, net, f"relay-{secrets.token_hex(4)}.test")
        source_account = await create_account(http, net, f"medium-{secrets.token_hex(4)}.test")
        native = await create_record(http, net, source_account, "app.bsky.feed.post",
                                     {"text": "Rassemblement ce soir", "createdAt": "2026-11-20T11:00:00Z", "langs": ["fr"]})
    web = SourceConfig(slug="site", name="Le Site", kind="feed", url=site.base + "/feed", language="fr", tags=("luttes",))
    sky = SourceConfig(slug="sky", name="Le Média", kind="bluesky", handle=source_account.handle)
    masto = SourceConfig(slug="masto", name="Média Masto", kind="mastodon", account="@m@remote.example")
    store.sources.sync([web, sky, masto])
    save(store, web, [
        article("big", "Grève générale à Lyon : 👩🏽‍🚒 des milliers dans la rue", site.url("big-1"), language="fr-FR"),
        article("noimage", "Un article sans image", site.url("noimage-1")),
        article("missing", "Un article dont la page a disparu", site.url("missing-1"), image=f"{site.base}/images/small.jpg"),
    ], targets=("bluesky",))
    save(store, sky, [EntryData(guid=native["uri"], url=f"https://bsky.app/profile/{source_account.handle}/post/x",
                                title="Rassemblement ce soir", text="Rassemblement ce soir", kind="post",
                                native_uri=native["uri"], native_cid=native["cid"], content_hash="n")], targets=("bluesky",))
    save(store, masto, [EntryData(guid="m1", url="https://remote.example/@m/1", title="Communiqué", text="Communiqué de presse",
                                  kind="post", native_uri="https://remote.example/users/m/statuses/1", content_hash="m")],
         targets=("bluesky",))
    config = RelayConfig(bluesky=BlueskyTarget(service=net.pds, appview=net.appview), hashtags=("presse",))
    relay = await relays.open(store, config, Credentials(None, relay_account.handle, PASSWORD))
    reports = await relay.run_once()
    assert [(r["action"], r["state"]) for r in reports] == [("post", "posted")] * 3 + [("repost", "posted"), ("post", "posted")]
    assert MetaRepo(store.db).get(SESSION_KEY), "the session is kept for the next run"

    async with aiohttp.ClientSession() as http:
        posts = {r["value"]["embed"]["external"]["uri"]: r for r in
                 await list_records(http, net, relay_account.did, "app.bsky.feed.post")}
        reposts = await list_records(http, net, relay_account.did, "app.bsky.feed.repost")
        assert len(posts) == 4
        big = posts[site.url("big-1")]["value"]
        data = big["text"].encode()
        link = next(f for f in big["facets"] if f["features"][0]["$type"] == "app.bsky.richtext.facet#link")
        assert link["features"][0]["uri"] == site.url("big-1")
        assert data[link["index"]["byteStart"]:link["index"]["byteEnd"]].decode() == short_url(site.url("big-1"))
        tags = [f["features"][0]["tag"] for f in big["facets"] if f["features"][0]["$type"] == "app.bsky.richtext.facet#tag"]
        assert tags == ["presse", "luttes"] and big["langs"] == ["fr"]
        assert big["text"].startswith("Grève générale à Lyon : 👩🏽‍🚒 des milliers dans la rue\n\n")
        card = big["embed"]["external"]
        assert card["title"] == "Carte : big-1" and card["description"] == "Description de l'article big-1 & plus"
        assert card["thumb"]["mimeType"] == "image/jpeg" and card["thumb"]["size"] <= 1_000_000
        assert len(site.big) > 1_000_000  # it had to be resized
        blob = card["thumb"]["ref"]["$link"]
        async with http.get(f"{net.pds}/xrpc/com.atproto.sync.getBlob", params={"did": relay_account.did, "cid": blob}) as r:
            assert r.status == 200 and len(await r.read()) == card["thumb"]["size"]
        assert "thumb" not in posts[site.url("noimage-1")]["value"]["embed"]["external"]
        missing = posts[site.url("missing-1")]["value"]["embed"]["external"]
        assert missing["title"] == "Un article dont la page a disparu" and missing["thumb"]["mimeType"] == "image/jpeg"
        cross = posts["https://remote.example/@m/1"]["value"]
        assert cross["text"].startswith("Communiqué de presse\n\nremote.example/@m/1")
        assert [(r["value"]["subject"]["uri"], r["value"]["subject"]["cid"]) for r in reposts] == [(native["uri"], native["cid"])]

        async def feed() -> list[dict[str, Any]] | None:
            data = await xrpc(http, net.appview, "app.bsky.feed.getAuthorFeed", params={"actor": relay_account.did})
            return data["feed"] if len(data["feed"]) == 5 else None

        items = await poll(feed, what="the relay's 5 items in getAuthorFeed")
        reasons = [i.get("reason", {}).get("$type") for i in items]
        assert reasons.count("app.bsky.feed.defs#reasonRepost") == 1
        cards = [i["post"].get("embed", {}).get("$type") for i in items]
        assert cards.count("app.bsky.embed.external#view") == 4


async def test_a_repeated_create_conflicts_and_reads_the_first_back(bluesky_network: BlueskyNetwork,
                                                                   sqlite_store: Store, clock, site: ArticleSite, relays: Relays) -> None:
    store = sqlite_store
    net = bluesky_network
    async with aiohttp.ClientSession() as http:
        account = await create_account(http, net, f"relay-{secrets.token_hex(4)}.test")
    web = SourceConfig(slug="site", name="Le Site", kind="feed", url=site.base + "/feed")
    store.sources.sync([web])
    save(store, web, [article("1", "Un article envoyé deux fois", site.url("noimage-2"))], targets=("bluesky",))
    config = RelayConfig(bluesky=BlueskyTarget(service=net.pds))
    relay = await relays.open(store, config, Credentials(None, account.handle, PASSWORD))
    [row] = store.outbox.all()
    job = relay._plan(row, store.entries.get_many([row.entry_id])[row.entry_id], {})
    poster = relay._poster("bluesky")
    first = await poster.deliver(job)
    second = await poster.deliver(job)  # as after a crash between the post and the mark
    assert first == second and first.remote_id.endswith("/" + job.rkey)
    assert await poster.find(job) == first
    # A new process reuses the stored session instead of logging in again.
    saved = MetaRepo(store.db).get(SESSION_KEY)
    relay = await relays.open(store, config, Credentials(None, account.handle, "wrong password"))
    [report] = await relay.run_once()
    assert report["state"] == "posted" and report["attempts"] == 1 and saved
    async with aiohttp.ClientSession() as http:
        assert len(await list_records(http, net, account.did, "app.bsky.feed.post")) == 1
