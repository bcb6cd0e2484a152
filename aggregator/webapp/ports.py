"""What the web front end reads from the store, declared (``aggregator.store.Store`` fits).

Read-only by construction: nothing here writes. The search index's side is
``webapp/search.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from ..model import BlueskyPublished, SourceConfig, SourceState, StoredEntry
from ..store import Cursor


class EntryReads(Protocol):
    def get_many(self, ids: Iterable[int], *, with_content: bool = True) -> dict[int, StoredEntry]: ...

    def newest(self, *, source: str | None = None, tag: str | None = None, language: str | None = None, limit: int = 50, before: Cursor | None = None, stories_only: bool = False, with_content: bool = True, exclude: Sequence[str] = ()) -> list[StoredEntry]: ...

    def story_members(self, story_ids: Iterable[int], *, with_content: bool = True) -> dict[int, list[StoredEntry]]: ...

    def count(self, *, source: str | None = None) -> int: ...


class SourceReads(Protocol):
    def configs(self, *, include_unconfigured: bool = False) -> list[SourceConfig]: ...

    def states(self, *, include_unconfigured: bool = False) -> list[SourceState]: ...

    def get(self, slug: str) -> SourceState | None: ...

    def counts_by_status(self) -> dict[str, int]: ...


class OutboxReads(Protocol):
    def counts(self) -> dict[tuple[str, str], int]: ...

    def status_by_source(self, source: str | None = None) -> dict[str, dict[str, dict[str, Any]]]: ...


class FollowState(Protocol):
    @property
    def source(self) -> str | None: ...
    @property
    def state(self) -> str: ...


class FollowingReads(Protocol):
    def all(self, local_actor: str | None = None) -> Sequence[FollowState]: ...


class DeliveryReads(Protocol):
    def status_by_source(self, source: str | None = None) -> dict[str, dict[str, Any]]: ...
class BlueskyFeedReads(Protocol):
    def published(self) -> BlueskyPublished | None: ...


class ReadStore(Protocol):
    """Entries, sources and the relay's status, as pages, feeds and the API show them."""

    @property
    def bluesky_feed(self) -> BlueskyFeedReads:
        """What ``bluesky publish`` wrote: the sources page links the feeds, list and pack."""
        ...

    @property
    def entries(self) -> EntryReads: ...

    @property
    def sources(self) -> SourceReads: ...

    @property
    def outbox(self) -> OutboxReads: ...

    @property
    def ap_following(self) -> FollowingReads: ...

    @property
    def ap_deliveries(self) -> DeliveryReads: ...

    def ping(self) -> bool: ...
