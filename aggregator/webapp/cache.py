"""A short-lived response cache ("micro-cache") for the public GET routes.

A news river changes when a crawl stores something, a few times a minute at most, while a
popular page may be asked for many times a second. Rendering each of those identically
costs a database read and a template render; keeping the rendered body for a few seconds
makes a burst of readers cost one render. The cache is per process (web replicas stay
stateless), bounded, keyed by path, query and interface language, and off when
``seconds`` is 0. Conditional requests are answered from the cached ETag.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from .http import etag_matches
from .i18n import UI_PARAM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Routes that must always tell the truth now, or that are files already.
UNCACHED_PREFIXES = ("/healthz", "/metrics", "/static/", "/favicon.ico")
CONDITIONAL_HEADERS = ("If-None-Match", "If-Modified-Since")


@dataclass(frozen=True)
class Cached:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    expires: float


class ResponseCache:
    def __init__(self, seconds: float, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.max_entries = max_entries
        self.clock = clock
        self._items: OrderedDict[tuple[str, str, str], Cached] = OrderedDict()
        #: Renders under way: concurrent misses of one key wait for the same render
        #: instead of all rendering it (an expired popular page would otherwise make
        #: every waiting reader pay for it at once).
        self.in_flight: dict[tuple[str, str, str], asyncio.Future[Cached | None]] = {}

    def get(self, key: tuple[str, str, str]) -> Cached | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item.expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def put(self, key: tuple[str, str, str], response: web.Response) -> Cached:
        assert response.body is not None and isinstance(response.body, bytes)
        item = Cached(bytes(response.body), tuple(response.headers.items()), self.clock() + self.seconds)
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return item


def cache_middleware(cache: ResponseCache, locale_of: Callable[[web.Request], str]) -> Middleware:
    """The middleware; ``locale_of`` gives the request's interface language (part of the key)."""

    @web.middleware
    async def micro_cache(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            cache.seconds <= 0
            or request.method != "GET"
            or request.path.startswith(UNCACHED_PREFIXES)
            or UI_PARAM in request.query  # answers set a cookie: personal
            # A credentialed request is checked every time (RFC 9111 3.5: never shared):
            # a cached answer would skip the check (the feed generator's service JWT).
            or "Authorization" in request.headers
        ):
            return await handler(request)
        key = (request.path, request.query_string, locale_of(request))
        item = cache.get(key)
        if item is None and key in cache.in_flight:
            item = await asyncio.shield(cache.in_flight[key])
        if item is None:
            waiting: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
            cache.in_flight[key] = waiting
            try:
                # Render the full page (not a 304 for this one client), then keep it.
                plain = CIMultiDict((k, v) for k, v in request.headers.items() if k not in CONDITIONAL_HEADERS)
                response = await handler(request.clone(headers=plain))
                if response.status == 200 and isinstance(response, web.Response) and isinstance(response.body, bytes):
                    item = cache.put(key, response)
            finally:
                del cache.in_flight[key]
                waiting.set_result(item)  # None: the waiters render for themselves
            if item is None:
                return response
        headers = CIMultiDict(item.headers)
        inm = request.headers.get("If-None-Match")
        if inm is not None and etag_matches(inm, headers.get("ETag", "")):
            headers.pop("Content-Type", None)
            headers.pop("Content-Length", None)
            return web.Response(status=304, headers=headers)
        headers.pop("Content-Length", None)
        return web.Response(body=item.body, status=200, headers=headers)

    return micro_cache
