"""Posts pushed by the actors we follow become items, through the one write path.

The handler (``activitypub/handlers.py``) has already checked that the activity is signed by
its actor and that we follow that actor; here it meets the ``activitypub`` source that asked
for the follow, and goes where every crawled item goes: ``parse/activitypub.py`` (sanitized,
public posts only) and ``update.ingest`` (enriched, decided, deduplicated into stories,
queued for the relay by its rules). A ``Delete`` withdraws the item (``update.ingest.withdraw``).

Two things keep federation from looping: an object on our own origin is never taken in (a
follower announcing one of our Notes back to us), and a followed actor's boost of a post
becomes a "repost" item the relay boosts in turn (never a copy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .. import logs
from ..activitypub.documents import Urls
from ..activitypub.handlers import IncomingPost
from ..activitypub.remote import origin_of
from ..errors import RemoteError
from ..model import Clock, SourceConfig, utcnow
from ..parse.activitypub import parse_activitypub_object
from ..update.ingest import RelayPolicy, ingest, withdraw
from .ports import FederationStore

log = logs.get("aggregator.fediverse.incoming")

FetchObject = Callable[[str], Awaitable[Mapping[str, Any]]]


class IncomingPosts:
    """``ActivityHandler``'s ``on_post``: one pushed post into the store."""

    def __init__(
        self, *, urls: Urls, store: FederationStore, sources: Mapping[str, SourceConfig], policy: RelayPolicy,
        fetch_object: FetchObject, clock: Clock = utcnow,
    ):
        self.urls = urls
        self.store = store
        self.sources = {slug: s for slug, s in sources.items() if s.kind == "activitypub"}
        self.policy = policy
        self.fetch_object = fetch_object
        self.clock = clock

    async def __call__(self, post: IncomingPost) -> None:
        source = await asyncio.to_thread(self._source_of, post.actor)
        if source is None:
            log.info("fediverse.post_ignored", actor=post.actor, reason="no configured source follows this actor")
            return
        if self.urls.is_local(post.object_id):
            log.info("fediverse.post_ignored", actor=post.actor, reason="our own object")
            return
        now = self.clock()
        if post.action == "delete":
            removed = await asyncio.to_thread(withdraw, self.store, source, [post.object_id], now=now, policy=self.policy)
            log.info("fediverse.post_deleted", source=source.slug, object=post.object_id, removed=removed)
            return
        obj: Mapping[str, Any] | None = post.object
        boost: Mapping[str, Any] | None = None
        if post.action == "announce":
            boost = {"id": post.activity_id, "published": _iso(post)}
            # An embedded copy is believed only from the booster's own origin; anything
            # else is fetched from where it lives (a boost can embed a forged object).
            if obj is None or origin_of(post.object_id) != origin_of(post.actor):
                try:
                    obj = await self.fetch_object(post.object_id)  # signed GET, through the SSRF guard
                except RemoteError as exc:
                    log.info("fediverse.post_ignored", actor=post.actor, object=post.object_id, reason=f"cannot fetch: {exc}")
                    return
        if obj is None:
            return
        entry = parse_activitypub_object(obj, boost=boost)
        if entry is None:
            log.info("fediverse.post_ignored", actor=post.actor, object=post.object_id, reason="not a public post")
            return
        done = await asyncio.to_thread(ingest, self.store, source, [entry], now=now, policy=self.policy)
        log.info("fediverse.post", source=source.slug, action=post.action, object=post.object_id,
                 new=done.new, updated=done.updated)

    def _source_of(self, actor: str) -> SourceConfig | None:
        record = self.store.ap_following.get(local_actor=self.urls.actor, remote_actor=actor)
        if record is None or record.source is None:
            return None
        return self.sources.get(record.source)


def _iso(post: IncomingPost) -> str:
    when = post.published or post.received
    return when.isoformat().replace("+00:00", "Z")
