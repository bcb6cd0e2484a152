"""``app.bsky.feed.getFeedSkeleton`` and ``describeFeedGenerator``: what the AppView asks us.

The answer is a list of at:// URIs (the AppView hydrates them) and an opaque cursor. The
rules the reference AppView enforces, kept here:

- ``limit`` is 1..100, 50 when absent (the lexicon); anything else is ``InvalidRequest``;
- the cursor is opaque and never the one received (the AppView drops a feed's cursor when
  it echoes the request's, and paging stops): it is the position of the page's last post,
  strictly older than the request's; it is left out on the last page;
- an unknown feed is the lexicon's ``UnknownFeed`` error (400).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import FeedRequestError
from ..model import BlueskyFeedConfig, BlueskyFeedDef, BlueskyPublished
from ..store import Cursor, FeedPost
from .identity import GENERATOR, parse_at_uri, record_uri
from .ports import FeedReads

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
REPOST_REASON = "app.bsky.feed.defs#skeletonReasonRepost"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
_LIMIT = re.compile(r"^[0-9]{1,3}$")


def encode_cursor(position: Cursor) -> str:
    """The position as an opaque token (URL-safe, no padding)."""
    micros = (position.published.astimezone(UTC) - _EPOCH) // _MICRO
    return base64.urlsafe_b64encode(f"1:{micros}:{position.id}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """Raises FeedRequestError (``InvalidRequest``) for anything this site did not give out."""
    bad = FeedRequestError("cursor: not a position this feed gave out", name="InvalidRequest")
    if not token or len(token) > MAX_CURSOR_LENGTH or not _TOKEN.match(token):
        raise bad
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        version, micros, entry_id = raw.split(":")
        if version != "1" or not micros.isdigit() or not entry_id.isdigit():
            raise ValueError(raw)
        return Cursor(_EPOCH + timedelta(microseconds=int(micros)), int(entry_id))
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError) as exc:
        raise bad from exc


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not _LIMIT.match(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise FeedRequestError(f"limit: a whole number from 1 to {MAX_LIMIT}", name="InvalidRequest")
    return int(raw)


class FeedGenerator:
    """The feeds configured in ``bluesky_feed:``, answered from the store.

    What ``bluesky publish`` wrote (the publisher's DID) is read once every
    ``published_ttl`` seconds, not at every request; until something is published it is
    read every time, so a first publication shows at once.
    """

    def __init__(self, did: str, config: BlueskyFeedConfig, *, published_ttl: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.did = did
        self.config = config
        self.published_ttl = published_ttl
        self._monotonic = monotonic
        self._published: tuple[float, BlueskyPublished] | None = None

    def published(self, store: FeedReads) -> BlueskyPublished | None:
        kept = self._published
        if kept is not None and self._monotonic() - kept[0] < self.published_ttl:
            return kept[1]
        published = store.published()
        self._published = (self._monotonic(), published) if published is not None else None
        return published

    def describe(self, published: BlueskyPublished | None) -> dict[str, Any]:
        """``describeFeedGenerator``: our DID and the feeds published under it."""
        feeds = []
        if published is not None:
            feeds = [{"uri": record_uri(published.did, GENERATOR, f.short_name)} for f in self.config.feeds]
        return {"did": self.did, "feeds": feeds}

    def resolve(self, feed_uri: str | None, published: BlueskyPublished | None) -> BlueskyFeedDef:
        """The configured feed that ``feed_uri`` names, published by our account.

        Raises:
            FeedRequestError: ``InvalidRequest`` (no or malformed ``feed``) or ``UnknownFeed``.
        """
        if not feed_uri:
            raise FeedRequestError("feed: required (the at:// URI of the feed)", name="InvalidRequest")
        uri = parse_at_uri(feed_uri)
        if uri is None:
            raise FeedRequestError("feed: expected an at:// URI", name="InvalidRequest")
        feed = self.config.feed(uri.rkey) if uri.collection == GENERATOR else None
        if feed is None or published is None or uri.authority not in (published.did, published.handle):
            raise FeedRequestError(f"unknown feed: {feed_uri}", name="UnknownFeed")
        return feed

    def skeleton(self, store: FeedReads, query: Mapping[str, str]) -> dict[str, Any]:
        """``getFeedSkeleton`` for the request's query (runs in a reader thread: store reads)."""
        limit = parse_limit(query.get("limit"))
        raw_cursor = query.get("cursor")
        before = decode_cursor(raw_cursor) if raw_cursor else None
        feed = self.resolve(query.get("feed"), self.published(store))
        # One more than asked: whether a next page exists (no cursor on the last page).
        posts = store.skeleton(feed.selection, limit=limit + 1, before=before)
        page = posts[:limit]
        answer: dict[str, Any] = {"feed": [_item(p) for p in page]}
        if len(posts) > limit and page:
            answer["cursor"] = encode_cursor(page[-1].position)
        return answer


def _item(post: FeedPost) -> dict[str, Any]:
    item: dict[str, Any] = {"post": post.post}
    if post.repost:
        item["reason"] = {"$type": REPOST_REASON, "repost": post.repost}
    return item
