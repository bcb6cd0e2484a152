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

This module holds the URL scheme and the documents that describe the actor (the actor,
WebFinger, NodeInfo); ``activities.py`` holds the collections, the Notes of stories and the
activities. ``@context`` only names contexts every implementation ships (ActivityStreams,
security/v1) plus inline terms, so no receiver has to fetch a context.
"""

from __future__ import annotations

import hashlib
import html
import re
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
