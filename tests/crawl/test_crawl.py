"""The crawler end to end against a loopback server with real HTTP behaviour."""

from __future__ import annotations

from datetime import timedelta

from aggregator.store import Store
from tests.conftest import FrozenClock
from tests.feedserver import FeedServer

from .helpers import config_for, crawler, rss


async def test_first_pass_stores_second_pass_sends_validators_and_creates_nothing(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Grève à la SNCF"), ("2", "Manifestation samedi")]), etag='"v1"',
                   last_modified="Fri, 20 Nov 2026 09:00:00 GMT")
        server.add("/b.xml", rss([("9", "Une autre source")]), last_modified="Fri, 20 Nov 2026 09:00:00 GMT")
        config = config_for(
            f"  - name: A\n    url: {server.url('/a.xml')}\n    tags: [mutu]\n"
            f"  - name: B\n    url: {server.url('/b.xml')}\n    language: fr\n"
        )
        async with crawler(store, config) as c:
            first = await c.crawl(every=True)
            assert first.as_json() | {"seconds": 0} == {
                "sources": 2, "ok": 2, "not_modified": 0, "failed": 0, "new_items": 3, "updated_items": 0, "seconds": 0,
            }
            clock.advance(hours=1)
            second = await c.crawl(every=True)
            assert second.as_json()["not_modified"] == 2 and second.as_json()["new_items"] == 0
    again = server.requests_to("/a.xml")[-1]
    assert again.headers.get("If-None-Match") == '"v1"'
    assert again.headers.get("If-Modified-Since") == "Fri, 20 Nov 2026 09:00:00 GMT"
    assert server.requests_to("/b.xml")[-1].headers.get("If-Modified-Since") == "Fri, 20 Nov 2026 09:00:00 GMT"
    items = store.entries.newest(source="a")
    assert [e.title for e in items] == ["Grève à la SNCF", "Manifestation samedi"]
    assert items[0].tags == ("mutu",)
    # The link is stored without its tracking parameters, the rest byte for byte (issue 10).
    assert items[0].url == "https://site.example/spip.php?article1"
    state = store.sources.get("a")
    assert state is not None and state.status == "not_modified" and state.error_count == 0
    assert state.next_fetch is not None and state.next_fetch > clock()


