"""The JSON-LD documents of our actor, built from the public base URL. Pure: no I/O.

URL scheme (every id dereferences; ``BASE`` is ``AGGREGATOR_BASE_URL`` without a trailing
slash, the one spelling of our origin used everywhere):

====================================================  =========================================
``BASE/ap/actor``                                      the network actor (``Service``)
``BASE/ap/actor#main-key``                             its public key (``publicKey.id``)
``BASE/ap/inbox``                                      its inbox, also ``endpoints.sharedInbox``
``BASE/ap/outbox`` and ``?page=N`` (N >= 1)            OrderedCollection / pages, newest first
``BASE/ap/followers``                                  count only: follower lists stay private
``BASE/ap/following``                                  the actors we follow
``BASE/ap/featured``                                   the latest stories, as Notes
``BASE/ap/notes/{entry_id}``                           the Note of a story's primary entry
``BASE/ap/activities/create/{entry_id}``               its Create
``BASE/ap/activities/update/{entry_id}/{version}``     an Update (version: Unix seconds of the edit)
``BASE/ap/activities/delete/{entry_id}``               its Delete (object: a Tombstone)
``BASE/ap/activities/announce/{entry_id}``             the Announce of a source's own post
``BASE/ap/activities/follow/{token}``                  our Follow of a remote actor
``BASE/ap/activities/undo/{token}``                    the Undo of that Follow
``BASE/ap/activities/accept/{token}``                  our Accept of a remote Follow
``BASE/.well-known/webfinger?resource=...``            ``acct:USERNAME@HOST`` or the actor URL
``BASE/.well-known/nodeinfo``, ``BASE/nodeinfo/2.1``   NodeInfo discovery and document
``BASE/tags/{tag}``                                    hashtag links (the web's tag pages)
====================================================  =========================================

``token`` is :func:`token` of the remote actor (follow; plus a nonce for a re-follow), of our
Follow's id (undo) or of the remote Follow's id (accept): stable, so a retried Accept or Follow carries the same id. ``/ap/sources/{slug}``
is reserved for the optional per-source actors.

Rendering follows Mastodon's rules: stories are ``Note`` (Mastodon shows a Note as a normal
post with a link card, an ``Article`` as a bare title and link), addressed to the public with
the followers in ``cc``; the language goes in ``contentMap``; hashtags are ``Hashtag`` tags
whose ``href`` is our tag page. ``@context`` only names contexts every implementation ships
(ActivityStreams, security/v1) plus inline terms, so no receiver has to fetch a context.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from yarl import URL

from ..model import to_iso

AS_PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ACTIVITY_JSON = "application/activity+json"
LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.1"
NODEINFO_PROFILE = "http://nodeinfo.diaspora.software/ns/schema/2.1#"
CONTEXT: list[Any] = [
    "https://www.w3.org/ns/activitystreams",
    "https://w3id.org/security/v1",
    {
        "manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
        "sensitive": "as:sensitive",
        "Hashtag": "as:Hashtag",
        "toot": "http://joinmastodon.org/ns#",
        "featured": {"@id": "toot:featured", "@type": "@id"},
        "discoverable": "toot:discoverable",
        "indexable": "toot:indexable",
        "schema": "http://schema.org#",
        "PropertyValue": "schema:PropertyValue",
        "value": "schema:value",
    },
]
PAGE_SIZE = 20
_TAG_BODY = re.compile(r"\W+", re.UNICODE)

Document = dict[str, Any]


def token(text: str) -> str:
    """A stable, URL-safe id part derived from ``text`` (32 hex characters)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Urls:
    """Every URL of our actor, from the public base URL (see the module docstring)."""

    base: str

    @classmethod
    def from_base(cls, base_url: str) -> Urls:
        """Validate and normalise ``AGGREGATOR_BASE_URL`` (http(s), a host, no query)."""
        url = URL(base_url.strip())
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise ValueError(f"the public base URL must be an http(s) URL with a host, not {base_url!r}")
        if url.raw_query_string or url.raw_fragment:
            raise ValueError(f"the public base URL takes no query or fragment: {base_url!r}")
        return cls(str(url.with_path(url.raw_path.rstrip("/"), encoded=True)).rstrip("/"))

    @property
    def host(self) -> str:
        """The host as WebFinger names it: with the port when the base URL has one."""
        url = URL(self.base)
        host = (url.raw_host or "").lower()
        return f"{host}:{url.explicit_port}" if url.explicit_port is not None else host

    @property
    def actor(self) -> str:
        return f"{self.base}/ap/actor"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.base}/ap/inbox"

    @property
    def shared_inbox(self) -> str:
        return self.inbox

    @property
    def outbox(self) -> str:
        return f"{self.base}/ap/outbox"

    @property
    def followers(self) -> str:
        return f"{self.base}/ap/followers"

    @property
    def following(self) -> str:
        return f"{self.base}/ap/following"

    @property
    def featured(self) -> str:
        return f"{self.base}/ap/featured"

    @property
    def profile_page(self) -> str:
        return f"{self.base}/"

    @property
    def nodeinfo(self) -> str:
        return f"{self.base}/nodeinfo/2.1"

    def outbox_page(self, page: int) -> str:
        return f"{self.outbox}?page={page}"

    def note(self, entry_id: int) -> str:
        return f"{self.base}/ap/notes/{entry_id}"

    def activity(self, kind: str, *parts: str | int) -> str:
        return f"{self.base}/ap/activities/{kind}/" + "/".join(str(p) for p in parts)

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{quote(name, safe='')}"

    def is_local(self, url: str) -> bool:
        return url == self.base or url.startswith(self.base + "/")


