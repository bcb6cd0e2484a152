"""What the update pipeline needs of the store, declared (``aggregator.store.Store`` fits).

The crawler and the write path are typed against these Protocols, not the concrete store,
so the seam is visible and checked by mypy at the composition root (``factory.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ..model import Decision, ExistingEntry, SourceState
from ..store import SaveResult
from ..store.sources import Fetched

__all__ = ["ActorFollows", "CrawlStore", "EntryWriter", "Fetched", "SaveResult"]


class EntryWrites(Protocol):
    def existing_many(self, wanted: Sequence[tuple[str, Iterable[str]]]) -> dict[str, dict[str, ExistingEntry]]: ...

    def save_many(
        self, batch: Sequence[tuple[str, Decision]], *, now: datetime, targets: Sequence[str] = (),
        synced: Sequence[str] = (),
    ) -> list[SaveResult]: ...

    def mark_deleted(self, entry_ids: Iterable[int], *, now: datetime, synced: Sequence[str] = ()) -> int: ...


class EntryWriter(Protocol):
    """The write path's side of the store (``ingest``)."""

    @property
    def entries(self) -> EntryWrites: ...


class SourceStates(Protocol):
    """Leases and health of sources: the crawler's bookkeeping."""

    def get(self, slug: str) -> SourceState | None: ...

    def states(self, *, include_unconfigured: bool = False) -> list[SourceState]: ...

    def lease_states(self, owner: str, now: datetime, *, seconds: float, limit: int, slugs: list[str] | None = None, due_only: bool = True, include_disabled: bool = False, fetched_before: datetime | None = None) -> list[SourceState]: ...

    def release(self, owner: str, slugs: Iterable[str] | None = None) -> int: ...

    def leased(self, now: datetime) -> dict[str, tuple[str, datetime]]: ...

    def record_success(self, slug: str, *, now: datetime, next_fetch: datetime, etag: str | None = None, last_modified: str | None = None, url: str | None = None, feed_title: str | None = None, feed_link: str | None = None, resolved_id: str | None = None) -> None: ...

    def record_success_many(self, done: Sequence[Fetched]) -> None: ...

    def record_not_modified_many(self, done: Sequence[tuple[str, datetime, datetime, str | None]]) -> None: ...

    def record_failure(self, slug: str, *, now: datetime, error: str, next_fetch: datetime, disable: bool = False) -> None: ...


class CrawlStore(EntryWriter, Protocol):
    """Everything the crawler touches: entries through ``ingest``, and the sources' states."""

    @property
    def sources(self) -> SourceStates: ...


class ActorFollows(Protocol):
    """Following the actors of ``activitypub`` sources (``activitypub.following.Follows``)."""

    async def ensure(self, slug: str, *, actor: str | None, account: str | None, url: str | None = None) -> tuple[str, str]:
        """Follow unless we do: ``(actor id, state)``; raises RemoteError when the actor cannot be had."""
        ...

    async def recent_posts(self, actor_id: str, *, limit: int = 20) -> list[Mapping[str, Any]]:
        """The actor's latest posts from its outbox (best effort: empty when unreadable)."""
        ...
