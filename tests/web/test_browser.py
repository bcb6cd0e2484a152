"""Real browser tests: Debian's Chromium through Playwright, over a store filled by a crawl.

The crawl is real (local feed server on 127.0.0.1, the project's crawler, fetch and
parse), the app is the real one on a loopback port, and the browser enforces the real
Content-Security-Policy. Every request to any other host is recorded and refused.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aggregator.index import open_index
from aggregator.model import utcnow
from aggregator.store import Store
from aggregator.webapp import create_app
from tests.browser import NEEDS_BROWSER, ServedInThread, Watch, axe, chromium, running
from tests.conftest import free_port

from . import loopback

#: Where the screenshots go: a temporary folder, unless ``make screenshots`` asks for
#: docs/screenshots (SCREENSHOTS_DIR): running the tests never touches tracked files.
SCREENSHOTS_ENV = "SCREENSHOTS_DIR"

pytestmark = NEEDS_BROWSER


class Served(ServedInThread):
    """The feed server, a crawl of it and the app, on their own event loop in a thread."""

    def __init__(self, tmp: Path, *, feeds_up: bool = True):
        super().__init__()
        self.tmp = tmp
        self.feeds_up = feeds_up  # False: nothing listens where the feeds are (every source fails)
        self.feed_port, self.app_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.app_port}"
        self.crawl_report: dict[str, Any] = {}

    async def setup(self) -> None:
        feed_base = f"http://127.0.0.1:{self.feed_port}"
        if self.feeds_up:
            await self.serve(loopback.feed_app([feed_base]), self.feed_port)
        cfg = loopback.config(feed_base)
        self.store = Store(f"sqlite:///{self.tmp / 'browser.sqlite3'}")
        self.store.upgrade()
        self.stack.callback(self.store.close)
        self.crawl_report = await loopback.crawl(self.store, cfg)
        self.index = open_index(self.store, self.tmp, clock=utcnow)
        self.stack.callback(self.index.close)
        await asyncio.to_thread(self.index.sync)
        await self.serve(create_app(store=self.store, config=cfg, index=self.index), self.app_port)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with running(Served(tmp_path_factory.mktemp("browser"))) as s:
        yield s


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same install, but no feed answers: what a first run behind a broken network looks like."""
    with running(Served(tmp_path_factory.mktemp("browser-failing"), feeds_up=False)) as s:
        yield s


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def open_page(browser: Any, served: Served, path: str, *, width: int = 1280, height: int = 900, **ctx: Any) -> tuple[Any, Any, Watch]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR", **ctx)
    page = context.new_page()
    watch = Watch(page, served.app_port)
    response = page.goto(served.base + path, wait_until="load")
    assert response is not None and response.status == 200, path
    return context, page, watch


def test_the_crawl_filled_the_store(served: Served) -> None:
    report = served.crawl_report
    assert report["sources"] == 4 and report["ok"] == 3 and report["failed"] == 1
    assert report["new_items"] == 41 + 6 + 1


@pytest.mark.parametrize(("name", "path"), [
    ("river", "/"),
    ("search", "/search?q=gr%C3%A8ve"),
    ("source", "/sources/paris-luttes"),
    ("sources", "/sources"),
    ("hostile", "/sources/piege"),
])
def test_page_is_clean_accessible_and_photographed(browser: Any, served: Served, screenshots: Path, name: str, path: str) -> None:
    for label, width, height in (("desktop", 1280, 900), ("phone", 390, 844)):
        context, page, watch = open_page(browser, served, path, width=width, height=height,
                                         timezone_id="Europe/Paris", is_mobile=width < 500)
        try:
            page.wait_for_timeout(150)  # let a late onerror/onload handler fire, if any survived
            watch.assert_clean()
            violations = axe(page)
            assert violations == [], json.dumps(violations, indent=1)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} scrolls sideways at {width}px"
            if name != "hostile":
                page.screenshot(path=str(screenshots / f"{name}-{label}.png"))
        finally:
            context.close()


