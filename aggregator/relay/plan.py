"""Decide what one outbox row means (pure): boost, repost, link post or skip, and its text."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ..model import RelayConfig, SourceConfig, StoredEntry
from .format import Post, PostInput, format_bluesky, format_mastodon, hashtags
from .ids import idempotency_key, item_tid

Action = Literal["post", "boost", "repost", "skip", "delete"]

#: The target that mirrors edits and deletions (``relay/activitypub.py``): a deleted entry
#: is a "delete" job there (withdraw what was published), not a skip.
ACTIVITYPUB = "activitypub"


@dataclass(frozen=True)
class Job:
    """Everything a target needs to deliver one outbox row, computed without I/O."""

    row_id: int
    entry_id: int
    source: str
    target: str
    action: Action
    post: Post | None = None
    url: str | None = None  # the link of a link post
    title: str = ""  # for the link card
    description: str = ""
    image: str | None = None  # the entry's own image, a fallback for the card
    native_uri: str | None = None  # what to boost / repost
    native_cid: str | None = None
    rkey: str = ""  # Bluesky record key (a TID derived from the item)
    idempotency_key: str = ""  # Mastodon Idempotency-Key
    created: datetime | None = None  # when the item entered the outbox
    reason: str = ""  # why a row is skipped
    published: datetime | None = None  # the entry's dates (ActivityPub Notes carry them)
    updated: datetime | None = None
    hashtags: tuple[str, ...] = ()  # hashtag bodies, without '#'

    @property
    def text(self) -> str:
        return self.post.text if self.post else ""


def native_network(entry: StoredEntry) -> str | None:
    """Which network a fediverse entry lives on: at:// URIs are Bluesky, others Mastodon."""
    if entry.kind not in ("post", "repost") or not entry.native_uri:
        return None
    return "bluesky" if entry.native_uri.startswith("at://") else "mastodon"


def plan(
    *,
    row_id: int,
    target: str,
    created: datetime,
    entry: StoredEntry | None,
    source: SourceConfig | None,
    config: RelayConfig,
) -> Job:
    """The job for one outbox row.

    Whether an item is relayed at all was decided when it was stored (``update/decide.py``):
    a row exists only for a relay-worthy item, and the store withdraws pending rows when the
    operator deletes the item or switches its source's relay off. What remains here is how.
    Native posts are boosted, never copied: a Mastodon status is reblogged on Mastodon and
    a Bluesky post reposted on Bluesky; across networks (and for articles) it is a link post.
    """
    if entry is not None and entry.deleted and target == ACTIVITYPUB:
        return Job(row_id, entry.id, entry.source, target, "delete", created=created, native_uri=entry.native_uri)
    if entry is None or entry.deleted:
        return Job(row_id, entry.id if entry else 0, entry.source if entry else "", target, "skip",
                   reason="the entry was deleted")
    base = Job(row_id, entry.id, entry.source, target, "skip", created=created, published=entry.published,
               updated=entry.updated)
    rkey = item_tid(entry.id, target, created)
    network = native_network(entry)
    if network == "mastodon" and target == ACTIVITYPUB:
        # A fediverse post (a Mastodon status, a followed actor's Note) is announced.
        return replace(base, action="boost", native_uri=entry.native_uri, url=entry.url)
    if network == target == "mastodon":
        return replace(base, action="boost", native_uri=entry.native_uri, url=entry.url, rkey=rkey)
    if network == target == "bluesky" and entry.native_cid:
        return replace(base, action="repost", native_uri=entry.native_uri, native_cid=entry.native_cid, url=entry.url, rkey=rkey)
    url = entry.url or (entry.native_uri if entry.native_uri and entry.native_uri.startswith("http") else None)
    if not url:
        return replace(base, action="skip", reason="nothing to link to: the entry has no URL")
    if network is not None:
        # A fediverse post has no title of its own: its text is the title.
        title, summary = entry.text or entry.title, ""
    else:
        title, summary = entry.title or entry.text, entry.text
    tags = hashtags([*config.hashtags, *(source.tags if source else ())])
    name = source.name if source else entry.source
    template = (source.template if source and source.template else None) or config.template
    data = PostInput(title=title, url=url, source=name, summary=summary, hashtags=tags,
                     language=entry.language or (source.language if source else None))
    # ActivityPub Notes are shown by Mastodon: its limits fit them too.
    post = format_bluesky(data, template) if target == "bluesky" else format_mastodon(data, template)
    return replace(
        base, action="post", post=post, url=url, title=entry.title or title, description=entry.text,
        image=entry.image, rkey=rkey, idempotency_key=idempotency_key(entry.id, target, created), hashtags=tags,
    )
