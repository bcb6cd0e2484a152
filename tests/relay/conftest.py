"""Relay fixtures: the real Bluesky network, a stateful Mastodon fake, a local article site."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from aiohttp import web
from PIL import Image

from aggregator.model import EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Store
from tests.building import Relays, store_entries
from tests.peers.bluesky import bluesky_network  # noqa: F401
from tests.peers.mastodon_replay import mastodon_replay  # noqa: F401

from .mastodon_fake import FakeMastodon


def article(guid: str, title: str, url: str, text: str = "Un texte de résumé.", **kw: object) -> EntryData:
    return EntryData(guid=guid, url=url, title=title, text=text, summary=f"<p>{text}</p>",
                     content_hash=content_hash(title, text), **kw)  # type: ignore[arg-type]


def save(store: Store, source: SourceConfig, entries: list[EntryData], *, targets: tuple[str, ...],
         backlog: timedelta = timedelta(hours=24)) -> int:
    """Store entries the way the crawler does: the write path, with the relay targets."""
    return store_entries(store, source, entries, targets=targets, backlog=backlog).new


def jpeg(width: int = 1600, height: int = 900, noise: bool = False) -> bytes:
    """A real JPEG; ``noise`` makes it too big for a blob until resized."""
    import random

    img = Image.new("RGB", (width, height), (200, 40, 40))
    if noise:
        rng = random.Random(1)
        img.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(width * height)])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


class ArticleSite:
    """Article pages with OpenGraph tags and images, on 127.0.0.1."""

    def __init__(self) -> None:
        self.base = ""
        self.hits: list[str] = []
        self.big = jpeg(1500, 1000, noise=True)
        self.small = jpeg(600, 315)
        self._runner: web.AppRunner | None = None

    def url(self, slug: str) -> str:
        return f"{self.base}/articles/{slug}"

    async def _article(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        self.hits.append(request.path)
        if slug.startswith("missing"):
            return web.Response(status=404)
        image = "" if slug.startswith("noimage") else (
            f'<meta property="og:image" content="/images/{"big" if slug.startswith("big") else "small"}.jpg">')
        page = (f'<!doctype html><html><head><meta charset="utf-8"><title>{slug} | Site</title>'
                f'<meta property="og:title" content="Carte : {slug}">'
                f'<meta property="og:description" content="Description de l&#39;article {slug} &amp; plus">'
                f"{image}</head><body><p>corps</p></body></html>")
        return web.Response(text=page, content_type="text/html")

    async def _image(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        body = self.big if request.match_info["name"] == "big" else self.small
        return web.Response(body=body, content_type="image/jpeg")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/articles/{slug}", self._article)
        app.router.add_get("/images/{name}.jpg", self._image)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def mastodon() -> AsyncIterator[FakeMastodon]:
    fake = FakeMastodon()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def site() -> AsyncIterator[ArticleSite]:
    s = ArticleSite()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def relays() -> AsyncIterator[Relays]:
    """``await relays.open(store, relay_config, credentials)``: a relay built by the factory."""
    async with AsyncExitStack() as stack:
        yield Relays(stack)
