"""A short-lived response cache ("micro-cache") for the public GET routes.

A news river changes when a crawl stores something, a few times a minute at most, while a
popular page may be asked for many times a second. Rendering each of those identically
costs a database read and a template render; keeping the rendered body for a few seconds
makes a burst of readers cost one render. The cache is per process (web replicas stay
stateless), bounded, keyed by path, query and interface language, and off when
``seconds`` is 0. Conditional requests are answered from the cached ETag.

A kept page must not depend on anything outside its key, or one reader's request (a forged
``Host``, a cookie) would decide what the next readers get. That is made structural here:

- only the routes named in ``ResponseCache.routes`` are kept (the public read routes that
  ``create_app`` lists; a route added later is never cached until it is listed);
- a miss is rendered from a request rebuilt from the key alone: the same path and query,
  ``Accept-Language`` set to the key's language, and nothing else of the reader's: no other
  header, no cookie, the public host and scheme (``PublicUrls``) instead of ``Host``, no
  client address. Whatever a handler reads, a kept page is a function of its key;
- an answer that sets a cookie or says it is private is never kept.

A route whose answer must depend on anything else (``Accept`` negotiation, a cookie, the
client) is simply not listed.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict

from .http import etag_matches
from .i18n import UI_PARAM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Key = tuple[str, str, str]  # raw path, raw query string, interface language
#: Routes that never set the ``ui`` cookie, so ``?ui=`` answers are public there.
COOKIELESS_PATHS = ("/embed",)


@dataclass(frozen=True)
class Cached:
    body: bytes
    headers: tuple[tuple[str, str], ...]
    expires: float


class ResponseCache:
    """Rendered answers by key, for ``seconds``; ``routes``: the route names that may be kept."""

    def __init__(self, seconds: float, max_entries: int = 512, clock: Callable[[], float] = time.monotonic,
                 routes: Iterable[str] = ()):
        self.seconds = seconds
        self.max_entries = max_entries
        self.clock = clock
        self.routes: set[str] = set(routes)
        self._items: OrderedDict[Key, Cached] = OrderedDict()
        #: Renders under way: concurrent misses of one key wait for the same render
        #: instead of all rendering it (an expired popular page would otherwise make
        #: every waiting reader pay for it at once).
        self.in_flight: dict[Key, asyncio.Future[Cached | None]] = {}

    def get(self, key: Key) -> Cached | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item.expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    def put(self, key: Key, response: web.Response) -> Cached:
        assert response.body is not None and isinstance(response.body, bytes)
        item = Cached(bytes(response.body), tuple(response.headers.items()), self.clock() + self.seconds)
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)
        return item


def keepable(response: web.StreamResponse) -> bool:
    """A complete public answer: a 200 with a body, no cookie set, not marked private."""
    control = response.headers.get("Cache-Control", "").lower()
    return (
        response.status == 200 and isinstance(response, web.Response) and isinstance(response.body, bytes)
        and not response.cookies and "Set-Cookie" not in response.headers
        and "private" not in control and "no-store" not in control
    )


def cache_middleware(
    cache: ResponseCache, locale_of: Callable[[web.Request], str], *, scheme: str = "http", host: str = "localhost",
) -> Middleware:
    """The middleware; ``locale_of`` gives the request's interface language (part of the key).

    Args:
        scheme, host: what a kept page is rendered with as the request's scheme and Host
            (the public ones, from ``PublicUrls``), whatever the reader sent.
    """

    def keyed(request: web.Request, locale: str) -> web.Request:
        # Everything the handler may read is in the key (see the module docstring).
        return request.clone(headers={"Accept-Language": locale}, scheme=scheme, host=host, remote="")

    @web.middleware
    async def micro_cache(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            cache.seconds <= 0
            or request.method != "GET"
            or request.match_info.route.name not in cache.routes
            or (UI_PARAM in request.query and request.path not in COOKIELESS_PATHS)  # answers set a cookie: personal
        ):
            return await handler(request)
        locale = locale_of(request)
        key = (request.rel_url.raw_path, request.rel_url.raw_query_string, locale)
        item = cache.get(key)
        if item is None and key in cache.in_flight:
            item = await asyncio.shield(cache.in_flight[key])
        if item is None:
            waiting: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
            cache.in_flight[key] = waiting
            try:
                # Render the full page (not a 304 for this one client), then keep it.
                response = await handler(keyed(request, locale))
                if keepable(response):
                    assert isinstance(response, web.Response)
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

