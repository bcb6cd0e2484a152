"""Feeds (parsed back with feedparser), OPML, the JSON API, health and metrics."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

import feedparser

from aggregator.store import Store

BASE = "https://medias.example.org"


async def test_atom_and_json_feed_of_the_river_page_through(filled: Store, make_client: Any) -> None:
    client = await make_client(filled, base_url=BASE)
    resp = await client.get("/feed.atom")
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert resp.headers["Access-Control-Allow-Origin"] == "*" and "max-age=300" in resp.headers["Cache-Control"]
    feed = feedparser.parse(await resp.read())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10" and len(feed.entries) == 48
    assert sum("Expulsion du squat" in e.title for e in feed.entries) == 1
    evil = next(e for e in feed.entries if "Titre piégé" in e.title)
    assert evil.title.startswith("<script>")  # text, escaped in the XML, not markup
    assert "link" not in evil or not evil.link.startswith("javascript")
    assert "<script" not in evil.summary and "onerror" not in evil.summary
    first = feed.entries[0]
    assert first.published == "2026-11-20T11:55:00Z"

    resp = await client.get("/feed.json?source=paris-luttes")
    assert resp.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    data = json.loads(await resp.read())
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert len(data["items"]) == 46
    assert data["home_page_url"] == BASE + "/sources/paris-luttes"
    assert_valid_json_feed(data)


def assert_valid_json_feed(doc: dict[str, Any]) -> None:
    """JSON Feed 1.1's required members and types (feedparser 6.0 cannot read JSON Feed)."""
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert isinstance(doc["title"], str) and doc["title"]
    for key in ("home_page_url", "feed_url", "next_url"):
        assert key not in doc or doc[key].startswith(("http://", "https://"))
    assert isinstance(doc["items"], list)
    ids = [item["id"] for item in doc["items"]]
    assert all(isinstance(i, str) and i for i in ids) and len(ids) == len(set(ids))
    for item in doc["items"]:
        assert isinstance(item.get("content_html", item.get("content_text")), str)
        assert "url" not in item or item["url"].startswith(("http://", "https://"))
        datetime.fromisoformat(item["date_published"])  # RFC 3339
        assert all(isinstance(a["name"], str) for a in item.get("authors", []))


async def test_feed_paging_and_filters(filled: Store, make_client: Any) -> None:
    client = await make_client(filled, base_url=BASE)
    feed = feedparser.parse(await (await client.get("/feed.atom?tag=logement")).read())
    assert len(feed.entries) == 45 and all("logement" in [t.term for t in e.tags] for e in feed.entries)
    assert feed.feed.title == "Médias indépendants — #logement"
    # 50 per page: a river with more items links to the next page (RFC 5005)
    from .conftest import make_entry, save

    save(filled, "paris-luttes", [make_entry(f"more-{i}", f"Encore un article de plus numéro {i}") for i in range(10)])
    feed = feedparser.parse(await (await client.get("/feed.atom")).read())
    nxt = [link.href for link in feed.feed.links if link.rel == "next"]
    assert len(feed.entries) == 50 and nxt
    assert nxt[0].startswith(BASE + "/feed.atom?cursor=")
    rest = feedparser.parse(await (await client.get(nxt[0].removeprefix(BASE))).read())
    assert len(rest.entries) == 58 - 50
    assert not {e.id for e in rest.entries} & {e.id for e in feed.entries}
    data = json.loads(await (await client.get("/feed.json")).read())
    assert_valid_json_feed(data)
    assert data["next_url"].startswith(BASE + "/feed.json?cursor=") and len(data["items"]) == 50
    assert (await client.get("/feed.atom?cursor=bad")).status == 400
    assert (await client.get("/feed.atom?q=grève")).status == 503  # no index on this app


async def test_feeds_answer_304_to_a_matching_etag(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/feed.atom")
    etag, last_modified = resp.headers["ETag"], resp.headers["Last-Modified"]
    assert last_modified.endswith("GMT")
    again = await client.get("/feed.atom", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b"" and again.headers["ETag"] == etag
    again = await client.get("/feed.atom", headers={"If-Modified-Since": last_modified})
    assert again.status == 304
    again = await client.get("/feed.atom", headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified})
    assert again.status == 200, "If-None-Match wins over If-Modified-Since (RFC 9110)"


async def test_opml_lists_every_feed_source(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/sources.opml")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/x-opml")
    root = ET.fromstring(await resp.read())
    urls = [o.get("xmlUrl") for o in root.iter("outline")]
    assert "https://paris-luttes.info/home/backend.xml" in urls and len(urls) == 4


async def test_api_items_walks_every_story_by_cursor(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    seen: list[int] = []
    url = "/api/items?limit=20"
    pages = 0
    while url:
        resp = await client.get(url)
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/json; charset=utf-8"
        data = await resp.json()
        seen += [item["id"] for item in data["items"]]
        url = data["next"]  # without a base URL: a path from the site's root
        assert url is None or url.startswith("/api/items?")
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 48
    data = await (await client.get("/api/items?source=rebellyon")).json()
    [item] = data["items"]
    assert set(item) >= {"id", "source", "guid", "url", "title", "author", "published", "updated", "language", "summary"}
    assert item["published"] == "2026-11-20T11:40:00Z" and item["also"][0]["source"] == "paris-luttes"
    evil = (await (await client.get("/api/items?source=piege")).json())["items"][0]
    assert evil["url"] is None, "a javascript: URL is never handed out as a link"
    bad = await client.get("/api/items?limit=0")
    assert bad.status == 400 and "limit" in (await bad.json())["error"]
    assert (await client.get("/api/items?cursor=%%%")).status == 400


async def test_api_sources_and_health(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    data = await (await client.get("/api/sources")).json()
    by_slug = {s["slug"]: s for s in data["sources"]}
    assert by_slug["rebellyon"]["status"] == "failing" and by_slug["rebellyon"]["last_error"] == "HTTP 404 Not Found"
    assert by_slug["paris-luttes"]["items"] == 46 and by_slug["piege"]["status"] == "never"
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok", "database": True, "index": None}
    assert resp.headers["Cache-Control"] == "no-store"


class BrokenIndex:
    def ping(self) -> bool:
        raise OSError("index directory gone")

    def search(self, *args: Any, **kwargs: Any) -> Any:
        raise OSError("index directory gone")


async def test_health_is_503_when_the_index_or_database_is_unreachable(filled: Store, make_client: Any, free_port_url: str, clock: Any) -> None:
    client = await make_client(filled, BrokenIndex())
    resp = await client.get("/healthz")
    assert resp.status == 503 and (await resp.json())["index"] is False
    dead = Store(free_port_url, clock=clock)
    try:
        client = await make_client(dead)
        resp = await client.get("/healthz")
        assert resp.status == 503 and (await resp.json())["database"] is False
    finally:
        dead.close()


async def test_metrics_in_prometheus_text_format(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    await client.get("/")
    await client.get("/sources/paris-luttes")
    resp = await client.get("/metrics")
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await resp.text()
    assert 'aggregator_sources{status="failing"} 2' in text
    assert "aggregator_items 49" in text
    assert 'aggregator_relay_posts{target="mastodon",state="pending"}' in text
    assert 'aggregator_http_request_duration_seconds_count{route="/",method="GET"} 1' in text
    assert 'aggregator_http_request_duration_seconds_count{route="/sources/{slug}",method="GET"} 1' in text
    assert 'route="/sources/paris-luttes"' not in text, "labels are route patterns, never raw paths"
    for line in text.splitlines():
        assert line.startswith("#") or len(line.rsplit(" ", 1)) == 2
