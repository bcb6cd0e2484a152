"""Real browser tests: Debian's Chromium through Playwright, over a store filled by a crawl.

The crawl is real (local feed server on 127.0.0.1, the project's crawler, fetch and
parse), the app is the real one on a loopback port, and the browser enforces the real
Content-Security-Policy. Every request to any other host is recorded and refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from aggregator.index import open_index
from aggregator.model import utcnow
from aggregator.store import Store
from aggregator.webapp import create_app
from tests.conftest import ROOT, free_port

from . import loopback

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
#: Where the screenshots go: a temporary folder, unless ``make screenshots`` asks for
#: docs/screenshots (SCREENSHOTS_DIR): running the tests never touches tracked files.
SCREENSHOTS_ENV = "SCREENSHOTS_DIR"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
    pytest.mark.skipif(not AXE.exists(), reason="node_modules/axe-core is absent: run npm ci at the repository root"),
]


class Served:
    """The feed server and the app, on their own event loop in a thread."""

    def __init__(self, tmp: Path, *, feeds_up: bool = True):
        self.tmp = tmp
        self.feeds_up = feeds_up  # False: nothing listens where the feeds are (every source fails)
        self.loop = asyncio.new_event_loop()
        self.feed_port, self.app_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.app_port}"
        self.runners: list[web.AppRunner] = []
        self.crawl_report: dict[str, Any] = {}

    def start(self) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(120)

    async def _start(self) -> None:
        feed_base = f"http://127.0.0.1:{self.feed_port}"
        if self.feeds_up:
            await self._serve(loopback.feed_app([feed_base]), self.feed_port)
        cfg = loopback.config(feed_base)
        self.store = Store(f"sqlite:///{self.tmp / 'browser.sqlite3'}")
        self.store.upgrade()
        self.crawl_report = await loopback.crawl(self.store, cfg)
        self.index = open_index(self.store, self.tmp, clock=utcnow)
        await asyncio.to_thread(self.index.sync)
        await self._serve(create_app(store=self.store, config=cfg, index=self.index), self.app_port)

    async def _serve(self, app: web.Application, port: int) -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners.append(runner)

    def stop(self) -> None:
        async def _stop() -> None:
            for runner in reversed(self.runners):
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(_stop(), self.loop).result(30)
        self.index.close()
        self.store.close()
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("browser"))
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same install, but no feed answers: what a first run behind a broken network looks like."""
    s = Served(tmp_path_factory.mktemp("browser-failing"), feeds_up=False)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """Console errors, dialogs and foreign requests of one page."""

    def __init__(self, page: Any, app_port: int):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._dialog)

        def route(r: Any) -> None:
            parts = urlsplit(r.request.url)
            if parts.scheme in ("data", "about", "blob") or parts.netloc == f"127.0.0.1:{app_port}":
                r.continue_()
            else:
                self.foreign.append(r.request.url)
                r.abort()

        page.route("**/*", route)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"hostile content executed: {self.dialogs}"
        assert self.foreign == [], f"requests to foreign hosts: {self.foreign}"
        assert self.errors == [], f"console errors: {self.errors}"


def axe(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (axe is injected over CDP, not as a page script)."""
    page.evaluate(AXE.read_text())
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


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
