"""What every browser test shares: Debian's Chromium through Playwright, a watch that fails
a page on console errors, dialogs (executed hostile content) or requests to other hosts,
axe-core, and the loopback servers the browser talks to.

Playwright's sync API drives the browser from the test's thread, so the servers run on
their own event loop in another thread (``ServedInThread``); a test module subclasses it,
builds its stack in ``setup()`` and gets it through ``running()``.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic"]

#: ``pytestmark`` of a browser test module: marked, and skipped with the exact reason when
#: Chromium or axe-core is missing (``make test-deps`` installs both).
NEEDS_BROWSER = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
    pytest.mark.skipif(not AXE.exists(), reason="node_modules/axe-core is absent: run npm ci at the repository root"),
]

T = TypeVar("T")
S = TypeVar("S", bound="ServedInThread")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


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


def axe(page: Any, *, iframes: bool = True) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations of a page or a frame (axe is injected over
    CDP, not as a page script); ``iframes=False`` leaves framed documents out."""
    page.evaluate(AXE.read_text())
    options = "{resultTypes: ['violations']}" if iframes else "{resultTypes: ['violations'], iframes: false}"
    result = page.evaluate(f"() => axe.run(document, {options})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


class ServedInThread:
    """Servers on their own event loop in a daemon thread; whatever ``setup()`` enters into
    ``self.stack`` is closed, last in first out, by ``stop()``."""

    start_timeout = 300.0

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run ``coro`` on the servers' loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def setup(self) -> None:
        raise NotImplementedError

    async def serve(self, app: web.Application, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``app`` on ``host:port`` until ``stop()``."""
        runner = web.AppRunner(app)
        await runner.setup()
        self.stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()

    def start(self) -> None:
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.run(self.setup(), self.start_timeout)

    def stop(self) -> None:
        self.run(self.stack.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)


@contextmanager
def running(served: S) -> Iterator[S]:
    """``served`` started, and stopped on exit (for a module-scoped fixture)."""
    served.start()
    try:
        yield served
    finally:
        served.stop()
