"""getFeedSkeleton over the store, on SQLite and PostgreSQL, through the real web routes.

The store is filled through the write path and the relay's outbox transitions: the
sources' own Bluesky posts and reposts, the relay's link posts, and what must never show
(replies, unrelayed or failed items, deleted items, a second copy of a story).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from aggregator.config import parse_config
from aggregator.errors import FeedRequestError
from aggregator.feedgen.skeleton import decode_cursor, encode_cursor
from aggregator.model import BlueskyPublished, EntryData
from aggregator.store import Cursor, Store
from tests.building import aggregator_for, store_entries

RELAY = "did:plc:relayrelayrelayrelayrelay"
OTHER = "did:plc:otherotherotherotherother"
BASE = "http://localhost:8080"
DID = "did:web:localhost%3A8080"

CONFIG = """
sources:
  - name: Média Ciel
    slug: ciel
    kind: bluesky
    handle: ciel.example
    tags: [lyon]
    language: fr
  - name: Le Site
    slug: site
    url: https://site.example/feed
    language: fr
  - name: A zine
    slug: zine
    url: https://zine.example/feed
    language: en
    tags: [world]
  - name: La Reprise
    slug: reprise
    url: https://reprise.example/feed
bluesky_feed:
  feeds:
    - {short_name: reseau, display_name: Réseau}
    - {short_name: lyon, display_name: Lyon, tags: [LYON]}
    - {short_name: english, display_name: English, languages: [en]}
    - {short_name: site, display_name: Le Site, sources: [site, zine]}
"""


def feed_uri(name: str, did: str = RELAY) -> str:
    return f"at://{did}/app.bsky.feed.generator/{name}"


def post(did: str, rkey: str) -> str:
    return f"at://{did}/app.bsky.feed.post/{rkey}"


def entry(guid: str, minutes: int, clock: Any, **kw: Any) -> EntryData:
    kw.setdefault("url", f"https://example.org/{guid}")
    return EntryData(guid=guid, title=kw.pop("title", f"Titre assez long numéro {guid}"), text="t",
                     published=clock.now - timedelta(minutes=minutes), content_hash=guid, **kw)


def relay_posted(store: Store, clock: Any, remote: dict[str, str | None], *, fail: tuple[str, ...] = ()) -> None:
    """Walk the outbox rows as the relay does: claimed, then posted (or failed)."""
    entries = {e.guid: e for e in store.entries.newest(limit=500)}
    by_id = {e.id: e.guid for e in entries.values()}
    for row in store.outbox.all(target="bluesky"):
        guid = by_id.get(row.entry_id)
        if guid in remote or guid in fail:
            claimed = store.outbox.claim(row, clock.now)
            assert claimed is not None
            if guid in fail:
                store.outbox.mark_failed(row.id, clock.now, error="refused")
            else:
                store.outbox.mark_posted(row.id, clock.now, remote_id=remote[guid], remote_url=None)


@pytest.fixture
def config() -> Any:
    return parse_config(CONFIG)


@pytest.fixture
def filled(store: Store, config: Any, clock: Any) -> dict[str, str]:
    """Returns the at:// URI expected for each visible story, by name."""
    s = {c.slug: c for c in config.sources}
    store.sources.sync(config.sources)
    ciel = "did:plc:cielcielcielcielcielciel"
    native = lambda rkey, minutes, **kw: entry(post(ciel, rkey), minutes, clock, native_uri=post(ciel, rkey),  # noqa: E731
                                               native_cid="bafy" + rkey, **kw)
    store_entries(store, s["ciel"], [
        native("p1", 10, kind="post"),
        native("p2", 30, kind="post", language="fr-FR"),
        native("reply", 5, kind="reply"),
        entry(f"at://{ciel}/app.bsky.feed.repost/r1", 20, clock, kind="repost", native_uri=post(OTHER, "theirs"),
              native_cid="bafytheirs"),
    ], targets=("bluesky",))
    store_entries(store, s["site"], [
        entry("a1", 15, clock, title="Grève des loyers dans le quartier ce matin"),
        entry("a2", 40, clock),
        entry("a3", 2, clock),   # relay still pending: not on Bluesky yet
        entry("a4", 25, clock),  # the relay gave up: never on Bluesky
        entry("a5", 35, clock),  # posted, then deleted by the operator
        entry("a6", 45, clock),
    ], targets=("bluesky",))
    store_entries(store, s["zine"], [entry("z1", 50, clock, language="en")], targets=("bluesky",))
    # A second copy of a1's story, newer: the story shows once, as first posted.
    store_entries(store, s["reprise"], [entry("copy", 1, clock, title="Grève des loyers dans le quartier ce matin")],
                  targets=("bluesky",))
    relay_posted(store, clock, {
        "a1": post(RELAY, "a1"), "a2": post(RELAY, "a2"), "a5": post(RELAY, "a5"), "a6": post(RELAY, "a6"),
        "z1": post(RELAY, "z1"),
        # the relay's reposts of the sources' own posts are not shown: the posts are
        post(ciel, "p1"): f"at://{RELAY}/app.bsky.feed.repost/p1",
    }, fail=("a4",))
    a5 = next(e for e in store.entries.newest(limit=100) if e.guid == "a5")
    store.entries.mark_deleted([a5.id], now=clock.now)
    store.bluesky_feed.save_published(BlueskyPublished(did=RELAY, handle="relais.example",
                                                       feeds=(("reseau", feed_uri("reseau")),)))
    return {"p1": post(ciel, "p1"), "a1": post(RELAY, "a1"), "r1": post(OTHER, "theirs"), "p2": post(ciel, "p2"),
            "a2": post(RELAY, "a2"), "a6": post(RELAY, "a6"), "z1": post(RELAY, "z1")}


