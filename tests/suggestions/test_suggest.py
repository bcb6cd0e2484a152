"""Readers suggest sources (issue 13): ``/suggest`` end to end, then the operator's commands.

The app is built by the factory (``Aggregator.web_app``); the suggested sites are real
loopback servers; the check goes through the crawler's own client and its guard.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aggregator.cli import main
from aggregator.config import parse_config
from aggregator.factory import make_aggregator
from aggregator.model import Config, SourceConfig
from aggregator.store import Store
from tests.building import loopback_tuning, settings_for
from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

KNOWN = SourceConfig(slug="connu", name="Un média connu", kind="feed", url="https://connu.example/feed.xml",
                     website="https://connu.example/")
PAGE = ('<!doctype html><html><head><title>Le Site</title>'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head><body>Bonjour</body></html>')
YAML = (
    "# Les sources du réseau : gardez ce commentaire.\n"
    "settings:\n"
    "  min_interval: 10m   # le commentaire de fin de ligne aussi\n"
    "sources:\n"
    "  - name: Un média connu\n"
    "    slug: connu\n"
    "    url: https://connu.example/feed.xml\n"
    "    website: https://connu.example/\n"
)


@pytest.fixture
async def site() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        server.add("/", PAGE, content_type="text/html; charset=utf-8")
        server.add("/feed.xml", rss([("1", "Grève à Lyon"), ("2", "Assemblée"), ("3", "Manifestation")], title="Le Site"))
        server.add("/nofeed", "<!doctype html><html><head><title>Rien</title></head><body>Rien</body></html>",
                   content_type="text/html; charset=utf-8")
        server.hang_after_headers("/slow")
        yield server


@asynccontextmanager
async def suggest_app(store: Store, aiohttp_client: Any, *, private: bool = True, **tuning: Any) -> AsyncIterator[Any]:
    """A client of the factory-built app; ``private=False`` keeps the guard's default (refuse loopback)."""
    settings = settings_for(Config(sources=(KNOWN,)), database_url=store.url)
    settings = replace(settings, allow_private_networks=private)
    async with make_aggregator(settings, clock=store.db.clock, store=store, tuning=loopback_tuning(**tuning),
                               migrate=False) as agg:
        yield await aiohttp_client(agg.web_app(with_index=False))


async def post(client: Any, status: int = 200, headers: dict[str, str] | None = None, **form: str) -> str:
    response = await client.post("/suggest?ui=en", data=form, headers=headers or {})
    body = await response.text()
    assert response.status == status, body[-1500:]
    assert "Set-Cookie" not in response.headers and response.headers["Cache-Control"] == "no-store"
    return body


async def cli(tmp_path: Path, store: Store, *args: str) -> tuple[int, str]:
    """``aggregator --config … ARGS`` in-process (its own event loop, in a thread), stdout captured."""
    import contextlib
    import io

    out = io.StringIO()
    environ = {"AGGREGATOR_DATABASE_URL": store.url, "AGGREGATOR_LOG_FORMAT": "json", "AGGREGATOR_LOG_LEVEL": "WARNING"}
    argv = ["--config", str(tmp_path / "sources.yaml"), "--data-dir", str(tmp_path / "data"), *args]

    def run() -> int:
        with contextlib.redirect_stdout(out):
            return main(argv, environ)

    code = await asyncio.to_thread(run)
    return code, out.getvalue()


