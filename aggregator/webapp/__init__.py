"""The readers' web front end: an aiohttp application that only reads the store and index.

``create_app`` is what ``aggregator serve`` and ``aggregator run`` call. Resources live on
the app under typed keys; the ones opened here are closed in ``cleanup_ctx``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from ..model import Clock, Config, utcnow
from . import api, pages, syndication
from .cache import ResponseCache, cache_middleware
from .context import ui_locale
from .data import SourceDirectory
from .http import add_security_headers, reject_malformed, timing_middleware
from .keys import CLOCK, CONFIG, DIRECTORY, EXECUTOR, INDEX, METRICS, PUBLIC_URLS, RENDERER, STORE
from .metrics import Metrics
from .ports import ReadStore
from .render import Renderer
from .urls import PublicUrls

if TYPE_CHECKING:
    from .search import SearchIndexLike

__all__ = ["PAGE_CACHE_SECONDS", "create_app"]

READ_THREADS = 10


#: What ``aggregator serve`` and ``run`` use: pages may lag the store by this many seconds.
PAGE_CACHE_SECONDS = 5.0
#: The routes whose answers the micro-cache keeps (cache.py): public reads, the same for
#: every reader of a URL in a language. Nothing else is cached, whoever adds it.
CACHED_ROUTES = ("river", "search", "sources", "opml", "source", "tag", "feed_atom", "feed_json", "feed_rss",
                 "embed", "share", "api_items", "api_sources")


def create_app(
    *,
    store: ReadStore,
    config: Config,
    index: SearchIndexLike | None = None,
    clock: Clock = utcnow,
    cache_seconds: float = 0.0,
    base_url: str | None = None,
) -> web.Application:
    """Build the application over an open store (and optionally a search index).

    The caller owns ``store`` and ``index`` and closes them; the app owns what it builds
    itself (templates, caches, metrics) and drops them in its cleanup context.

    Args:
        cache_seconds: keep rendered public pages, feeds and API answers this long (see
            ``cache.py``); 0 renders every request (tests see writes at once).
        base_url: the site's public address (``settings.base_url``); every absolute URL
            is built from it (``urls.py``), none from a request's ``Host``.
    """
    urls = PublicUrls(base_url)
    cache = ResponseCache(cache_seconds, routes=CACHED_ROUTES)
    app = web.Application(
        middlewares=[
            timing_middleware, reject_malformed, pages.error_pages,
            cache_middleware(cache, ui_locale, scheme=urls.scheme, host=urls.host),
        ],
        client_max_size=64 * 1024,
    )
    app[PUBLIC_URLS] = urls
    app[STORE] = store
    app[CONFIG] = config
    app[INDEX] = index
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_resources)
    app.on_response_prepare.append(add_security_headers)
    # The renderer is needed by route setup (static directory), so build it now.
    app[RENDERER] = Renderer()
    app[DIRECTORY] = SourceDirectory(store)

    r = app.router
    r.add_get("/", pages.river, name="river")
    r.add_get("/search", pages.search, name="search")
    r.add_get("/sources", pages.sources, name="sources")
    r.add_get("/sources.opml", api.opml, name="opml")
    r.add_get("/sources/{slug}", pages.source, name="source")
    r.add_get("/tags/{tag:.+}", pages.tag, name="tag")
    r.add_get("/feed.atom", api.feed_atom, name="feed_atom")
    r.add_get("/feed.json", api.feed_json, name="feed_json")
    r.add_get("/feed.rss", api.feed_rss, name="feed_rss")
    r.add_get("/embed", syndication.embed, name="embed")
    r.add_get("/share", syndication.share, name="share")
    r.add_get("/api/items", api.api_items, name="api_items")
    r.add_get("/api/sources", api.api_sources, name="api_sources")
    r.add_get("/healthz", api.healthz, name="healthz")
    r.add_get("/metrics", api.metrics, name="metrics")
    r.add_get("/favicon.ico", _favicon, name="favicon")
    r.add_get("/static/{path:.+}", static_files(app[RENDERER].static_dir), name="static")
    return app


def static_files(directory: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``/static/…``: the files that ship in ``web/static``, listed once, and nothing else.

    A lookup in a fixed list rather than a path joined to a directory: no traversal to
    think about, and no file-system error for whatever name a request makes up (aiohttp's
    own static handler answers a 500 to a name longer than the system allows).
    """
    files = {p.relative_to(directory).as_posix(): p for p in sorted(directory.rglob("*")) if p.is_file()}

    async def static(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["path"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    return static


async def _favicon(request: web.Request) -> web.StreamResponse:
    # Browsers ask for it whatever the page says; answer with the SVG icon, not a 404.
    return web.FileResponse(request.app[RENDERER].static_dir / "favicon.svg", headers={"Cache-Control": "public, max-age=86400"})


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """The worker threads that run store and index reads, shut down with the app.

    Sized like the PostgreSQL pool (5 + 5 overflow): more threads would only queue on it.
    """
    executor = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="web-read")
    app[EXECUTOR] = executor
    try:
        yield
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
