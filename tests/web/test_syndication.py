"""Chains of information (issue 13): RSS of every view, ``exclude``/``limit``, ``/embed``, ``/share``.

The feeds are read by feedparser, by a reading of SPIP's syndication (``spip_syndic``),
and crawled back by this project's own crawler from a second instance.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser

from aggregator.model import Config
from aggregator.store import Store
from aggregator.webapp import create_app
from aggregator.webapp.feeds import RSS_SUMMARY_CHARS
from tests.building import aggregator_for

from . import spip_syndic
from .conftest import SOURCES, FakeIndex, make_entry, save

SHARED_PL = "Expulsion du squat de la rue des Lilas ce matin"
SHARED_RL = "Expulsion du squat de la rue des lilas ce matin !"


def add_illustrated(store: Store, clock: Any) -> None:
    """Two entries with images: one whose type its name tells (.jpg), one it does not."""
    clock.now = clock() + timedelta(minutes=1)
    save(store, "english-zine", [
        make_entry("img-1", "Tenants win their case in court", "A long story. " * 60, published=clock.now,
                   image="https://zine.example/photo.jpg", author="Sam", tags=("housing",)),
        make_entry("img-2", "Photos of the rent strike march", "Pictures", published=clock.now - timedelta(seconds=1),
                   image="https://zine.example/image?id=12"),
    ])


async def text(client: Any, path: str, status: int = 200, **kw: Any) -> str:
    response = await client.get(path, **kw)
    body = await response.text()
    assert response.status == status, (path, body[:500])
    return body


async def test_rss_of_every_view_reads_in_feedparser_with_the_atom_feed_links(filled: Store, clock: Any, make_client: Any) -> None:
    add_illustrated(filled, clock)
    client = await make_client(filled, FakeIndex(filled))
    response = await client.get("/feed.rss")
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*" and "max-age=300" in response.headers["Cache-Control"]
    raw = await response.read()
    rss = feedparser.parse(raw)
    atom = feedparser.parse(await (await client.get("/feed.atom")).read())
    assert rss.version == "rss20" and not rss.bozo, rss.get("bozo_exception")
    def links(feed: Any) -> list[list[str]]:
        return [[link.href for link in e.get("links", ()) if link.rel == "alternate"] for e in feed.entries]

    assert links(rss) == links(atom), "one link value for the original in every format"
    assert [e.title for e in rss.entries] == [e.title for e in atom.entries]
    first = rss.entries[0]
    assert first.title == "Tenants win their case in court" and first.link == "https://example.org/img-1"
    assert first.id == first.link and b'<guid isPermaLink="true">https://example.org/img-1</guid>' in raw
    assert first.author == "Sam" and first.source == {"href": "https://zine.example/feed.xml", "title": "An English zine"}
    assert {t.term for t in first.tags} == {"world", "housing"}
    assert first.enclosures == [{"href": "https://zine.example/photo.jpg", "type": "image/jpeg", "length": "0"}]
    assert len(first.summary) <= RSS_SUMMARY_CHARS + 1 and "<" not in first.summary and first.summary.endswith("…")
    assert first.published_parsed[:6] == atom.entries[0].published_parsed[:6]
    untyped = rss.entries[1]
    assert untyped.media_content == [{"url": "https://zine.example/image?id=12", "medium": "image"}]
    hostile = next(e for e in rss.entries if "piégé" in e.title)
    assert "link" not in hostile and b'<guid isPermaLink="false">' in raw, "a javascript: link is no link"
    # Every view, with its filters.
    views = {
        "/feed.rss?source=rebellyon": {"Rebellyon"},
        "/feed.rss?tag=logement": {"Paris-luttes.info"},
        "/feed.rss?lang=en": {"An English zine"},
        "/feed.rss?q=grève": {"Paris-luttes.info"},
    }
    for path, names in views.items():
        parsed = feedparser.parse(await (await client.get(path)).read())
        assert parsed.entries and {e.source.title for e in parsed.entries} == names, path


async def test_rss_gives_spip_every_field_of_its_loop(filled: Store, clock: Any, make_client: Any) -> None:
    add_illustrated(filled, clock)
    client = await make_client(filled)
    body = await text(client, "/feed.rss?tag=housing")
    everything = await text(client, "/feed.rss")
    rows = spip_syndic.syndicate(everything)
    assert spip_syndic.syndicate(body)[0]["titre"] == "Tenants win their case in court"
    by_title = {r["titre"]: r for r in rows}
    row = by_title["Tenants win their case in court"]
    assert row["url"] == "https://example.org/img-1" and row["lesauteurs"] == "Sam"
    assert row["source"] == "An English zine" and row["url_source"] == "https://zine.example/feed.xml"
    assert row["date"] == clock.now and not row["lastbuilddate"]
    assert row["lang"] == "en" and row["descriptif"].startswith("A long story.")
    assert {t["text"] for t in row["tags"]} == {"world", "housing"} and {t["rel"] for t in row["tags"]} == {"directory"}
    # Tags link to our tag pages when the feed knows the site's absolute address.
    home = re.search(r"<channel><title>[^<]*</title><link>([^<]*)</link>", everything)
    assert home is not None
    base = home.group(1).rstrip("/")
    expected = {f"{base}/tags/world", f"{base}/tags/housing"} if base.startswith("http") else {""}
    assert {t["href"] for t in row["tags"]} == expected
    assert row["enclosures"] == [{"url": "https://zine.example/photo.jpg", "type": "image/jpeg"}]
    # The RSS guid of an item without a web link is not a permalink: SPIP takes no URL from it.
    hostile = next(r for r in rows if "piégé" in r["titre"])
    assert hostile["url"] == "" and "<" not in hostile["titre"]
    shared = by_title[SHARED_PL]
    assert shared["url"] == "https://example.org/shared-pl" and shared["lesauteurs"] == "Paris-luttes.info"
    # The loop /share hands to SPIP webmasters uses only fields every item fills.
    share = await text(client, "/share?spip_id=7")
    loop = re.search(r'<textarea id="c-spip"[^>]*>(.*?)</textarea>', share, re.S)
    assert loop is not None
    template = loop.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&quot;", '"')
    assert "<BOUCLE_reseau(SYNDIC_ARTICLES){id_syndic=7}{par date}{inverse}{0,10}>" in template
    used = spip_syndic.loop_tags(template)
    assert set(used) == {"URL_ARTICLE", "TITRE", "SOURCE", "DATE"}
    for r in rows:
        missing = [tag for tag in used if tag != "URL_ARTICLE" and not r[spip_syndic.LOOP_TAGS[tag]]]
        assert not missing, (r["titre"], missing)
    assert all(r["url"] for r in rows if "piégé" not in r["titre"])


async def test_exclude_with_the_other_filters_in_every_view_and_feed(filled: Store, make_client: Any) -> None:
    client = await make_client(filled, FakeIndex(filled))
    river = await text(client, "/?exclude=paris-luttes")
    assert SHARED_RL in river and "https://rebellyon.info/expulsion" in river, "the story shows through the other copy"
    assert "Article numéro" not in river and "Also published by" not in river and "Aussi publié par" not in river
    assert 'name="exclude" value="paris-luttes"' in river, "the filter form keeps the exclusion"
    assert "/feed.rss?exclude=paris-luttes" in river
    with_other = await text(client, "/?exclude=rebellyon")
    story = with_other[with_other.index(SHARED_PL):][:3000]
    assert "rebellyon.info/expulsion" not in story, "an excluded source is not named under also-published-by"
    for fmt in ("atom", "rss"):
        parsed = feedparser.parse(await (await client.get(f"/feed.{fmt}?exclude=paris-luttes,piege&lang=fr")).read())
        assert [e.title for e in parsed.entries] == [SHARED_RL], fmt
    data = await (await client.get("/feed.json?exclude=paris-luttes&exclude=english-zine")).json()
    assert {i["_aggregator"]["source"] for i in data["items"]} == {"rebellyon", "piege"}
    api = await (await client.get("/api/items?exclude=paris-luttes&limit=2")).json()
    assert [i["source"] for i in api["items"]] == ["piege", "english-zine"] and "exclude=paris-luttes" in api["next"]
    assert "Nothing here yet" in await text(client, "/tags/logement?exclude=paris-luttes&ui=en")
    search = await text(client, "/search?q=grève&exclude=paris-luttes&ui=en")
    assert "Article numéro" not in search and 'name="exclude" value="paris-luttes"' in search
    assert "Article numéro" in await text(client, "/search?q=grève&ui=en")
    too_many = ",".join(f"s{i}" for i in range(51))
    assert "exclude" in await text(client, f"/feed.rss?exclude={too_many}", status=400)


async def test_limit_on_feeds_and_pages(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    rss = feedparser.parse(await (await client.get("/feed.rss?limit=5&exclude=piege")).read())
    assert len(rss.entries) == 5
    following = next(link.href for link in rss.feed.links if link.rel == "next")
    assert parse_qs(urlsplit(following).query)["limit"] == ["5"]
    assert parse_qs(urlsplit(following).query)["exclude"] == ["piege"]
    parts = urlsplit(following)
    assert len(feedparser.parse(await (await client.get(f"{parts.path}?{parts.query}")).read()).entries) == 5
    for bad in ("0", "201", "x"):
        await text(client, f"/feed.atom?limit={bad}", status=400)
    page = await text(client, "/?limit=3")
    assert page.count('class="item"') == 3 and "limit=3&amp;cursor=" in page


async def test_embed_is_framable_cookieless_scriptless_and_cached(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    response = await client.get("/embed?limit=3&theme=dark&exclude=piege&ui=en")
    body = await response.text()
    assert response.status == 200 and "Set-Cookie" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors *" in csp and "default-src 'none'" in csp
    assert "X-Frame-Options" not in response.headers and response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "public, max-age=300" and response.headers["ETag"]
    assert '<html lang="en" class="theme-dark">' in body and "Elsewhere in the network" in body
    assert len(re.findall(r"<li[ >]", body)) == 3 and "<script" not in body and "piégé" not in body
    assert all(t == "_blank" for t in re.findall(r'target="([^"]*)"', body))
    assert all("noreferrer" in r for r in re.findall(r'<a [^>]*rel="([^"]*)"', body))
    # What the block loads is its own stylesheet; what it links to is articles and this site.
    assert re.findall(r'<link [^>]*href="([^"]*)"', body) == [next(iter(re.findall(r'href="(/static/embed.css[^"]*)"', body)))]
    assert "src=" not in body
    again = await client.get("/embed?limit=3&theme=dark&exclude=piege&ui=en", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304
    scripted = re.findall(r"<script[^>]*>", await text(client, "/embed?autoheight=1"))
    assert len(scripted) == 1 and 'src="/static/embed-height.js?v=' in scripted[0]
    scripted_body = await text(client, "/embed?autoheight=1")
    assert "theme-auto" in scripted_body and "theme-light" in await text(client, "/embed?theme=light")
    assert "theme" in await text(client, "/embed?theme=pink", status=400)
    # The rest of the site keeps its stricter framing policy.
    river = await client.get("/")
    assert river.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in river.headers["Content-Security-Policy"]
    # With a configured address, links are absolute (a server-side include works too).
    app = create_app(store=filled, config=Config(sources=SOURCES), base_url="https://medias.example.org")
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as other:
        body = await text(other, "/embed?source=rebellyon")
    assert 'href="https://medias.example.org/sources/rebellyon"' in body
    assert 'href="https://medias.example.org/static/embed.css?v=' in body


async def test_share_page_snippets_placeholder_languages_and_links(filled: Store, make_client: Any, clock: Any) -> None:
    client = await make_client(filled)
    page = await text(client, "/share?exclude=paris-luttes&lang=fr&limit=5&theme=light&ui=en")
    assert "AGGREGATOR_BASE_URL" in page and "https://aggregator.example/feed.rss?lang=fr&amp;exclude=paris-luttes&amp;limit=5" in page
    assert re.search(r'<input type="checkbox" id="ex-\d+" name="exclude" value="paris-luttes" checked>', page)
    assert '<iframe class="preview" src="/embed?lang=fr&amp;exclude=paris-luttes&amp;limit=5&amp;theme=light"' in page
    assert "{id_syndic=XX}" in page and "Referenced sites" in page
    french = await text(client, "/share?ui=fr")
    assert "Relayer le réseau sur votre site" in french and "Sites référencés" in french
    await text(client, "/share?spip_id=1%3B", status=400)
    app = create_app(store=filled, config=Config(sources=SOURCES), base_url="https://medias.example.org", clock=clock)
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as other:
        configured = await text(other, "/share?source=rebellyon&ui=en")
    assert "AGGREGATOR_BASE_URL" not in configured
    assert 'value="https://medias.example.org/feed.rss?source=rebellyon"' in configured
    assert "&lt;iframe src=&#34;https://medias.example.org/embed?source=rebellyon&amp;amp;" not in configured
    assert "https://medias.example.org/embed?source=rebellyon" in configured
    source_page = await text(client, "/sources/rebellyon")
    assert 'href="/share?source=rebellyon"' in source_page and 'href="/share?exclude=rebellyon"' in source_page
    assert 'href="/share"' in await text(client, "/")


async def test_the_network_relayed_by_a_second_instance(filled: Store, clock: Any, aiohttp_server: Any, tmp_path: Path) -> None:
    """A site relaying the network: another aggregator crawls our RSS (without one source) with its own crawler."""
    server = await aiohttp_server(create_app(store=filled, config=Config(sources=SOURCES), clock=clock))
    # "piege" is left out too: its title was stored with markup in it, which no crawl
    # produces (parsers drop markup from titles) and which RSS readers take for HTML.
    view = "/feed.rss?exclude=rebellyon,piege&limit=20"
    feed_url = str(server.make_url(view))
    relay_store = Store(f"sqlite:///{tmp_path / 'relay.sqlite3'}", clock=clock)
    relay_store.upgrade()
    from aggregator.model import SourceConfig

    network = SourceConfig(slug="network", name="Le réseau", kind="feed", url=feed_url, language="fr")
    page = SourceConfig(slug="network-page", name="Le réseau (page)", kind="site", url=str(server.make_url("/?lang=en")))
    try:
        async with aggregator_for(relay_store, Config(sources=(network, page))) as agg:
            report = await (await agg.crawler()).crawl(every=True)
        assert report.as_json()["ok"] == 2, report.as_json()
        served = await _get(server, view)
        ours = feedparser.parse(served)
        crawled = relay_store.entries.newest(source="network", limit=100)
        assert [e.title for e in crawled] == [e.title for e in ours.entries]
        assert [e.url for e in crawled if e.url] == [e.link for e in ours.entries if "link" in e]
        assert all(e.title != SHARED_RL for e in crawled) and any(e.title == SHARED_PL for e in crawled)
        assert {t for e in crawled for t in e.tags} >= {"paris", "luttes", "logement"}
        assert next(e for e in crawled if e.title == SHARED_PL).author == "Paris-luttes.info"
        discovered = relay_store.sources.get("network-page")
        assert discovered is not None and discovered.resolved_id and "/feed." in discovered.resolved_id
        assert {e.language for e in relay_store.entries.newest(source="network-page", limit=100)} == {"en"}
    finally:
        relay_store.close()


async def _get(server: Any, path: str) -> bytes:
    from aiohttp import ClientSession

    async with ClientSession() as session, session.get(server.make_url(path)) as response:
        return await response.read()