@dataclass(frozen=True)
class ActorProfile:
    """What the operator says about the actor (``activitypub:`` in ``sources.yaml``)."""

    username: str = "relay"
    name: str = "Aggregator relay"
    summary: str = ""  # plain text; escaped into HTML paragraphs
    icon_url: str | None = None
    icon_media_type: str | None = None
    website: str | None = None  # shown as a profile field
    published: datetime | None = None


def _paragraphs(text: str) -> str:
    parts = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in parts)


def actor(urls: Urls, profile: ActorProfile, public_key_pem: str) -> Document:
    """The ``Service`` actor: a bot that anyone may follow without approval."""
    doc: Document = {
        "@context": CONTEXT,
        "id": urls.actor,
        "type": "Service",
        "preferredUsername": profile.username,
        "name": profile.name,
        "summary": _paragraphs(profile.summary),
        "url": urls.profile_page,
        "inbox": urls.inbox,
        "outbox": urls.outbox,
        "followers": urls.followers,
        "following": urls.following,
        "featured": urls.featured,
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "manuallyApprovesFollowers": False,
        "discoverable": True,
        "indexable": True,
        "publicKey": {"id": urls.key_id, "owner": urls.actor, "publicKeyPem": public_key_pem},
    }
    if profile.published is not None:
        doc["published"] = to_iso(profile.published)
    if profile.icon_url:
        icon: Document = {"type": "Image", "url": profile.icon_url}
        if profile.icon_media_type:
            icon["mediaType"] = profile.icon_media_type
        doc["icon"] = icon
    if profile.website:
        link = html.escape(profile.website, quote=True)
        doc["attachment"] = [{
            "type": "PropertyValue", "name": "Website",
            "value": f'<a href="{link}" rel="me nofollow noopener" target="_blank">{html.escape(profile.website)}</a>',
        }]
    return doc


# ---- discovery -------------------------------------------------------------------------------


def webfinger(urls: Urls, username: str, resource: str) -> Document | None:
    """The JRD for ``resource`` when it names our actor (``acct:USER@HOST`` or its URL), else None."""
    subject = f"acct:{username}@{urls.host}"
    wanted = resource.strip().lower().removeprefix("acct:")
    if wanted not in (subject.lower().removeprefix("acct:"), urls.actor.lower()):
        return None
    return {
        "subject": subject,
        "aliases": [urls.actor],
        "links": [
            {"rel": "self", "type": ACTIVITY_JSON, "href": urls.actor},
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": urls.profile_page},
        ],
    }


def nodeinfo_links(urls: Urls) -> Document:
    """``/.well-known/nodeinfo``."""
    return {"links": [{"rel": NODEINFO_SCHEMA, "href": urls.nodeinfo}]}


def nodeinfo(*, version: str, local_posts: int, name: str | None = None, repository: str | None = None) -> Document:
    """NodeInfo 2.1: one user (the actor), no registrations."""
    software: Document = {"name": "aggregator", "version": version}
    if repository:
        software["repository"] = repository
        software["homepage"] = repository
    return {
        "version": "2.1",
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": ["atom1.0"]},
        "openRegistrations": False,
        "usage": {"users": {"total": 1, "activeMonth": 1, "activeHalfyear": 1}, "localPosts": local_posts},
        "metadata": {"nodeName": name} if name else {},
    }


