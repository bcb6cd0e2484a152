"""What the fediverse side needs of the store, declared (``aggregator.store.Store`` fits).

Each table is the union of the seams the ActivityPub modules declare (the handler's books,
the fan-out's queue, the follows' records) plus the reads the routes make.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..activitypub.delivery import DeliveryQueue
from ..activitypub.following import FollowRecords, Publisher
from ..activitypub.handlers import FollowerBook, FollowingBook
from ..activitypub.inbox import SeenKeys
from ..activitypub.keys import KeyStore
from ..model import SourceConfig, StoredEntry
from ..relay.activitypub import ActivityLog, FollowerInboxes
from ..store import Cursor
from ..update.ports import EntryWriter, EntryWrites


class FollowingTable(FollowingBook, FollowRecords, Protocol):
    pass


class FollowersTable(FollowerBook, FollowerInboxes, Protocol):
    def count(self, local_actor: str) -> int: ...


class DeliveriesTable(DeliveryQueue, Publisher, ActivityLog, Protocol):
    def outbox_count(self, local_actor: str) -> int: ...

    def outbox_page(self, local_actor: str, *, offset: int, limit: int) -> list[dict[str, Any]]: ...


class SeenTable(SeenKeys, Protocol):
    def purge(self) -> int: ...


class EntryTable(EntryWrites, Protocol):
    def get_many(self, ids: Iterable[int], *, with_content: bool = True) -> dict[int, StoredEntry]: ...

    def newest(self, *, source: str | None = None, tag: str | None = None, language: str | None = None, limit: int = 50, before: Cursor | None = None, stories_only: bool = False, with_content: bool = True) -> list[StoredEntry]: ...


class SourceTable(Protocol):
    def configs(self, *, include_unconfigured: bool = False) -> list[SourceConfig]: ...


class FederationStore(EntryWriter, Protocol):
    @property
    def entries(self) -> EntryTable: ...

    @property
    def sources(self) -> SourceTable: ...

    @property
    def ap_following(self) -> FollowingTable: ...

    @property
    def ap_followers(self) -> FollowersTable: ...

    @property
    def ap_deliveries(self) -> DeliveriesTable: ...

    @property
    def ap_seen(self) -> SeenTable: ...

    @property
    def ap_keys(self) -> KeyStore: ...


__all__ = ["FederationStore"]
