"""The embeddable block in a real browser: another site's page frames ``/embed`` (issue 13).

A host page on another loopback origin pastes the iframe code that ``/share`` hands out;
Chromium loads it with every request recorded: nothing may leave for any origin but the
aggregator's and the host page's own, no cookie may be set, the block must pass axe-core,
read without JavaScript, and fit a 300-pixel column. Screenshots go to a temporary dir.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from aggregator.webapp import create_app
from tests.browser import NEEDS_BROWSER, axe, chromium, running
from tests.conftest import free_port

from . import loopback
from .test_browser import Served

pytestmark = NEEDS_BROWSER

HOST = "127.0.0.2"  # another loopback address, so another origin (and another site) than the aggregator's


class Sites(Served):
    """The aggregator (with its public address configured) and a host site framing its block."""

    def __init__(self, tmp: Path):
        super().__init__(tmp)
        self.host_port = free_port()
        self.host_base = f"http://{HOST}:{self.host_port}"
        self.pages: dict[str, str] = {}

    async def setup(self) -> None:
        feed_base = f"http://127.0.0.1:{self.feed_port}"
        await self.serve(loopback.feed_app([feed_base]), self.feed_port)
        cfg = loopback.config(feed_base)
        from aggregator.store import Store

        self.store = Store(f"sqlite:///{self.tmp / 'embed.sqlite3'}")
        self.store.upgrade()
        self.stack.callback(self.store.close)
        self.crawl_report = await loopback.crawl(self.store, cfg)
        await self.serve(create_app(store=self.store, config=cfg, base_url=self.base), self.app_port)
        host = web.Application()

        async def page(request: web.Request) -> web.Response:
            if request.match_info["name"] not in self.pages:
                raise web.HTTPNotFound()
            return web.Response(text=self.pages[request.match_info["name"]], content_type="text/html")

        host.router.add_get("/{name}", page)
        await self.serve(host, self.host_port, HOST)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    with running(Sites(tmp_path_factory.mktemp("embed"))) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def iframe_code(sites: Sites, query: str) -> str:
    """The iframe code exactly as ``/share`` hands it out (read from the page, unescaped)."""
    import urllib.request

    with urllib.request.urlopen(f"{sites.base}/share?{query}&ui=en", timeout=10) as response:
        page = response.read().decode()
    found = re.search(r'<textarea id="c-iframe"[^>]*>(.*?)</textarea>', page, re.S)
    assert found is not None
    return html.unescape(found.group(1))


def host_page(code: str, *, width: int = 300) -> str:
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Un site SPIP</title><link rel="icon" href="data:,">'
            f'<style>.lire-ailleurs{{width:{width}px}}</style></head><body><main><h1>Un site qui relaie le réseau</h1>'
            f'<aside class="lire-ailleurs">{code}</aside></main></body></html>')


class Requests:
    """Every request the page makes, by origin; any origin but the two allowed is refused."""

    def __init__(self, context: Any, allowed: set[str]):
        self.seen: list[str] = []
        self.foreign: list[str] = []

        def route(r: Any) -> None:
            url = r.request.url
            parts = urlsplit(url)
            self.seen.append(url)
            if parts.scheme in ("data", "about") or f"{parts.scheme}://{parts.netloc}" in allowed:
                r.continue_()
            else:
                self.foreign.append(url)
                r.abort()

        context.route("**/*", route)


def embed_frame(page: Any) -> Any:
    page.frame_locator("iframe").first.locator("main.embed").wait_for()
    frames = [f for f in page.frames if "/embed" in f.url]
    assert len(frames) == 1, [f.url for f in page.frames]
    return frames[0]


def test_a_host_page_frames_the_block_privately_and_accessibly(browser: Any, sites: Sites, tmp_path: Path) -> None:
    sites.pages["relais"] = host_page(iframe_code(sites, "exclude=piege&limit=6&theme=light"))
    for label, scheme in (("light", "light"), ("dark", "dark")):
        context = browser.new_context(viewport={"width": 390, "height": 800}, locale="fr-FR", color_scheme=scheme)
        requests = Requests(context, {sites.base, sites.host_base})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        try:
            response = page.goto(f"{sites.host_base}/relais", wait_until="load")
            assert response is not None and response.status == 200
            frame = embed_frame(page)
            frame.wait_for_selector("ol.embed-list li")
            titles = frame.locator("a.embed-item").all_inner_texts()
            assert len(titles) == 6 and not any("piégé" in t for t in titles)
            assert requests.foreign == [], f"requests to other origins: {requests.foreign}"
            assert {urlsplit(u).netloc for u in requests.seen} == {f"{HOST}:{sites.host_port}", f"127.0.0.1:{sites.app_port}"}
            assert context.cookies() == [], "the block sets no cookie"
            assert errors == [], f"console errors: {errors}"
            overflow = frame.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, "the block scrolls sideways in a 300 px column"
            page.screenshot(path=str(tmp_path / f"embed-{label}.png"))
            assert (tmp_path / f"embed-{label}.png").stat().st_size > 0
        finally:
            context.close()


def test_the_block_is_accessible_in_its_frame(browser: Any, sites: Sites) -> None:
    """axe-core inside the frame. The shared code's sandbox stops axe's own timers (no
    ``allow-scripts``), so this host page frames the block without one, as some will."""
    code = re.sub(r' sandbox="[^"]*"', "", iframe_code(sites, "limit=8"))
    sites.pages["axe"] = host_page(code)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 390, "height": 800}, color_scheme=scheme)
        requests = Requests(context, {sites.base, sites.host_base})
        page = context.new_page()
        try:
            page.goto(f"{sites.host_base}/axe", wait_until="load")
            violations = axe(embed_frame(page))
            assert violations == [], json.dumps(violations)
            assert requests.foreign == [] and context.cookies() == []
        finally:
            context.close()


def test_the_block_reads_without_javascript_and_in_the_dark(browser: Any, sites: Sites, tmp_path: Path) -> None:
    sites.pages["sans-js"] = host_page(iframe_code(sites, "theme=dark&limit=4"))
    context = browser.new_context(viewport={"width": 390, "height": 800}, java_script_enabled=False)
    requests = Requests(context, {sites.base, sites.host_base})
    page = context.new_page()
    try:
        page.goto(f"{sites.host_base}/sans-js", wait_until="load")
        frame = embed_frame(page)
        items = frame.locator("ol.embed-list li")
        assert items.count() == 4 and all(t.strip() for t in frame.locator("a.embed-item").all_inner_texts())
        links = frame.locator("a.embed-item").evaluate_all("els => els.map(e => [e.target, e.rel])")
        assert all(target == "_blank" and "noreferrer" in rel for target, rel in links)
        background = frame.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(22, 21, 20)", "theme=dark"
        assert requests.foreign == [] and context.cookies() == []
        page.screenshot(path=str(tmp_path / "embed-no-js.png"))
    finally:
        context.close()
    # The block keeps its own framing policy; the rest of the site refuses to be framed.
    sites.pages["river"] = f'<!doctype html><html lang="fr"><title>x</title><iframe src="{sites.base}/" title="river"></iframe></html>'
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{sites.host_base}/river", wait_until="load")
        river = next(f for f in page.frames if f != page.main_frame)
        assert river.url.startswith("chrome-error:"), "the river refuses to be shown inside another site's frame"
    finally:
        context.close()


def test_the_optional_height_script_is_the_only_script_and_off_by_default(browser: Any, sites: Sites) -> None:
    """``autoheight=1`` (and a sandbox allowing scripts) makes the block post its height, nothing else."""
    code = iframe_code(sites, "limit=3").replace("/embed?limit=3", "/embed?limit=3&autoheight=1").replace(
        'sandbox="allow-popups', 'sandbox="allow-scripts allow-popups')
    sites.pages["hauteur"] = host_page(code)
    context = browser.new_context()
    requests = Requests(context, {sites.base, sites.host_base})
    page = context.new_page()
    try:
        # What a host page adds to size the frame (docs/syndication.md), recording the heights.
        page.add_init_script("window.heights = []; window.addEventListener('message', e => {"
                             " if (e.data && e.data.type === 'aggregator-embed-height') window.heights.push(e.data.height); });")
        page.goto(f"{sites.host_base}/hauteur", wait_until="load")
        heights = page.wait_for_function("() => window.heights.length > 0 && window.heights").json_value()
        assert all(isinstance(h, int) and h > 0 for h in heights)
        scripts = embed_frame(page).evaluate("[...document.scripts].map(s => s.src)")
        assert len(scripts) == 1 and "/static/embed-height.js" in scripts[0]
        assert requests.foreign == [] and context.cookies() == []
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/share?exclude=piege&theme=dark", "/suggest"])
def test_share_and_suggest_pages_are_accessible_on_a_phone(browser: Any, sites: Sites, path: str) -> None:
    for width, height in ((1280, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="fr-FR")
        requests = Requests(context, {sites.base})
        page = context.new_page()
        try:
            page.goto(sites.base + path, wait_until="load")
            # The preview frame is sandboxed (no scripts): axe checks it in the test above.
            violations = axe(page, iframes=False)
            assert violations == [], json.dumps(violations)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, f"{path} at {width}px"
            assert requests.foreign == []
        finally:
            context.close()