async def test_a_suggestion_is_read_once_kept_private_and_decided_by_the_operator(
    store: Store, aiohttp_client: Any, site: FeedServer, tmp_path: Path
) -> None:
    async with suggest_app(store, aiohttp_client) as client:
        form = await (await client.get("/suggest?ui=en")).text()
        assert 'name="url"' in form and 'name="note"' in form and 'name="website"' in form
        body = await post(client, url=site.url("/"), note="Un média   lyonnais\n indépendant")
        assert "We found the feed of Le Site, with 3 articles in it" in body and site.url("/feed.xml") in body
        assert [r.path for r in site.requests] == ["/", "/feed.xml"]
        # Another spelling of the same address: counted once, nothing fetched again.
        assert "already suggested" in await post(client, url=site.url("/") + "?utm_source=mastodon#top")
        assert "already suggested" in await post(client, url=site.url("/").upper().replace("HTTP://", "http://"))
        assert len(site.requests) == 2
        assert "already in the network" in await post(client, url="connu.example/")
        no_feed = await post(client, url=site.url("/nofeed"))
        assert "found no feed in it" in no_feed
        # Nothing of a pending suggestion is public.
        for path in ("/", "/sources", "/feed.rss", "/api/sources", "/sources.opml"):
            public = await (await client.get(path)).text()
            assert "Le Site" not in public and site.url("/") not in public, path
    rows = store.suggestions.by_state()
    assert [(r.outcome, r.state) for r in rows] == [("ok", "pending"), ("no_feed", "pending")]
    first = rows[0]
    assert (first.feed_url, first.title, first.items, first.note) == (
        site.url("/feed.xml"), "Le Site", 3, "Un média lyonnais indépendant")

    (tmp_path / "sources.yaml").write_text(YAML, encoding="utf-8")
    code, out = await cli(tmp_path, store, "suggestions", "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [s["id"] for s in listed] == [r.id for r in rows]
    assert set(listed[0]) == {"id", "url", "feed_url", "title", "items", "language", "note", "outcome", "error",
                              "state", "created", "decided", "source"}
    assert listed[0]["created"].endswith("Z") and listed[0]["language"] == "fr"
    code, _ = await cli(tmp_path, store, "suggestions", "accept", str(first.id))
    assert code == 0
    text = (tmp_path / "sources.yaml").read_text(encoding="utf-8")
    assert text.startswith(YAML), "the operator's file is appended to, never rewritten"
    assert "# suggested by a reader" in text and "lyonnais" not in text, "the reader's note stays out of the file"
    added = {s.slug: s for s in parse_config(text, "sources.yaml").sources}["le-site"]
    assert (added.kind, added.url, added.name, added.website, added.language) == (
        "feed", site.url("/feed.xml"), "Le Site", site.url("/"), "fr")
    code, _ = await cli(tmp_path, store, "suggestions", "reject", str(rows[1].id))
    assert code == 0
    assert (await cli(tmp_path, store, "suggestions", "accept", str(rows[1].id)))[0] == 1, "decided already"
    assert (await cli(tmp_path, store, "suggestions", "accept", "999"))[0] == 1
    code, out = await cli(tmp_path, store, "suggestions", "--json")
    assert code == 0 and out == ""
    code, out = await cli(tmp_path, store, "suggestions", "--all", "--json")
    states = [(s["state"], s["source"]) for s in map(json.loads, out.splitlines())]
    assert states == [("accepted", "le-site"), ("rejected", None)]


async def test_a_loopback_address_is_refused_without_any_request(store: Store, aiohttp_client: Any, site: FeedServer) -> None:
    async with suggest_app(store, aiohttp_client, private=False) as client:
        body = await post(client, 400, url=site.url("/feed.xml"))
        assert "private network" in body
        redirected = await post(client, 400, url=f"http://[::1]:{site.port}/")
        assert "private network" in redirected
        for bad, words in (("localhost", "not a web address"), ("ftp://example.org/x", "not a web address"),
                           ("https://user:pw@example.org/", "without a user name"), ("", "Give the address"),
                           ("http://exa mple.org", "no spaces")):
            assert words in await post(client, 400, url=bad), bad
    assert site.requests == [] and store.suggestions.by_state() == []


async def test_a_slow_site_gets_a_clear_answer_in_bounded_time(store: Store, aiohttp_client: Any, site: FeedServer) -> None:
    async with suggest_app(store, aiohttp_client, suggest_check_seconds=0.5) as client:
        body = await post(client, url=site.url("/slow"))
    assert "We could not read it in time" in body
    assert [(s.outcome, s.url) for s in store.suggestions.by_state()] == [("timeout", site.url("/slow"))]


async def test_a_burst_is_rate_limited_and_robots_and_strangers_get_nothing(
    store: Store, aiohttp_client: Any, site: FeedServer
) -> None:
    async with suggest_app(store, aiohttp_client) as client:
        assert "own form only" in await post(client, 403, headers={"Sec-Fetch-Site": "cross-site"}, url=site.url("/"))
        # The honeypot: a robot filling every field gets the same thanks, and nothing happens.
        assert "your suggestion will be looked at" in await post(client, url=site.url("/"), website="http://spam.example")
        assert site.requests == [] and store.suggestions.by_state() == []
        assert "too long" in await post(client, 413, url=site.url("/feed.xml"), note="x" * 1001)
        assert "too long" in await post(client, 413, url=site.url("/feed.xml") + "?" + "a" * 9000)
        assert site.requests == []
        for _ in range(5):  # the limit; what came before cost nothing and does not count
            await post(client, url=site.url("/feed.xml"))
        response = await client.post("/suggest", data={"url": site.url("/feed.xml")})
        assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    assert [r.path for r in site.requests] == ["/feed.xml"], "one fetch for one URL, however often it is sent"
    assert len(store.suggestions.by_state()) == 1


def test_the_rate_limiter_forgets_after_its_window_and_bounds_everyone() -> None:
    from aggregator.suggestions import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_client=2, overall=3, window=60, max_clients=2, clock=lambda: now[0])
    assert limiter.check("a") is None and limiter.check("a") is None
    assert limiter.check("a") == 60
    assert limiter.check("b") is None
    assert limiter.check("c") == 60, "the overall bound holds whoever asks"
    now[0] = 61
    assert limiter.check("a") is None and limiter.check("c") is None and limiter.check("d") is None
    assert len(limiter._clients) == 2, "memory is bounded"


