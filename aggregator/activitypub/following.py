"""Whom our actor follows: the ``activitypub`` sources, kept in step with ``sources.yaml``.

:meth:`Follows.ensure` is what ``crawl`` and ``run`` do for such a source instead of a
fetch: find the actor (its URL, or ``@user@host`` through WebFinger), and send our
``Follow`` when there is none yet: recorded ``pending`` first, then POSTed at once; a
failed POST is queued for the fan-out's retries. A follow still ``pending`` after a day is
sent again (same id: servers that lost it accept it, the others ignore it), which keeps
follows from staying "awaiting approval" forever. A ``rejected`` follow is left alone.

:meth:`Follows.prune` sends ``Undo(Follow)`` for follows whose source left the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from .. import logs
from ..errors import PermanentRemoteError, RemoteError
from ..model import Clock, utcnow
from . import activities
from .documents import ACTIVITY_JSON, Urls
from .remote import RemoteActor, origin_of

log = logs.get("aggregator.activitypub.following")

FetchJson = Callable[[str], Awaitable[Mapping[str, Any]]]
_ACCOUNT = re.compile(r"^@?([^@\s]+)@([^@\s/]+)$")
#: The link types WebFinger may give for an actor document.
_AP_TYPES = (ACTIVITY_JSON, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"')


class FollowRecord(Protocol):
    @property
    def remote_actor(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def follow_id(self) -> str: ...
    @property
    def inbox(self) -> str | None: ...
    @property
    def updated(self) -> datetime: ...


class FollowRecords(Protocol):
    """``Store.ap_following``."""

    def follow(self, *, local_actor: str, remote_actor: str, follow_id: str, inbox: str | None = None,
               source: str | None = None) -> object: ...

    def get(self, *, local_actor: str, remote_actor: str) -> FollowRecord | None: ...

    def unfollow(self, *, local_actor: str, remote_actor: str) -> object: ...

    def all(self, local_actor: str | None = None) -> Sequence[FollowRecord]: ...

    def touch(self, *, local_actor: str, remote_actor: str) -> None: ...


class Publisher(Protocol):
    """``Store.ap_deliveries.publish``."""

    def publish(self, *, local_actor: str, activity: Mapping[str, Any], entry_id: int | None = None,
                public: bool = True, inboxes: Sequence[str] = (),
                not_before: Mapping[str, datetime] | None = None) -> int: ...


class Actors(Protocol):
    async def actor(self, actor_id: str, *, refresh: bool = False) -> RemoteActor: ...


class Poster(Protocol):
    async def post(self, inbox: str, activity: Mapping[str, Any]) -> object: ...


def webfinger_url(account: str, origin: str | None = None) -> tuple[str, str]:
    """``(resource, url)`` of the WebFinger look-up of ``@user@host`` (at ``origin`` when given)."""
    match = _ACCOUNT.match(account.strip())
    if match is None:
        raise PermanentRemoteError(f"not an account of the form @user@host: {account!r}")
    resource = f"acct:{match.group(1)}@{match.group(2)}"
    base = origin or f"https://{match.group(2)}"
    return resource, f"{base}/.well-known/webfinger?resource={quote(resource, safe=':@')}"


def actor_from_jrd(jrd: Mapping[str, Any], resource: str) -> str:
    """The actor URL a WebFinger answer links to (``rel=self``, an ActivityPub type)."""
    links = jrd.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("rel") == "self" and link.get("type") in _AP_TYPES:
            href = link.get("href")
            if isinstance(href, str) and href.startswith(("http://", "https://")):
                return href
    raise PermanentRemoteError(f"WebFinger has no ActivityPub actor for {resource}")


class Follows:
    """Sends and withdraws our actor's Follows (see the module docstring)."""

    def __init__(
        self, *, urls: Urls, records: FollowRecords, publisher: Publisher, actors: Actors, fetch_json: FetchJson,
        poster: Poster, on_queued: Callable[[], None] | None = None, clock: Clock = utcnow,
        resend_after: timedelta = timedelta(days=1),
    ):
        self.urls = urls
        self.records = records
        self.publisher = publisher
        self.actors = actors
        self.fetch_json = fetch_json
        self.poster = poster
        self.on_queued = on_queued
        self.clock = clock
        self.resend_after = resend_after

    @property
    def local_actor(self) -> str:
        return self.urls.actor

    async def resolve(self, *, actor: str | None, account: str | None, url: str | None = None) -> RemoteActor:
        """The actor of a source: its URL, or its ``@user@host`` through WebFinger.

        ``url`` (optional, as for Mastodon sources) is where WebFinger is asked when the
        account's host does not answer it itself.
        """
        if actor is None:
            if account is None:
                raise PermanentRemoteError("an activitypub source needs actor: or account:")
            resource, lookup = webfinger_url(account, origin_of(url) if url else None)
            actor = actor_from_jrd(await self.fetch_json(lookup), resource)
        return await self.actors.actor(actor)

    async def ensure(self, slug: str, *, actor: str | None, account: str | None, url: str | None = None) -> tuple[str, str]:
        """Follow the source's actor unless we do; ``(actor id, state)``.

        An ``account:`` is looked up through WebFinger every time (a moved account follows
        its new actor); an ``actor:`` URL is used as it is.
        """
        actor_id = actor
        record = self.records.get(local_actor=self.local_actor, remote_actor=actor_id) if actor_id else None
        if record is None:
            remote = await self.resolve(actor=actor, account=account, url=url)
            actor_id = remote.id
            record = self.records.get(local_actor=self.local_actor, remote_actor=actor_id)
            if record is None:
                nonce = self.clock().strftime("%Y%m%dT%H%M%S")
                follow = activities.follow(self.urls, remote.id, nonce=nonce)
                self.records.follow(local_actor=self.local_actor, remote_actor=remote.id, follow_id=str(follow["id"]),
                                    inbox=remote.inbox, source=slug)
                await self._send(remote.inbox, follow)
                log.info("activitypub.follow", source=slug, actor=remote.id)
                return remote.id, "pending"
        assert actor_id is not None
        if record.state == "pending" and self.clock() - record.updated >= self.resend_after and record.inbox:
            follow = activities.follow(self.urls, actor_id)
            follow["id"] = record.follow_id
            self.records.touch(local_actor=self.local_actor, remote_actor=actor_id)
            await self._send(record.inbox, follow)
            log.info("activitypub.follow_again", source=slug, actor=actor_id)
        return actor_id, record.state

    async def recent_posts(self, actor_id: str, *, limit: int = 20) -> list[Mapping[str, Any]]:
        """The objects of the actor's latest ``Create`` activities, from its outbox (best effort).

        Read at each crawl of the source: the posts published before our Follow (a new
        source is not empty), and any push we missed. Only objects on the actor's own origin
        and attributed to it are kept (an outbox can embed anything); boosts are left to the
        pushes. Errors give an empty list: the follow is what matters.
        """
        try:
            actor_doc = await self.fetch_json(actor_id)
            outbox = actor_doc.get("outbox")
            if not isinstance(outbox, str) or origin_of(outbox) != origin_of(actor_id):
                return []
            collection = await self.fetch_json(outbox)
            page: Any = collection.get("first")
            if isinstance(page, str):
                if origin_of(page) != origin_of(actor_id):
                    return []
                page = await self.fetch_json(page)
            items = page.get("orderedItems") if isinstance(page, Mapping) else collection.get("orderedItems")
        except RemoteError as exc:
            log.info("activitypub.outbox_unreadable", actor=actor_id, error=str(exc))
            return []
        posts: list[Mapping[str, Any]] = []
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping) or item.get("type") != "Create":
                continue
            obj = item.get("object")
            if isinstance(obj, Mapping) and isinstance(obj.get("id"), str) and origin_of(obj["id"]) == origin_of(actor_id) \
                    and _id(obj.get("attributedTo")) == actor_id:
                posts.append(obj)
            if len(posts) >= limit:
                break
        return posts

    async def prune(self, configured: Mapping[str, str | None]) -> int:
        """Undo the follows of sources no longer configured; ``configured``: slug -> actor URL (or None).

        A source whose ``actor:`` changed loses its follow of the old actor too.
        """
        undone = 0
        for record in self.records.all(self.local_actor):
            if record.source is None:
                continue
            wanted = configured.get(record.source, "")
            if record.source in configured and (wanted is None or wanted == record.remote_actor):
                continue
            inbox = record.inbox or (await self.actors.actor(record.remote_actor)).inbox
            undo = activities.undo_follow(self.urls, record.remote_actor, record.follow_id)
            self.records.unfollow(local_actor=self.local_actor, remote_actor=record.remote_actor)
            await self._send(inbox, undo)
            log.info("activitypub.unfollow", source=record.source, actor=record.remote_actor)
            undone += 1
        return undone

    async def _send(self, inbox: str, activity: dict[str, Any]) -> None:
        """Keep the activity, POST it now; a temporary failure leaves it to the fan-out's retries."""
        self.publisher.publish(local_actor=self.local_actor, activity=activity, public=False)
        try:
            await self.poster.post(inbox, activity)
        except RemoteError as exc:
            if exc.permanent:
                raise
            self.publisher.publish(local_actor=self.local_actor, activity=activity, public=False, inboxes=[inbox])
            if self.on_queued is not None:
                self.on_queued()
            log.info("activitypub.follow_queued", inbox=inbox, error=str(exc))


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None