async def test_edits_update_in_place_and_relay_outbox_is_filled_once(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Première version du titre")]))
        config = config_for(
            f"  - name: A\n    url: {server.url('/a.xml')}\n",
            relay="relay:\n  mastodon:\n    api_base_url: https://relay.example\n",
        )
        async with crawler(store, config) as c:
            await c.crawl(every=True)
            server.add("/a.xml", rss([("1", "Seconde version du titre")]))
            clock.advance(hours=1)
            report = await c.crawl(every=True)
    assert report.as_json()["updated_items"] == 1 and report.as_json()["new_items"] == 0
    [entry] = store.entries.newest(source="a")
    assert entry.title == "Seconde version du titre"
    assert store.outbox.counts() == {("mastodon", "pending"): 1}


async def test_301_moves_the_source_and_410_disables_it(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.redirect("/old.xml", "/new.xml", status=301)
        server.add("/new.xml", rss([("1", "Déménagement du flux")]))
        server.gone("/gone.xml")
        config = config_for(
            f"  - name: Moved\n    url: {server.url('/old.xml')}\n"
            f"  - name: Gone\n    url: {server.url('/gone.xml')}\n"
        )
        async with crawler(store, config) as c:
            report = await c.crawl(every=True)
            moved = store.sources.get("moved")
            assert moved is not None and moved.url == server.url("/new.xml")
            clock.advance(hours=2)
            await c.crawl(every=True)
    assert report.as_json()["ok"] == 1 and report.as_json()["failed"] == 1
    assert len(server.requests_to("/old.xml")) == 1  # the second pass went straight to the new URL
    gone = store.sources.get("gone")
    assert gone is not None and gone.disabled and gone.status == "disabled"
    assert gone.last_error is not None and "410" in gone.last_error
    assert len(server.requests_to("/gone.xml")) == 2  # --all (every=True) retries disabled sources on purpose


async def test_failures_back_off_and_retry_after_is_honoured(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server, FeedServer(host="127.0.0.2") as busy_host:
        busy_host.error("/busy.xml", 429, retry_after=7200)
        busy_host.add("/other.xml", rss([("1", "Même hôte que la source occupée")]))
        server.error("/broken.xml", 500)
        config = config_for(
            f"  - name: Busy\n    url: {busy_host.url('/busy.xml')}\n"
            f"  - name: Broken\n    url: {server.url('/broken.xml')}\n"
        )
        async with crawler(store, config) as c:
            await c.crawl(every=True)
            busy = store.sources.get("busy")
            broken1 = store.sources.get("broken")
            clock.advance(days=1)
            await c.crawl(every=True)
            broken2 = store.sources.get("broken")
            # the whole host waits: another source on it fails fast without a request
            other = config_for(f"  - name: Other\n    url: {busy_host.url('/other.xml')}\n")
            c.config, c.sources = other, {s.slug: s for s in other.sources}
            store.sources.sync(list(config.sources) + list(other.sources))
            await c.crawl(slugs=["other"])
    assert busy is not None and busy.status == "failing" and busy.next_fetch is not None
    assert busy.last_error is not None and "429" in busy.last_error
    # Retry-After (2 h) beats the first back-off step (5 min); jitter is at most 10 %
    assert busy.next_fetch - busy.last_fetch >= timedelta(seconds=7200 * 0.9)  # type: ignore[operator]
    assert busy_host.requests_to("/other.xml") == []
    assert "wait" in (store.sources.get("other").last_error or "")  # type: ignore[union-attr]
    assert broken1 is not None and broken2 is not None
    assert broken2.error_count == 2 and broken2.status == "failing"
    assert broken2.last_error is not None and "500" in broken2.last_error
    gap1 = broken1.next_fetch - broken1.last_fetch  # type: ignore[operator]
    gap2 = broken2.next_fetch - broken2.last_fetch  # type: ignore[operator]
    assert gap2 > gap1  # exponential back-off


async def test_due_sources_only_unless_all(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Un seul article ici")]))
        config = config_for(f"  - name: A\n    url: {server.url('/a.xml')}\n")
        async with crawler(store, config) as c:
            assert (await c.crawl()).as_json()["sources"] == 1
            clock.advance(60)
            assert (await c.crawl()).as_json()["sources"] == 0  # not due yet
            assert (await c.crawl(slugs=["a"])).as_json()["sources"] == 1


async def test_site_kind_discovers_its_feed(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add(
            "/",
            '<!doctype html><html><head><meta name="generator" content="SPIP 4.2">'
            '<link rel="alternate" type="application/rss+xml" title="Le site" href="/spip.php?page=backend">'
            "</head><body><p>Accueil</p></body></html>",
            content_type="text/html; charset=utf-8",
        )
        server.add("/spip.php", rss([("7", "Article découvert par autodiscovery")]), etag='"s1"')
        config = config_for(f"  - name: Site\n    kind: site\n    url: {server.url('/')}\n")
        async with crawler(store, config) as c:
            first = await c.crawl(every=True)
            clock.advance(hours=1)
            second = await c.crawl(every=True)
    assert first.as_json()["new_items"] == 1
    assert second.as_json()["not_modified"] == 1
    assert len(server.requests_to("/")) == 1  # the page is not fetched again once the feed is known
    state = store.sources.get("site")
    assert state is not None and state.resolved_id == server.url("/spip.php?page=backend")


async def test_hostile_sources_fail_cleanly_and_the_pass_goes_on(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add("/ok.xml", rss([("1", "Le flux sain")], extra='<script>alert(1)</script><img src=x onerror="alert(2)"><a href="javascript:alert(3)">x</a><iframe src="https://evil.example/"></iframe>'))
        server.gzip_bomb("/bomb.xml", size=64 * 1024 * 1024)
        server.huge("/huge.xml", 20 * 1024 * 1024, content_length=False)
        server.hang_after_headers("/hang.xml")
        server.loop("/loop-a", "/loop-b")
        server.add("/html.xml", "<html><body>Not a feed</body></html>", content_type="application/rss+xml")
        server.add("/garbage.xml", b"\x00\xff\xfe garbage \x89PNG", content_type="text/xml")
        names = ["ok", "bomb", "huge", "hang", "loop-a", "html", "garbage"]
        config = config_for("".join(
            f"  - name: {n}\n    url: {server.url('/' + n + ('' if n.startswith('loop') else '.xml'))}\n" for n in names
        ))
        async with crawler(store, config, total_timeout=2.0, max_bytes=15 * 1024 * 1024) as c:
            report = await c.crawl(every=True)
    summary = report.as_json()
    assert summary["ok"] == 1 and summary["failed"] == 6 and summary["new_items"] == 1
    errors = {s.slug: s.last_error for s in store.sources.states()}
    assert errors["ok"] is None
    for slug in names[1:]:
        assert errors[slug], slug
    [entry] = store.entries.newest(source="ok")
    for bad in ("<script", "onerror", "javascript:", "<iframe"):
        assert bad not in entry.summary and bad not in entry.content


async def test_one_article_from_two_sources_is_one_story(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("a1", "Rassemblement contre l'expulsion du squat des Lilas")]))
        server.add("/b.xml", rss([("b7", "Rassemblement contre l’expulsion du squat des lilas")], link="https://other.example/"))
        config = config_for(
            f"  - name: A\n    url: {server.url('/a.xml')}\n  - name: B\n    url: {server.url('/b.xml')}\n",
            relay="relay:\n  bluesky:\n    service: https://pds.example\n",
        )
        async with crawler(store, config) as c:
            await c.crawl(every=True)
    river = store.entries.newest(stories_only=True)
    assert len(river) == 1
    members = store.entries.story_members([river[0].story_id])  # type: ignore[list-item]
    assert sorted(e.source for e in members[river[0].story_id]) == ["a", "b"]  # type: ignore[index]
    assert store.outbox.counts() == {("bluesky", "pending"): 1}