@pytest.fixture
async def client(store: Store, config: Any, aiohttp_client: Any) -> Any:
    async with aggregator_for(store, config, base_url=BASE, mirror_config=False) as agg:
        yield await aiohttp_client(agg.web_app(with_index=False))


async def skeleton(client: Any, status: int = 200, **params: str) -> dict[str, Any]:
    resp = await client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params=params)
    body = await resp.json()
    assert resp.status == status, body
    assert resp.headers["Content-Type"].startswith("application/json")
    return body  # type: ignore[no-any-return]


async def pages(client: Any, feed: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    cursor = None
    for count in range(1, 50):
        params = {"feed": feed, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        page = await skeleton(client, **params)
        assert len(page["feed"]) <= limit
        items += page["feed"]
        if "cursor" not in page:
            return items, count
        assert page["cursor"] != cursor, "a cursor is never echoed"
        assert page["feed"], "a page with a cursor is never empty"
        cursor = page["cursor"]
    raise AssertionError("paging did not end")


async def test_newest_first_each_story_once_paged_with_opaque_cursors(filled: dict[str, str], client: Any) -> None:
    expected = ["p1", "a1", "r1", "p2", "a2", "a6", "z1"]
    whole = await skeleton(client, feed=feed_uri("reseau"))
    assert [i["post"] for i in whole["feed"]] == [filled[n] for n in expected]
    assert "cursor" not in whole, "no cursor on the last page"
    repost = whole["feed"][2]
    assert repost["reason"] == {"$type": "app.bsky.feed.defs#skeletonReasonRepost",
                                "repost": "at://did:plc:cielcielcielcielcielciel/app.bsky.feed.repost/r1"}
    assert all("reason" not in i for i in whole["feed"] if i is not repost)
    for limit in (1, 2, 3, 7):
        items, count = await pages(client, feed_uri("reseau"), limit)
        assert items == whole["feed"]
        assert count == -(-len(expected) // limit)


async def test_selections_tag_language_sources(filled: dict[str, str], client: Any) -> None:
    lyon = await skeleton(client, feed=feed_uri("lyon"))
    assert [i["post"] for i in lyon["feed"]] == [filled[n] for n in ("p1", "r1", "p2")]
    english = await skeleton(client, feed=feed_uri("english"))
    assert [i["post"] for i in english["feed"]] == [filled["z1"]]
    site = await skeleton(client, feed=feed_uri("site"), limit="2")
    assert [i["post"] for i in site["feed"]] == [filled["a1"], filled["a2"]] and site["cursor"]
    rest = await skeleton(client, feed=feed_uri("site"), limit="2", cursor=site["cursor"])
    assert [i["post"] for i in rest["feed"]] == [filled["a6"], filled["z1"]] and "cursor" not in rest


REFUSALS = [
    ({"feed": feed_uri("nope")}, "UnknownFeed"),
    ({"feed": feed_uri("reseau", OTHER)}, "UnknownFeed"),  # the same short name, someone else's record
    ({"feed": f"at://{RELAY}/app.bsky.graph.list/reseau"}, "UnknownFeed"),
    ({"feed": "https://bsky.app/profile/x/feed/reseau"}, "InvalidRequest"),
    ({}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "limit": "0"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "limit": "101"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "limit": "-3"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "limit": "ten"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "limit": "²"}, "InvalidRequest"),  # a digit to str.isdigit, not to int()
    ({"feed": feed_uri("reseau"), "limit": "0050"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "cursor": "nonsense"}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "cursor": base64.urlsafe_b64encode(b"2:1:1").decode()}, "InvalidRequest"),
    ({"feed": feed_uri("reseau"), "cursor": "A" * 5000}, "InvalidRequest"),
]


async def test_refusals_are_the_lexicons_errors(filled: dict[str, str], client: Any) -> None:
    for params, error in REFUSALS:
        body = await skeleton(client, 400, **params)
        assert body["error"] == error and body["message"], params


async def test_limits_default_and_bounds(store: Store, config: Any, clock: Any, client: Any) -> None:
    source = next(s for s in config.sources if s.slug == "ciel")
    store.sources.sync(config.sources)
    did = "did:plc:cielcielcielcielcielciel"
    store_entries(store, source, [entry(post(did, f"k{i}"), i, clock, kind="post", native_uri=post(did, f"k{i}"))
                                  for i in range(120)])
    store.bluesky_feed.save_published(BlueskyPublished(did=RELAY, handle="relais.example"))
    default = await skeleton(client, feed=feed_uri("reseau"))
    assert len(default["feed"]) == 50 and default["cursor"]
    assert len((await skeleton(client, feed=feed_uri("reseau"), limit="100"))["feed"]) == 100
    items, count = await pages(client, feed_uri("reseau"), 100)
    assert len(items) == len({i["post"] for i in items}) == 120 and count == 2


async def test_unpublished_feeds_are_unknown_and_described_empty(store: Store, client: Any) -> None:
    body = await skeleton(client, 400, feed=feed_uri("reseau"))
    assert body["error"] == "UnknownFeed"
    resp = await client.get("/xrpc/app.bsky.feed.describeFeedGenerator")
    assert await resp.json() == {"did": DID, "feeds": []}


async def test_did_document_and_description(filled: dict[str, str], client: Any) -> None:
    resp = await client.get("/.well-known/did.json")
    assert resp.status == 200
    assert await resp.json() == {
        "@context": ["https://www.w3.org/ns/did/v1"], "id": DID,
        "service": [{"id": "#bsky_fg", "type": "BskyFeedGenerator", "serviceEndpoint": BASE}],
    }
    resp = await client.get("/xrpc/app.bsky.feed.describeFeedGenerator")
    assert await resp.json() == {"did": DID, "feeds": [{"uri": feed_uri(n)} for n in ("reseau", "lyon", "english", "site")]}
    resp = await client.get("/xrpc/app.bsky.feed.getTimeline")
    assert resp.status == 501 and (await resp.json())["error"] == "MethodNotImplemented"


def test_cursor_round_trip_and_opacity(clock: Any) -> None:
    position = Cursor(clock.now.replace(microsecond=123456), 987654)
    token = encode_cursor(position)
    assert decode_cursor(token) == position
    assert str(position.id) not in token and "2026" not in token
    with pytest.raises(FeedRequestError):
        decode_cursor(token[:-2] + "!!")
