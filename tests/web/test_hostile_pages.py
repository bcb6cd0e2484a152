"""Pages over a store crawled from hostile feeds: bounded weight, clean links, a browser that loads them.

Issue 10: one feed with a 1 MiB title made the river weigh 2 MB and Chromium never reached
DOMContentLoaded. Here the feeds of ``hostile.py`` (giant fields of every kind, and a feed
of items with every field at its limit in the heaviest characters) are served by the
loopback feed server, crawled by the real crawler, indexed, and served by the real app
built by the factory. Every page and document that lists items must stay under
``limits.MAX_PAGE_BYTES`` and carry no tracking parameter; in Debian's Chromium each page
reaches DOMContentLoaded (within a generous navigation timeout, not a timing threshold)
and weighs, with its assets, less than the bound.
"""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from aggregator import limits
from aggregator.store import Store
from tests.browser import CHROMIUM, ServedInThread, Watch, chromium, running
from tests.building import aggregator_for
from tests.conftest import FrozenClock, free_port
from tests.feedserver import FeedServer

from . import hostile_feeds as hostile

#: Views that list items (a full page of the heaviest items for "pire"), and the others.
PAGES = {
    "river": "/",
    "source": "/sources/pire",
    "source-giant": "/sources/geant",
    "tag": "/tags/pire",
    "search": "/search?q=" + quote("paragraphe OR étiquettes OR pouet OR bavard OR titre"),
    "search-worst": "/search?q=" + quote("tag:pire"),
    "sources": "/sources",
}
DOCUMENTS = {
    "atom": "/feed.atom",
    "atom-worst": "/feed.atom?source=pire",
    "json-feed": "/feed.json",
    "json-feed-worst": "/feed.json?source=pire",
    "api": "/api/items",
    "api-worst": "/api/items?source=pire&limit=50",
    "api-search": "/api/items?q=" + quote("tag:pire") + "&limit=50",
    "api-sources": "/api/sources",
}
TRACKERS = (b"utm_", b"fbclid", b"xtor")


class HostileSite(ServedInThread):
    """The feed server, a crawl of it, and the app, on their own event loop in a thread."""

    def __init__(self, tmp: Path):
        super().__init__()
        self.tmp = tmp
        self.app_port = free_port()
        self.base = f"http://127.0.0.1:{self.app_port}"
        self.report: dict[str, Any] = {}

    async def setup(self) -> None:
        self.server = await self.stack.enter_async_context(FeedServer())
        hostile.serve(self.server)
        self.feeds = self.server.base_url
        self.store = Store(f"sqlite:///{self.tmp / 'hostile.sqlite3'}", clock=FrozenClock(hostile.NOW))
        self.store.upgrade()
        self.stack.callback(self.store.close)
        agg = await self.stack.enter_async_context(
            aggregator_for(self.store, hostile.config(self.server), data_dir=self.tmp, total_timeout=60.0))
        self.report = (await (await agg.crawler()).crawl(every=True)).as_json()
        await asyncio.to_thread(agg.index().sync)
        await self.serve(agg.web_app(), self.app_port)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.base + path, timeout=120) as response:
            assert response.status == 200, path
            body: bytes = response.read()
            return body



@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileSite]:
    with running(HostileSite(tmp_path_factory.mktemp("hostile"))) as s:
        yield s


def test_every_hostile_source_was_crawled_and_stored_bounded(site: HostileSite) -> None:
    assert site.report["sources"] == len(hostile.SLUGS) and site.report["failed"] == 0, site.report
    entries = site.store.entries.newest(limit=500)
    assert {e.source for e in entries} == set(hostile.SLUGS)
    assert len([e for e in entries if e.source == "pire"]) == hostile.WORST_ITEMS
    for e in entries:
        assert len(e.title) <= limits.MAX_TITLE_LENGTH + 1 and len(e.author or "") <= limits.MAX_AUTHOR_LENGTH + 1
        assert len(e.tags) <= limits.MAX_TAGS + 1  # the feed's 20, and the source's own tag
        assert e.url is None or (len(e.url) <= limits.MAX_URL_LENGTH and "utm_" not in e.url)


@pytest.mark.parametrize("path", [*PAGES.values(), *DOCUMENTS.values()], ids=[*PAGES, *DOCUMENTS])
def test_every_page_and_document_stays_under_the_weight_bound(site: HostileSite, path: str) -> None:
    body = site.get(path)
    assert len(body) <= limits.MAX_PAGE_BYTES, f"{path} weighs {len(body)} bytes"
    for tracker in TRACKERS:
        assert tracker not in body, f"{path} shows a link with {tracker.decode()}"


def test_the_bound_is_tried_with_full_pages_of_the_heaviest_items(site: HostileSite) -> None:
    import json

    assert len(json.loads(site.get(DOCUMENTS["api-worst"]))["items"]) == limits.PAGE_ITEMS
    assert len(json.loads(site.get(DOCUMENTS["json-feed-worst"]))["items"]) == limits.PAGE_ITEMS
    assert site.get(DOCUMENTS["atom-worst"]).count(b"<entry") == limits.PAGE_ITEMS
    assert site.get(PAGES["source"]).count(b'<article class="item"') == 30  # a river page
    assert site.get(PAGES["search-worst"]).count(b'<article class="item"') == 20  # a search page


def test_readers_get_the_clean_links(site: HostileSite) -> None:
    """The links came with utm_*, fbclid and xtor; readers get them without (the other
    pages' bodies are checked for trackers above)."""
    for path in ("/sources/geant", "/feed.atom?source=geant", "/feed.json?source=geant", "/api/items?source=geant",
                 "/search?q=" + quote("démesuré")):
        body = site.get(path)
        assert f"{site.feeds}/articles/titre".encode() in body or f"{site.feeds}/articles/auteur".encode() in body, path
    assert f"{site.feeds}/articles/contenu".encode() in site.get("/api/items?source=geant")
    assert f'"{site.feeds}/atom/1"'.encode() in site.get("/api/items?source=atome")


# -- in a browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


#: The navigation's and every asset's decoded body, in bytes (all same-origin).
WEIGHT = """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
    .reduce((sum, e) => sum + e.decodedBodySize, 0)"""


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent: apt-get install chromium")
@pytest.mark.parametrize("path", PAGES.values(), ids=PAGES.keys())
def test_the_browser_loads_each_page(browser: Any, site: HostileSite, path: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        page = context.new_page()
        watch = Watch(page, site.app_port)
        # A generous timeout: a page a browser cannot lay out never gets there at all.
        response = page.goto(site.base + path, wait_until="domcontentloaded", timeout=120_000)
        assert response is not None and response.status == 200
        assert page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd") > 0
        page.wait_for_load_state("load", timeout=120_000)
        weight = page.evaluate(WEIGHT)
        assert 0 < weight <= limits.MAX_PAGE_BYTES, f"{path} weighs {weight} bytes with its assets"
        for width in (1280, 390):  # giant words wrap on a desktop and on a phone
            page.set_viewport_size({"width": width, "height": 900})
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways at {width}px"
        watch.assert_clean()
    finally:
        context.close()
