"""What the Bluesky feed generator reads: the network's posts on Bluesky, one per story.

A story reaches Bluesky in one of two ways, and the store already knows both at:// URIs:

- a ``bluesky`` source's own post or repost: the entry's ``native_uri`` (for a repost, the
  reposted post; the repost record's URI is the entry's ``guid``);
- the relay's link post of any other item: ``outbox.remote_id`` of its ``bluesky`` row
  once ``posted``.

Only a story's first entry (``is_primary``) is considered, as in the river: the relay
posts a story once, from that entry, so "each story once" needs no grouping; and where
that entry is a source's own post, the source's post is shown rather than the relay's
repost of it. The query walks ``ix_entries_river`` backwards from the cursor and stops at
``limit``: a deep page costs what the first one does.

What ``aggregator bluesky publish`` wrote (the records' URIs) is kept in ``meta`` so that
every web process can answer for the feeds and link them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, literal, or_, select, tuple_

from ..model import BlueskyPublished, FeedSelection
from . import schema
from .base import Database
from .entries import Cursor
from .meta import MetaRepo

E = schema.entries
S = schema.sources
T = schema.entry_tags
OB = schema.outbox

#: The relay target whose posted rows carry an at:// URI in ``remote_id``.
TARGET = "bluesky"
POST_COLLECTION = "/app.bsky.feed.post/"
REPOST_COLLECTION = "/app.bsky.feed.repost/"
PUBLISHED_KEY = "bluesky_feed.published"


@dataclass(frozen=True)
class FeedPost:
    """One line of a feed skeleton."""

    entry_id: int
    published: datetime
    post: str  # at:// URI of the post shown
    repost: str | None = None  # at:// URI of the source's repost record, when it is one

    @property
    def position(self) -> Cursor:
        return Cursor(self.published, self.entry_id)


class BlueskyFeedRepo:
    def __init__(self, db: Database):
        self.db = db
        self._meta = MetaRepo(db)

    def skeleton(self, selection: FeedSelection, *, limit: int, before: Cursor | None = None) -> list[FeedPost]:
        """Newest first, strictly after ``before`` in that order, at most ``limit`` posts."""
        native = and_(
            E.c.kind.in_(("post", "repost")),
            E.c.native_uri.like(f"at://%{POST_COLLECTION}%"),
        )
        relayed = OB.c.remote_id.like(f"at://%{POST_COLLECTION}%")
        query = (
            select(
                E.c.id, E.c.published, E.c.kind, E.c.guid,
                case((native, E.c.native_uri), else_=OB.c.remote_id).label("post"),
                native.label("is_native"),
            )
            .select_from(E)
            .outerjoin(OB, and_(OB.c.entry_id == E.c.id, OB.c.target == TARGET, OB.c.state == "posted"))
            .where(E.c.is_primary.is_(True), E.c.deleted.is_(False), or_(native, relayed))
        )
        query = _select(query, selection)
        if before is not None:
            # The redundant bound lets every engine seek the index instead of filtering.
            query = query.where(
                E.c.published <= before.published,
                tuple_(E.c.published, E.c.id) < tuple_(literal(before.published, E.c.published.type), literal(before.id)),
            )
        query = query.order_by(E.c.published.desc(), E.c.id.desc()).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_post(r) for r in rows]

    # -- what publish wrote ------------------------------------------------------------

    def published(self) -> BlueskyPublished | None:
        raw = self._meta.get(PUBLISHED_KEY)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return BlueskyPublished(
                did=data["did"], handle=data["handle"],
                feeds=tuple((str(name), str(uri)) for name, uri in data.get("feeds", [])),
                list_uri=data.get("list_uri"), starter_pack_uri=data.get("starter_pack_uri"),
            )
        except (ValueError, KeyError, TypeError):
            return None  # written by another version: publish writes it again

    def save_published(self, published: BlueskyPublished) -> None:
        self._meta.set(PUBLISHED_KEY, json.dumps({
            "did": published.did, "handle": published.handle, "feeds": [list(f) for f in published.feeds],
            "list_uri": published.list_uri, "starter_pack_uri": published.starter_pack_uri,
        }))


def _select(query: Any, selection: FeedSelection) -> Any:
    if selection.sources:
        query = query.where(E.c.source_id.in_(select(S.c.id).where(S.c.slug.in_(selection.sources))))
    if selection.languages:
        query = query.where(or_(*(
            or_(E.c.language == lang, E.c.language.like(f"{lang}-%")) for lang in selection.languages
        )))
    if selection.tags:
        query = query.where(E.c.id.in_(select(T.c.entry_id).where(T.c.tag.in_([t.lower() for t in selection.tags]))))
    return query


def _post(row: Any) -> FeedPost:
    repost = None
    if row.is_native and row.kind == "repost" and row.guid.startswith("at://") and REPOST_COLLECTION in row.guid:
        repost = row.guid
    return FeedPost(entry_id=row.id, published=row.published, post=row.post, repost=repost)

