"""The feed generator's routes on the readers' web application (mounted by the factory).

- ``GET /.well-known/did.json``: the did:web document with the ``#bsky_fg`` service;
- ``GET /xrpc/app.bsky.feed.describeFeedGenerator``;
- ``GET /xrpc/app.bsky.feed.getFeedSkeleton``.

Errors are XRPC's ``{"error": NAME, "message": TEXT}`` with their status, returned (not
raised) so that the web app's HTML error pages never answer an AppView. Store reads run
in the app's reader threads, as the pages' do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import logs
from ..errors import AggregatorError, FeedRequestError
from ..webapp.context import in_thread
from .auth import ServiceAuth
from .identity import did_document
from .ports import FeedStore
from .skeleton import FeedGenerator

log = logs.get("aggregator.feedgen")

DESCRIBE = "app.bsky.feed.describeFeedGenerator"
SKELETON = "app.bsky.feed.getFeedSkeleton"
#: A skeleton may lag the store this long in shared caches (the AppView does not cache it).
SKELETON_MAX_AGE = 10


@dataclass(frozen=True)
class FeedRoutes:
    generator: FeedGenerator
    base_url: str
    store: FeedStore
    auth: ServiceAuth

    async def did_json(self, request: web.Request) -> web.Response:
        body = did_document(self.generator.did, self.base_url)
        return web.json_response(body, headers={"Cache-Control": "public, max-age=300"})

    async def describe(self, request: web.Request) -> web.Response:
        try:
            published = await in_thread(request, self.generator.published, self.store.bluesky_feed)
        except AggregatorError as exc:
            return _unavailable(exc)
        return web.json_response(self.generator.describe(published), headers={"Cache-Control": "public, max-age=60"})

    async def skeleton(self, request: web.Request) -> web.Response:
        try:
            await self.auth.verify(request.headers.get("Authorization"), SKELETON)
            answer = await in_thread(request, self.generator.skeleton, self.store.bluesky_feed, dict(request.query))
        except FeedRequestError as exc:
            return _error(exc)
        except AggregatorError as exc:
            return _unavailable(exc)
        return web.json_response(answer, headers={"Cache-Control": f"public, max-age={SKELETON_MAX_AGE}"})


async def not_implemented(request: web.Request) -> web.Response:
    """Any other XRPC method: XRPC's answer, in JSON (never the readers' HTML 404 page)."""
    return web.json_response({"error": "MethodNotImplemented", "message": f"{request.match_info['method']} is not served here"},
                             status=501, headers={"Cache-Control": "no-store"})


def _error(exc: FeedRequestError) -> web.Response:
    body: dict[str, Any] = {"error": exc.name, "message": exc.message}
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="feed"'
    return web.json_response(body, status=exc.status, headers=headers)


def _unavailable(exc: AggregatorError) -> web.Response:
    log.warning("feedgen.unavailable", error=str(exc))
    return web.json_response({"error": "InternalServerError", "message": "temporarily unavailable"}, status=503,
                             headers={"Retry-After": "30", "Cache-Control": "no-store"})


#: The mounted routes, kept on the app (what they hold is inspectable in tests).
FEED_ROUTES = web.AppKey("feed_routes", FeedRoutes)


def setup(app: web.Application, routes: FeedRoutes) -> None:
    """Mount the routes on the readers' app (``Aggregator.web_app``)."""
    app[FEED_ROUTES] = routes
    r = app.router
    r.add_get("/.well-known/did.json", routes.did_json, name="feedgen_did")
    r.add_get(f"/xrpc/{DESCRIBE}", routes.describe, name="feedgen_describe")
    r.add_get(f"/xrpc/{SKELETON}", routes.skeleton, name="feedgen_skeleton")
    r.add_route("*", "/xrpc/{method}", not_implemented, name="feedgen_other")