# ---- collections -----------------------------------------------------------------------------


def ordered_collection(
    collection_id: str, total: int, *, first: str | None = None, items: Sequence[Any] | None = None
) -> Document:
    """An OrderedCollection with a true ``totalItems``; ``first`` links paged contents."""
    doc: Document = {"@context": CONTEXT, "id": collection_id, "type": "OrderedCollection", "totalItems": total}
    if first is not None:
        doc["first"] = first
    if items is not None:
        doc["orderedItems"] = list(items)
    return doc


def collection_page(
    page_id: str, part_of: str, items: Sequence[Any], *, total: int,
    next_page: str | None = None, prev_page: str | None = None,
) -> Document:
    doc: Document = {
        "@context": CONTEXT, "id": page_id, "type": "OrderedCollectionPage", "partOf": part_of,
        "totalItems": total, "orderedItems": list(items),
    }
    if next_page is not None:
        doc["next"] = next_page
    if prev_page is not None:
        doc["prev"] = prev_page
    return doc


def outbox(urls: Urls, total: int) -> Document:
    return ordered_collection(urls.outbox, total, first=urls.outbox_page(1) if total else None, items=None if total else [])


def outbox_page(urls: Urls, page: int, activities: Sequence[Document], *, total: int, page_size: int = PAGE_SIZE) -> Document:
    """Page ``page`` (1-based) of the outbox, newest first; activities without their ``@context``."""
    items = [_bare(a) for a in activities]
    return collection_page(
        urls.outbox_page(page), urls.outbox, items, total=total,
        next_page=urls.outbox_page(page + 1) if page * page_size < total else None,
        prev_page=urls.outbox_page(page - 1) if page > 1 else None,
    )


def followers(urls: Urls, total: int) -> Document:
    """The count only: who follows us is the followers' business (privacy)."""
    return ordered_collection(urls.followers, total)


def following(urls: Urls, actors: Sequence[str]) -> Document:
    return ordered_collection(urls.following, len(actors), items=list(actors))


def featured(urls: Urls, notes: Sequence[Document]) -> Document:
    """The latest stories, embedded, so a new follower's server shows them at once."""
    return ordered_collection(urls.featured, len(notes), items=[_bare(n) for n in notes])


def _bare(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if k != "@context"}


# ---- stories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteInput:
    """What a Note of a story says; the relay's formatting decides ``summary`` and ``hashtags``."""

    entry_id: int
    title: str
    url: str | None
    published: datetime
    summary: str = ""  # plain text
    hashtags: tuple[str, ...] = ()  # bodies, without '#'
    language: str | None = None
    source_name: str | None = None
    updated: datetime | None = None


def hashtag_body(tag: str) -> str | None:
    """``"gilets jaunes"`` -> ``"GiletsJaunes"``; None when nothing usable is left."""
    words = [w for w in _TAG_BODY.split(tag) if w]
    if not words:
        return None
    body = words[0] if len(words) == 1 else "".join(w[:1].upper() + w[1:] for w in words)
    return None if body.isdigit() else body


def _hashtags(note: NoteInput) -> list[str]:
    seen: dict[str, str] = {}
    for tag in note.hashtags:
        body = hashtag_body(tag)
        if body and body.lower() not in seen:
            seen[body.lower()] = body
    return list(seen.values())


def note_content(urls: Urls, note: NoteInput) -> str:
    """The Note's HTML: title (and source), summary, the link to the original, hashtags."""
    title = html.escape(note.title)
    if note.source_name:
        title += f" — {html.escape(note.source_name)}"
    parts = [f"<p>{title}</p>"]
    if note.summary.strip():
        parts.append(f"<p>{html.escape(note.summary.strip())}</p>")
    if note.url:
        href = html.escape(note.url, quote=True)
        parts.append(f'<p><a href="{href}" rel="nofollow noopener" target="_blank">{html.escape(note.url)}</a></p>')
    tags = _hashtags(note)
    if tags:
        links = " ".join(
            f'<a href="{html.escape(urls.tag(t), quote=True)}" class="mention hashtag" rel="tag">#<span>{html.escape(t)}</span></a>'
            for t in tags
        )
        parts.append(f"<p>{links}</p>")
    return "".join(parts)