def test_hostile_item_is_inert_and_shown_as_text(browser: Any, served: Served) -> None:
    context, page, watch = open_page(browser, served, "/sources/piege")
    try:
        title = page.locator("h2.title").first.inner_text()
        assert title.strip() == "Un titre piégé", "markup in a title is dropped by the parser, never run"
        hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        assert not [h for h in hrefs if h.strip().lower().startswith("javascript:")]
        counts = page.evaluate("""() => ({scripts: document.querySelectorAll('body script').length,
            iframes: document.querySelectorAll('iframe').length, svgs: document.querySelectorAll('svg').length,
            imgs: document.querySelectorAll('img').length, forms: document.querySelectorAll('main form').length})""")
        assert counts == {"scripts": 0, "iframes": 0, "svgs": 0, "imgs": 0, "forms": 0}
        page.hover("div.excerpt")
        page.wait_for_timeout(100)
        watch.assert_clean()
    finally:
        context.close()


def test_page_two_and_the_story_shown_once(browser: Any, served: Served) -> None:
    context, page, watch = open_page(browser, served, "/")
    try:
        first = page.locator("h2.title").all_inner_texts()
        assert sum("Expulsion du squat" in t for t in first) == 1
        # whichever source the crawl stored first carries the story; the other is "also"
        story = page.locator("article.item", has_text="Expulsion du squat")
        names = {story.locator("a.source").inner_text(), *story.locator("p.also a").all_inner_texts()}
        assert names == {"Paris-luttes.info", "Rebellyon"}
        page.click("a[rel=next]")
        page.wait_for_load_state("load")
        assert "cursor=" in page.url
        second = page.locator("h2.title").all_inner_texts()
        assert second and not set(first) & set(second)
        assert len(first) + len(second) == 41 + 6 + 1 - 1  # one story from two sources
        watch.assert_clean()
        assert axe(page) == []
    finally:
        context.close()


def test_dates_follow_the_readers_time_zone_and_work_without_javascript(browser: Any, served: Served) -> None:
    context, page, watch = open_page(browser, served, "/", timezone_id="America/Montreal")
    try:
        stamp = page.locator("time.dt").first.get_attribute("datetime")
        montreal = page.locator("time.dt").first.inner_text()
    finally:
        context.close()
    context, page, watch = open_page(browser, served, "/", java_script_enabled=False)
    try:
        paris = page.locator("time.dt").first.inner_text()
        links, items = page.locator("a.read").count(), page.locator("article.item").count()
        assert items == 30 and links == items, "articles are readable and linked without JavaScript"
        watch.assert_clean()
    finally:
        context.close()
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert when.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M") in paris, "server: Paris time"
    assert when.astimezone(ZoneInfo("America/Montreal")).strftime("%H:%M") in montreal, "script: reader's zone"


def test_english_switch_and_keyboard_skip_link(browser: Any, served: Served) -> None:
    context, page, watch = open_page(browser, served, "/")
    try:
        page.click("a[hreflang=en]")
        page.wait_for_load_state("load")
        assert page.locator("html").get_attribute("lang") == "en"
        page.goto(served.base + "/sources")
        assert page.locator("h1").inner_text() == "Sources" and page.locator("html").get_attribute("lang") == "en"
        assert "The feed address no longer exists (404)" in page.content()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        watch.assert_clean()
    finally:
        context.close()


def test_every_source_failing_is_said_on_the_river_and_sources(browser: Any, failing: Served, screenshots: Path) -> None:
    """The first run with no feed reachable: not an empty river, but what is wrong and where to look."""
    assert failing.crawl_report["failed"] == failing.crawl_report["sources"] == 4
    context, page, watch = open_page(browser, failing, "/", timezone_id="Europe/Paris")
    try:
        notice = page.locator("p.sources-health")
        assert " ".join(notice.inner_text().split()).startswith("4 sources, 4 en panne — voir les sources.")
        watch.assert_clean()
        assert axe(page) == []
        page.screenshot(path=str(screenshots / "river-all-failing-desktop.png"), full_page=True)
        notice.locator("a").click()
        page.wait_for_load_state("load")
        assert page.url == failing.base + "/sources"
        summary = " ".join(page.locator("ul.health-summary").inner_text().split())
        assert "Fonctionne 0" in summary and "En échec 4" in summary and "Désactivée 0" in summary, summary
        # failing and disabled sources first, each failing one with its next try
        statuses = page.locator("li.source-card p.status .badge").all_inner_texts()
        assert statuses == ["En échec"] * 4
        assert page.locator("li.source-card", has_text="prochain essai").count() == 4
        watch.assert_clean()
        assert axe(page) == []
        page.screenshot(path=str(screenshots / "sources-all-failing-desktop.png"), full_page=True)
    finally:
        context.close()
