"""A minimal aiohttp app assembled from the activitypub package, for the loopback tests.

Phase 2 builds the real routes in the web layer; this one only wires what the tests need:
the actor, WebFinger, the inbox (verification pipeline + handlers), followers, following,
notes and our activities.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aggregator.activitypub import activities, documents
from aggregator.activitypub.documents import ActorProfile, Urls
from aggregator.activitypub.handlers import ActivityHandler, IncomingPost, Outcome
from aggregator.activitypub.inbox import (
    Accepted,
    DomainBlocklist,
    Inbox,
    InboxRequest,
    InboxSettings,
    RateLimiter,
    StoredReplayGuard,
)
from aggregator.activitypub.keys import actor_keypair
from aggregator.activitypub.remote import Directory
from aggregator.activitypub.transport import Signer, Transport, make_session
from aggregator.errors import InboxRejected
from aggregator.store import Store
from tests.conftest import free_port

AP_JSON = "application/activity+json"


def ap_response(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), status=status, content_type=AP_JSON)


@dataclass
class ApServer:
    """Our actor on http://127.0.0.1:PORT, its store, transport and what its inbox saw."""

    urls: Urls
    store: Store
    transport: Transport
    inbox: Inbox
    handler: ActivityHandler
    directory: Directory
    posts: list[IncomingPost] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)  # (status, reason) of every POST
    raw: list[tuple[list[tuple[str, str]], bytes]] = field(default_factory=list)  # every POST as received
    profile: ActorProfile = field(default_factory=lambda: ActorProfile(username="relay", name="Test relay"))

    @property
    def actor(self) -> str:
        return self.urls.actor


async def _read_capped(request: web.Request, cap: int) -> bytes:
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > cap:
            break
    return bytes(body)


def make_app(server: ApServer, public_pem: str) -> web.Application:
    urls = server.urls

    async def actor(_: web.Request) -> web.Response:
        return ap_response(documents.actor(urls, server.profile, public_pem))

    async def webfinger(request: web.Request) -> web.Response:
        doc = documents.webfinger(urls, server.profile.username, request.query.get("resource", ""))
        if doc is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.Response(body=json.dumps(doc).encode(), content_type="application/jrd+json")

    async def inbox(request: web.Request) -> web.Response:
        try:
            server.inbox.check_length(request.content_length)
            body = await _read_capped(request, server.inbox.settings.max_body)
            server.raw.append((list(request.headers.items()), body))
            accepted: Accepted = await server.inbox.receive(InboxRequest(
                method=request.method, url=urls.base + request.path_qs, headers=list(request.headers.items()), body=body,
            ))
        except InboxRejected as exc:
            server.answers.append((exc.status, exc.reason))
            headers = {"Retry-After": str(int(exc.retry_after) + 1)} if exc.retry_after else None
            return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
        server.answers.append((202, "duplicate" if accepted.duplicate else accepted.type))
        server.outcomes.append(await server.handler.handle(accepted))
        return web.Response(status=202)

    async def followers(_: web.Request) -> web.Response:
        return ap_response(activities.followers(urls, server.store.ap_followers.count(urls.actor)))

    async def following(_: web.Request) -> web.Response:
        rows = server.store.ap_following.all(urls.actor)
        return ap_response(activities.following(urls, [r.remote_actor for r in rows if r.state == "accepted"]))

    async def activity(request: web.Request) -> web.Response:
        doc = server.store.ap_deliveries.activity(urls.base + request.path)
        return ap_response(doc) if doc is not None else web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.router.add_get("/ap/actor", actor)
    app.router.add_get("/.well-known/webfinger", webfinger)
    app.router.add_route("*", "/ap/inbox", inbox)
    app.router.add_get("/ap/followers", followers)
    app.router.add_get("/ap/following", following)
    app.router.add_get("/ap/activities/{tail:.+}", activity)
    return app


@asynccontextmanager
async def running_server(store: Store, *, blocked: tuple[str, ...] = (), settings: InboxSettings | None = None) -> AsyncIterator[ApServer]:
    port = free_port()
    urls = Urls.from_base(f"http://127.0.0.1:{port}")
    keys = actor_keypair(store.ap_keys, urls.actor)
    session = make_session(allow_private=True, user_agent="aggregator-tests/1.0", timeout=15)
    transport = Transport(session, Signer(urls.key_id, keys.private_key()), allow_private=True)
    directory = Directory(transport.get)
    settings = settings or InboxSettings()
    inbox = Inbox(resolver=directory, replay=StoredReplayGuard(store.ap_seen), limiter=RateLimiter(settings.rate, settings.burst),
                  blocked=DomainBlocklist(blocked), settings=settings)
    posts: list[IncomingPost] = []

    async def send(target: str, doc: documents.Document) -> None:
        store.ap_deliveries.publish(local_actor=urls.actor, activity=doc, public=False)
        await transport.post(target, doc)

    async def on_post(post: IncomingPost) -> None:
        posts.append(post)

    handler = ActivityHandler(urls=urls, followers=store.ap_followers, following=store.ap_following,
                              directory=directory, send=send, on_post=on_post)
    server = ApServer(urls=urls, store=store, transport=transport, inbox=inbox, handler=handler,
                      directory=directory, posts=posts)
    runner = web.AppRunner(make_app(server, keys.public_pem))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()
        await session.close()
