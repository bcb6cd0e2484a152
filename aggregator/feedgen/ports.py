"""What the feed generator needs of the store, declared (``aggregator.store.Store`` fits)."""

from __future__ import annotations

from typing import Protocol

from ..model import BlueskyPublished, FeedSelection
from ..store import Cursor, FeedPost


class FeedReads(Protocol):
    """``store.bluesky_feed``: the skeleton query and what was published."""

    def skeleton(self, selection: FeedSelection, *, limit: int, before: Cursor | None = None) -> list[FeedPost]: ...

    def published(self) -> BlueskyPublished | None: ...


class FeedRecords(FeedReads, Protocol):
    def save_published(self, published: BlueskyPublished) -> None: ...


class FeedStore(Protocol):
    @property
    def bluesky_feed(self) -> FeedRecords: ...
