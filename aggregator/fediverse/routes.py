"""The HTTP side of our actor: discovery, documents, collections, and the inbox.

``setup(app, federation)`` adds the routes to the readers' web application (the factory calls
it from ``Aggregator.web_app()`` when the ``activitypub:`` section is present), so ``serve``
and ``run`` answer them. Every id of ``activitypub/documents.py``'s URL scheme dereferences
here. Documents are ``application/activity+json`` (``application/ld+json; profile=…`` when
that is what was asked for); a browser asking for HTML is sent to a page instead (the river
for the actor and collections, the original article for a Note). A deleted story's Note is a
``Tombstone`` with ``410 Gone``.

The inbox reads at most 1 MiB (and gives up on a body that trickles for 30 s), hands the
request to the verification pipeline (``activitypub/inbox.py``: every refusal is a 4xx with
a short reason, never a stack trace) and the verified activity to the handler. When the
handler cannot finish (the follower's actor cannot be fetched, the database is away) the
activity is forgotten by the replay guard and the sender told to come back (503), so its
retry is not mistaken for a replay.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .. import __version__, logs
from ..activitypub import activities, documents
from ..activitypub.documents import ACTIVITY_JSON, LD_JSON, NODEINFO_PROFILE, PAGE_SIZE
from ..activitypub.inbox import Accepted, InboxRequest
from ..errors import AggregatorError, InboxRejected, RemoteError
from ..model import SourceConfig, StoredEntry
from ..relay.activitypub import story_note
from ..shapes import safe_url
from .federation import Federation

log = logs.get("aggregator.fediverse.routes")

FEDERATION = web.AppKey("federation", Federation)
#: Stories shown on a new follower's profile at once (Mastodon fetches ``featured``).
FEATURED = 10
#: Seconds a sender may take to send an inbox body.
READ_TIMEOUT = 30.0
#: Activities that name a follower are not served to anyone (follower lists stay private).
_PRIVATE_KINDS = frozenset({"Accept"})


def setup(app: web.Application, federation: Federation) -> None:
    """Mount the routes of our actor on ``app``."""
    app[FEDERATION] = federation
    r = app.router
    r.add_get("/.well-known/webfinger", webfinger, name="ap_webfinger")
    r.add_get("/.well-known/nodeinfo", nodeinfo_links, name="ap_nodeinfo_links")
    r.add_get("/nodeinfo/2.1", nodeinfo, name="ap_nodeinfo")
    r.add_get("/ap/actor", actor, name="ap_actor")
    r.add_route("*", "/ap/inbox", inbox, name="ap_inbox")
    r.add_get("/ap/outbox", outbox, name="ap_outbox")
    r.add_get("/ap/followers", followers, name="ap_followers")
    r.add_get("/ap/following", following, name="ap_following")
    r.add_get("/ap/featured", featured, name="ap_featured")
    r.add_get(r"/ap/notes/{entry_id:\d{1,18}}", note, name="ap_note")
    r.add_get("/ap/activities/{tail:.+}", activity, name="ap_activity")


# -- content negotiation ----------------------------------------------------------------


def wants_html(request: web.Request) -> bool:
    """A browser: HTML asked for, and no ActivityStreams type. No Accept at all means JSON."""
    accept = request.headers.get("Accept", "").lower()
    if any(t in accept for t in ("application/activity+json", "application/ld+json", "application/json")):
        return False
    return "text/html" in accept


def as_document(request: web.Request, doc: Any, *, status: int = 200) -> web.Response:
    accept = request.headers.get("Accept", "").lower()
    content_type = LD_JSON if "application/ld+json" in accept and "application/activity+json" not in accept else ACTIVITY_JSON
    return web.Response(
        body=json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), status=status,
        headers={"Content-Type": content_type, "Vary": "Accept", "Cache-Control": "public, max-age=60",
                 "Access-Control-Allow-Origin": "*"},
    )


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers={"Cache-Control": "no-store", **(headers or {})})


# -- discovery ---------------------------------------------------------------------------


async def webfinger(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    resource = request.query.get("resource", "")
    if not resource or len(resource) > 1000:
        return _error(400, "resource= is required")
    doc = documents.webfinger(fed.urls, fed.profile.username, resource)
    if doc is None:
        return _error(404, "no such account here")
    return web.Response(body=json.dumps(doc).encode(), content_type="application/jrd+json",
                        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=3600"})


async def nodeinfo_links(request: web.Request) -> web.Response:
    return web.json_response(documents.nodeinfo_links(request.app[FEDERATION].urls),
                             headers={"Access-Control-Allow-Origin": "*"})


async def nodeinfo(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    posts = await asyncio.to_thread(fed.store.ap_deliveries.outbox_count, fed.urls.actor)
    doc = documents.nodeinfo(version=__version__, local_posts=posts, name=fed.profile.name)
    return web.Response(body=json.dumps(doc).encode(), headers={
        "Content-Type": f'application/json; profile="{NODEINFO_PROFILE}"', "Access-Control-Allow-Origin": "*"})


# -- documents ---------------------------------------------------------------------------


async def actor(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    if wants_html(request):
        raise web.HTTPFound(fed.urls.profile_page)
    return as_document(request, documents.actor(fed.urls, fed.profile, fed.keys.public_pem))


async def outbox(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    if wants_html(request):
        raise web.HTTPFound(fed.urls.profile_page)
    total = await asyncio.to_thread(fed.store.ap_deliveries.outbox_count, fed.urls.actor)
    raw = request.query.get("page")
    if raw is None:
        return as_document(request, activities.outbox(fed.urls, total))
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        return _error(400, "page= must be a number from 1")
    page = int(raw)
    items = await asyncio.to_thread(fed.store.ap_deliveries.outbox_page, fed.urls.actor,
                                    offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return as_document(request, activities.outbox_page(fed.urls, page, items, total=total))


async def followers(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    count = await asyncio.to_thread(fed.store.ap_followers.count, fed.urls.actor)
    return as_document(request, activities.followers(fed.urls, count))


async def following(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    rows = await asyncio.to_thread(fed.store.ap_following.all, fed.urls.actor)
    return as_document(request, activities.following(fed.urls, [r.remote_actor for r in rows if r.state == "accepted"]))


def _sources(fed: Federation) -> dict[str, SourceConfig]:
    return {s.slug: s for s in fed.store.sources.configs(include_unconfigured=True)}


def _featured_notes(fed: Federation) -> list[dict[str, Any]]:
    sources = _sources(fed)
    notes: list[dict[str, Any]] = []
    for entry in fed.store.entries.newest(stories_only=True, limit=FEATURED * 4, with_content=False):
        source = sources.get(entry.source)
        if source is not None and not source.relay:
            continue
        doc = story_note(fed.urls, entry, source, fed.config.relay)
        if doc is not None:
            notes.append(doc)
        if len(notes) >= FEATURED:
            break
    return notes


async def featured(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    if wants_html(request):
        raise web.HTTPFound(fed.urls.profile_page)
    return as_document(request, activities.featured(fed.urls, await asyncio.to_thread(_featured_notes, fed)))


def _entry_note(fed: Federation, entry_id: int) -> tuple[StoredEntry | None, dict[str, Any] | None]:
    entry = fed.store.entries.get_many([entry_id], with_content=False).get(entry_id)
    if entry is None or entry.deleted:
        return entry, None
    return entry, story_note(fed.urls, entry, _sources(fed).get(entry.source), fed.config.relay)


async def note(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    entry_id = int(request.match_info["entry_id"])
    entry, doc = await asyncio.to_thread(_entry_note, fed, entry_id)
    if entry is not None and entry.deleted:
        return as_document(request, activities.tombstone(fed.urls, entry_id), status=410)
    if doc is None:
        return _error(404, "no such note")
    if wants_html(request):
        raise web.HTTPFound(safe_url(doc.get("url")) or fed.urls.profile_page)
    return as_document(request, doc)


async def activity(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    doc = await asyncio.to_thread(fed.store.ap_deliveries.activity, fed.urls.base + request.path)
    if doc is None or doc.get("type") in _PRIVATE_KINDS:
        return _error(404, "no such activity")
    return as_document(request, doc)


# -- the inbox ---------------------------------------------------------------------------


async def _read_capped(request: web.Request, cap: int) -> bytes:
    body = bytearray()
    async with asyncio.timeout(READ_TIMEOUT):
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > cap:
                break
    return bytes(body)


async def inbox(request: web.Request) -> web.Response:
    fed = request.app[FEDERATION]
    try:
        fed.inbox.check_length(request.content_length)
        body = await _read_capped(request, fed.inbox.settings.max_body)
        accepted = await fed.inbox.receive(InboxRequest(
            method=request.method, url=fed.urls.base + request.path_qs, headers=list(request.headers.items()), body=body,
        ))
    except InboxRejected as exc:
        log.info("activitypub.inbox_refused", status=exc.status, reason=exc.reason, peer=request.remote)
        headers = {"Retry-After": str(int(exc.retry_after) + 1)} if exc.retry_after else None
        return _error(exc.status, exc.reason, headers)
    except TimeoutError:
        return _error(408, "body too slow")
    if accepted.duplicate:
        return web.Response(status=202)
    try:
        await fed.handler.handle(accepted)
    except (RemoteError, AggregatorError) as exc:
        await _forget(fed, accepted)
        log.warning("activitypub.inbox_failed", type=accepted.type, actor=accepted.actor, error=str(exc))
        if isinstance(exc, RemoteError) and exc.permanent:
            return _error(400, "cannot act on this activity")
        return _error(503, "try again later", {"Retry-After": "60"})
    return web.Response(status=202)


async def _forget(fed: Federation, accepted: Accepted) -> None:
    try:
        await asyncio.to_thread(fed.inbox.forget, accepted)
    except AggregatorError as exc:  # the database is away: the retry will be a "replay" for a while
        log.warning("activitypub.forget_failed", error=str(exc))