def test_normalized_addresses_and_their_keys() -> None:
    from aggregator.errors import InvalidSuggestion
    from aggregator.suggestions import normalize_url, url_key

    assert normalize_url(" rebellyon.info ") == "https://rebellyon.info/"
    assert normalize_url("HTTP://Paris-Luttes.INFO:80/spip.php?page=backend&utm_source=x#haut") == (
        "http://paris-luttes.info/spip.php?page=backend")
    assert normalize_url("https://bücher.example/") == "https://xn--bcher-kva.example/"
    assert url_key("https://rebellyon.info") == url_key("https://REBELLYON.info:443/?utm_medium=rss")
    assert url_key("https://rebellyon.info/a") != url_key("https://rebellyon.info/b")
    for bad in ("javascript:alert(1)", "https://", "http://localhost/", "x" * 2001, "https://a b.org/"):
        with pytest.raises(InvalidSuggestion):
            normalize_url(bad)


def test_an_accepted_suggestion_becomes_a_valid_unique_source() -> None:
    from datetime import UTC, datetime

    from aggregator.model import Suggestion
    from aggregator.suggestions import source_for

    when = datetime(2026, 11, 20, tzinfo=UTC)
    feed = Suggestion(id=1, url="https://rebellyon.info/", note="n", outcome="ok", state="pending", created=when,
                      feed_url="https://rebellyon.info/spip.php?page=backend", title="  Rebellyon\n", language="fr")
    source = source_for(feed, {"rebellyon"})
    assert (source.slug, source.name, source.kind, source.url, source.website) == (
        "rebellyon-2", "Rebellyon", "feed", "https://rebellyon.info/spip.php?page=backend", "https://rebellyon.info/")
    page = replace(feed, outcome="timeout", feed_url=None, title=None, language=None)
    assert (source_for(page, ()).kind, source_for(page, ()).name, source_for(page, ()).slug) == (
        "site", "rebellyon.info", "rebellyon-info")
    long = replace(feed, title="Un titre " * 30)
    assert len(source_for(long, ()).slug) <= 60