def note(urls: Urls, story: NoteInput) -> Document:
    """The Note of a story, addressed to the public and our followers."""
    content = note_content(urls, story)
    doc: Document = {
        "@context": CONTEXT,
        "id": urls.note(story.entry_id),
        "type": "Note",
        "attributedTo": urls.actor,
        "to": [AS_PUBLIC],
        "cc": [urls.followers],
        "published": to_iso(story.published),
        "content": content,
        "sensitive": False,
        "tag": [{"type": "Hashtag", "href": urls.tag(t), "name": f"#{t}"} for t in _hashtags(story)],
    }
    if story.language:
        doc["contentMap"] = {story.language: content}
    if story.url:
        doc["url"] = story.url
    if story.updated is not None:
        doc["updated"] = to_iso(story.updated)
    return doc


def create(urls: Urls, story: NoteInput) -> Document:
    obj = _bare(note(urls, story))
    return {
        "@context": CONTEXT, "id": urls.activity("create", story.entry_id), "type": "Create",
        "actor": urls.actor, "published": obj["published"], "to": obj["to"], "cc": obj["cc"], "object": obj,
    }


def update(urls: Urls, story: NoteInput) -> Document:
    """An edit: ``story.updated`` is required; it versions the activity id."""
    if story.updated is None:
        raise ValueError("an Update needs the time of the edit (NoteInput.updated)")
    obj = _bare(note(urls, story))
    return {
        "@context": CONTEXT, "id": urls.activity("update", story.entry_id, int(story.updated.timestamp())),
        "type": "Update", "actor": urls.actor, "published": obj["updated"], "to": obj["to"], "cc": obj["cc"],
        "object": obj,
    }


def delete(urls: Urls, entry_id: int, *, deleted: datetime | None = None) -> Document:
    tombstone: Document = {"id": urls.note(entry_id), "type": "Tombstone", "formerType": "Note"}
    if deleted is not None:
        tombstone["deleted"] = to_iso(deleted)
    return {
        "@context": CONTEXT, "id": urls.activity("delete", entry_id), "type": "Delete", "actor": urls.actor,
        "to": [AS_PUBLIC], "cc": [urls.followers], "object": tombstone,
    }


def tombstone(urls: Urls, entry_id: int, *, deleted: datetime | None = None) -> Document:
    """What ``/ap/notes/{id}`` serves (with 410 Gone) once the story is deleted."""
    doc: Document = {"@context": CONTEXT, "id": urls.note(entry_id), "type": "Tombstone", "formerType": "Note"}
    if deleted is not None:
        doc["deleted"] = to_iso(deleted)
    return doc


def announce(urls: Urls, entry_id: int, object_uri: str, *, published: datetime, author: str | None = None) -> Document:
    """A boost of a source's own fediverse post (never a copy of it)."""
    cc = [urls.followers] + ([author] if author else [])
    return {
        "@context": CONTEXT, "id": urls.activity("announce", entry_id), "type": "Announce", "actor": urls.actor,
        "published": to_iso(published), "to": [AS_PUBLIC], "cc": cc, "object": object_uri,
    }


# ---- follows ---------------------------------------------------------------------------------


def accept(urls: Urls, follow_activity: Mapping[str, Any]) -> Document:
    """Our Accept of a remote Follow; the Follow is embedded as its id, actor and object."""
    follow_id = str(follow_activity.get("id", ""))
    follower = _id_of(follow_activity.get("actor"))
    embedded: Document = {"id": follow_id, "type": "Follow", "actor": follower, "object": _id_of(follow_activity.get("object"))}
    return {
        "@context": CONTEXT, "id": urls.activity("accept", token(follow_id)), "type": "Accept",
        "actor": urls.actor, "to": [follower], "object": embedded,
    }


def follow(urls: Urls, target: str, *, nonce: str = "") -> Document:
    """Our Follow of ``target``; its id is stable, so a repeated Follow is the same one.

    ``nonce`` makes a new id for a follow that comes after an Undo (receivers may remember
    activity ids and ignore a second Follow with the first one's id).
    """
    return {
        "@context": CONTEXT, "id": urls.activity("follow", token(target + nonce)), "type": "Follow",
        "actor": urls.actor, "to": [target], "object": target,
    }


def undo_follow(urls: Urls, target: str, follow_id: str) -> Document:
    """The Undo of our Follow ``follow_id`` of ``target``."""
    inner: Document = {"id": follow_id, "type": "Follow", "actor": urls.actor, "object": target}
    return {
        "@context": CONTEXT, "id": urls.activity("undo", token(follow_id)), "type": "Undo",
        "actor": urls.actor, "to": [target], "object": inner,
    }


def _id_of(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else ""
