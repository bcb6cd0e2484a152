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

from sqlalchemy import Integer, and_, bindparam, case, or_, select, true, tuple_, union_all

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
        self._queries: dict[tuple[FeedSelection, bool], Any] = {}

    def skeleton(self, selection: FeedSelection, *, limit: int, before: Cursor | None = None) -> list[FeedPost]:
        """Newest first, strictly after ``before`` in that order, at most ``limit`` posts."""
        query = self._query(selection, before is not None)
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params |= {"before_published": before.published, "before_id": before.id}
        with self.db.read() as conn:
            rows = conn.execute(query, params).all()
        return [_post(r) for r in rows]

    def _query(self, selection: FeedSelection, after_cursor: bool) -> Any:
        """The statement for one feed, built once: a feed is asked for many times a second,
        and building (and adapting the result of) a new statement costs more than running it."""
        key = (selection, after_cursor)
        query = self._queries.get(key)
        if query is None:
            query = _skeleton_query(selection, after_cursor)
            if len(self._queries) > 256:  # selections come from the configuration: a handful
                self._queries.clear()
            self._queries[key] = query
        return query

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


def _skeleton_query(selection: FeedSelection, after_cursor: bool) -> Any:
    """One feed's statement, with bind parameters ``limit`` (and the cursor's two).

    Without a sources filter it walks ``ix_entries_river`` newest first and stops at
    ``limit``. With one, it walks each source's own index (``ix_entries_source_river``) the
    same way and merges: a feed of a few sources out of hundreds never scans the others.
    """
    if not selection.sources:
        return _ordered(_branch(selection, after_cursor, source=None))
    branches = [_branch(selection, after_cursor, source=slug) for slug in selection.sources]
    merged = union_all(*(select(*b.subquery().c) for b in branches)).subquery()
    return select(*merged.c).order_by(merged.c.published.desc(), merged.c.id.desc()).limit(_limit())


def _ordered(query: Any) -> Any:
    return query.order_by(E.c.published.desc(), E.c.id.desc()).limit(_limit())


def _limit() -> Any:
    """``LIMIT n`` written into the SQL at execution, not sent as a parameter: PostgreSQL
    plans a prepared statement without knowing a parameter's value, and a plan made
    for "all rows" sorts the whole table instead of walking the index."""
    return bindparam("limit", type_=Integer(), literal_execute=True)


def _branch(selection: FeedSelection, after_cursor: bool, *, source: str | None) -> Any:
    # Plain comparisons, no ``IN (…)`` lists: SQLAlchemy renders those again at every
    # execution ("expanding" parameters), which costs more than the query here.
    native = and_(
        or_(E.c.kind == "post", E.c.kind == "repost"),
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
        # "= true", not "IS TRUE": PostgreSQL seeks an index only on the former.
        .where(E.c.is_primary == true(), E.c.deleted.is_(False), or_(native, relayed))
    )
    if source is not None:
        query = query.where(E.c.source_id == select(S.c.id).where(S.c.slug == source).scalar_subquery())
        query = _ordered(query)
    if selection.languages:
        query = query.where(or_(*(
            or_(E.c.language == lang, E.c.language.like(f"{lang}-%")) for lang in selection.languages
        )))
    if selection.tags:
        # Correlated (a primary-key probe per row walked), not ``IN (SELECT …)``: SQLite
        # would first collect every entry of a common tag.
        tagged = select(T.c.entry_id).where(T.c.entry_id == E.c.id, or_(*(T.c.tag == t.lower() for t in selection.tags)))
        query = query.where(tagged.exists())
    if after_cursor:
        published = bindparam("before_published", type_=E.c.published.type)
        # The redundant bound lets every engine seek the index instead of filtering.
        query = query.where(E.c.published <= published,
                            tuple_(E.c.published, E.c.id) < tuple_(published, bindparam("before_id")))
    return query


def _post(row: Any) -> FeedPost:
    entry_id, published, kind, guid, uri, is_native = row
    repost = None
    if is_native and kind == "repost" and guid.startswith("at://") and REPOST_COLLECTION in guid:
        repost = guid
    return FeedPost(entry_id=entry_id, published=published, post=uri, repost=repost)
