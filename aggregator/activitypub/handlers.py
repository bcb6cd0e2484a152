"""What each verified activity means for us. No aiohttp, no SQL: seams are Protocols.

* ``Follow`` of our actor: the follower is recorded (its inbox and shared inbox fetched
  through the directory) and a signed ``Accept`` is handed to ``send`` (phase 2: the
  outbox; tests: the transport directly). Follows are never held for approval.
* ``Undo(Follow)``, the actor's own ``Delete``: the follower is removed.
* ``Accept``/``Reject`` of our ``Follow``: the following state becomes accepted/rejected,
  only when the sender is the actor we followed.
* ``Create``/``Update``/``Delete``/``Announce`` from an actor we follow (pending or
  accepted: an Accept may arrive after the first posts): an :class:`IncomingPost` is handed
  to ``on_post``, which phase 2 connects to the decide-and-store path. A Create/Update
  whose object is attributed to somebody else is ignored (no impersonation by embedding).
* Anything else, or from anybody else: ignored, with a reason in the :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from .. import logs
from ..model import Clock, utcnow
from . import activities
from .documents import Document, Urls
from .inbox import Accepted
from .remote import RemoteActor, domain_of, id_of, origin_of

log = logs.get("aggregator.activitypub.handlers")

FollowingState = Literal["pending", "accepted", "rejected"]
PostAction = Literal["create", "update", "delete", "announce"]


class FollowerBook(Protocol):
    """Who follows our actors (``Store.ap_followers``)."""

    def add_follower(
        self, *, local_actor: str, actor_id: str, inbox: str, shared_inbox: str | None, follow_id: str
    ) -> bool:
        """Record (or refresh) a follower; True when it is new."""
        ...

    def remove_follower(self, *, local_actor: str, actor_id: str, follow_id: str | None = None) -> bool:
        """Remove a follower (only the one of ``follow_id`` when given); True when removed."""
        ...

    def remove_actor(self, actor_id: str) -> int:
        """Remove ``actor_id`` as a follower of every local actor (it deleted itself)."""
        ...

    def remove_domain(self, domain: str) -> int:
        """Remove every follower on ``domain`` or its subdomains (a domain block)."""
        ...


class FollowingBook(Protocol):
    """Whom our actors follow (``Store.ap_following``)."""

    def following_state(self, *, local_actor: str, remote_actor: str) -> str | None: ...

    def set_following_state(
        self, *, local_actor: str, remote_actor: str, state: str, follow_id: str | None = None
    ) -> bool:
        """Move an existing follow to ``state``; with ``follow_id``, only if it is that follow."""
        ...


class ActorDirectory(Protocol):
    async def actor(self, actor_id: str, *, refresh: bool = False) -> RemoteActor: ...


Send = Callable[[str, Document], Awaitable[None]]


@dataclass(frozen=True)
class IncomingPost:
    """A post of an actor we follow, as it arrived (HTML not yet sanitized)."""

    action: PostAction
    actor: str
    activity_id: str
    object_id: str
    received: datetime
    object: Mapping[str, Any] | None = None  # the embedded object, for create/update (and some announces)
    type: str | None = None  # Note, Article, Page...
    url: str | None = None
    name: str | None = None
    content: str = ""
    summary: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    tags: tuple[str, ...] = ()
    in_reply_to: str | None = None
    sensitive: bool = False


@dataclass(frozen=True)
class Outcome:
    """What handling did, for logs and tests."""

    action: str  # follower_added, follower_removed, following_accepted, following_rejected, post, ignored
    reason: str = ""
    post: IncomingPost | None = field(default=None, compare=False)


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _url(value: Any) -> str | None:
    """``url`` may be a string, a Link, or a list of either: the HTML one first."""
    items = value if isinstance(value, list) else [value]
    fallback = None
    for item in items:
        if isinstance(item, str) and item.startswith(("http://", "https://")):
            fallback = fallback or item
        elif isinstance(item, Mapping):
            href = item.get("href")
            if isinstance(href, str) and href.startswith(("http://", "https://")):
                if str(item.get("mediaType", "text/html")).startswith("text/html"):
                    return href
                fallback = fallback or href
    return fallback


def _language(obj: Mapping[str, Any]) -> str | None:
    content_map = obj.get("contentMap")
    if isinstance(content_map, Mapping):
        for key in content_map:
            if isinstance(key, str) and 0 < len(key) <= 20:
                return key
    return None


def _tags(obj: Mapping[str, Any]) -> tuple[str, ...]:
    tags = obj.get("tag")
    out = []
    for tag in tags if isinstance(tags, list) else [tags]:
        if isinstance(tag, Mapping) and tag.get("type") == "Hashtag" and isinstance(tag.get("name"), str):
            name = tag["name"].lstrip("#").strip()
            if name and name not in out:
                out.append(name)
    return tuple(out[:50])


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def incoming_post(action: PostAction, activity: Mapping[str, Any], actor: str, received: datetime) -> IncomingPost | None:
    """An :class:`IncomingPost` from a Create/Update/Delete/Announce, or None when unusable."""
    raw = activity.get("object")
    object_id = id_of(raw)
    if object_id is None:
        return None
    activity_id = str(activity.get("id"))
    if not isinstance(raw, Mapping):
        return IncomingPost(action=action, actor=actor, activity_id=activity_id, object_id=object_id, received=received,
                            published=_date(activity.get("published")))
    content = raw.get("content")
    if not isinstance(content, str):
        content_map = raw.get("contentMap")
        content = next((v for v in content_map.values() if isinstance(v, str)), "") if isinstance(content_map, Mapping) else ""
    return IncomingPost(
        action=action, actor=actor, activity_id=activity_id, object_id=object_id, received=received,
        object=raw, type=_text(raw.get("type")), url=_url(raw.get("url")) or (object_id if action != "delete" else None),
        name=_text(raw.get("name")), content=content, summary=_text(raw.get("summary")),
        published=_date(raw.get("published")) or _date(activity.get("published")), updated=_date(raw.get("updated")),
        language=_language(raw), tags=_tags(raw), in_reply_to=id_of(raw.get("inReplyTo")),
        sensitive=raw.get("sensitive") is True,
    )


class ActivityHandler:
    """Acts on verified activities for one local actor (the network actor)."""

    def __init__(
        self, *, urls: Urls, followers: FollowerBook, following: FollowingBook, directory: ActorDirectory,
        send: Send, on_post: Callable[[IncomingPost], Awaitable[None]], clock: Clock = utcnow,
    ):
        self.urls = urls
        self.local_actor = urls.actor
        self.followers = followers
        self.following = following
        self.directory = directory
        self.send = send
        self.on_post = on_post
        self.clock = clock

    async def handle(self, accepted: Accepted) -> Outcome:
        """Act on ``accepted``; RemoteError propagates when the follower's actor cannot be fetched."""
        if accepted.duplicate:
            return Outcome("ignored", "duplicate")
        activity, actor = accepted.activity, accepted.actor
        kind = accepted.type
        if kind == "Follow":
            outcome = await self._follow(activity, actor)
        elif kind == "Undo":
            outcome = self._undo(activity, actor)
        elif kind in ("Accept", "Reject"):
            outcome = self._answer(activity, actor, "accepted" if kind == "Accept" else "rejected")
        elif kind == "Delete" and id_of(activity.get("object")) == actor:
            removed = self.followers.remove_actor(actor)
            outcome = Outcome("follower_removed" if removed else "ignored", "actor_deleted")
        elif kind in ("Create", "Update", "Delete", "Announce"):
            outcome = await self._post(kind.lower(), activity, actor)  # type: ignore[arg-type]
        else:
            outcome = Outcome("ignored", f"type_{kind}")
        # What changed something is worth a line; the ignored traffic of a busy inbox is not.
        said = log.debug if outcome.action == "ignored" else log.info
        said("activitypub.inbox", type=kind, actor=actor, action=outcome.action, reason=outcome.reason)
        return outcome

    async def _follow(self, activity: Mapping[str, Any], actor: str) -> Outcome:
        if id_of(activity.get("object")) != self.local_actor:
            return Outcome("ignored", "not_our_actor")
        remote = await self.directory.actor(actor)
        new = self.followers.add_follower(
            local_actor=self.local_actor, actor_id=remote.id, inbox=remote.inbox,
            shared_inbox=remote.shared_inbox, follow_id=str(activity["id"]),
        )
        await self.send(remote.inbox, activities.accept(self.urls, activity))
        return Outcome("follower_added", "new" if new else "again")

    def _undo(self, activity: Mapping[str, Any], actor: str) -> Outcome:
        inner = activity.get("object")
        if isinstance(inner, Mapping):
            if inner.get("type") != "Follow":
                return Outcome("ignored", f"undo_{inner.get('type')}")
            if id_of(inner.get("object")) != self.local_actor or id_of(inner.get("actor")) != actor:
                return Outcome("ignored", "not_our_follow")
            removed = self.followers.remove_follower(local_actor=self.local_actor, actor_id=actor)
        else:  # a bare id: only the Follow we recorded under that id
            removed = self.followers.remove_follower(local_actor=self.local_actor, actor_id=actor, follow_id=id_of(inner))
        return Outcome("follower_removed" if removed else "ignored", "undo")

    def _answer(self, activity: Mapping[str, Any], actor: str, state: FollowingState) -> Outcome:
        inner = activity.get("object")
        follow_id = id_of(inner)
        if isinstance(inner, Mapping) and inner.get("type") not in (None, "Follow"):
            return Outcome("ignored", "not_a_follow")
        if follow_id is not None and not follow_id.startswith(self.urls.base + "/"):
            return Outcome("ignored", "not_our_follow")
        changed = self.following.set_following_state(
            local_actor=self.local_actor, remote_actor=actor, state=state, follow_id=follow_id
        )
        return Outcome(f"following_{state}" if changed else "ignored", "" if changed else "unknown_follow")

    async def _post(self, action: PostAction, activity: Mapping[str, Any], actor: str) -> Outcome:
        state = self.following.following_state(local_actor=self.local_actor, remote_actor=actor)
        if state not in ("pending", "accepted"):
            return Outcome("ignored", "not_followed")
        post = incoming_post(action, activity, actor, self.clock())
        if post is None:
            return Outcome("ignored", "no_object")
        if action in ("create", "update"):
            attributed = id_of(post.object.get("attributedTo")) if post.object is not None else None
            if post.object is None or attributed != actor:
                return Outcome("ignored", "not_attributed_to_actor")
        if action in ("create", "update", "delete") and origin_of(post.object_id) != origin_of(actor):
            return Outcome("ignored", "foreign_object")
        await self.on_post(post)
        return Outcome("post", action, post=post)


def purge_blocked(followers: FollowerBook, domains: Iterable[str]) -> int:
    """Drop the followers on blocked domains (run when the blocklist is loaded)."""
    return sum(followers.remove_domain(d) for d in {domain_of("https://" + d) or d for d in domains})
