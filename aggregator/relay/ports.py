"""What the relay needs of the store, declared (``aggregator.store.Store`` fits)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from ..model import SourceConfig, StoredEntry
from ..store.outbox import OutboxRow


class Outbox(Protocol):
    """The outbox's state machine (``store/outbox.py``): every transition is conditional."""

    def due(self, now: datetime, *, targets: Sequence[str], limit: int | None = None) -> list[OutboxRow]: ...

    def in_flight(self, *, targets: Sequence[str]) -> list[OutboxRow]: ...

    def claim(self, row: OutboxRow, now: datetime) -> OutboxRow | None: ...

    def mark_posted(self, row_id: int, now: datetime, *, remote_id: str | None, remote_url: str | None) -> bool: ...

    def mark_retry(self, row_id: int, now: datetime, *, error: str, next_attempt: datetime, count_attempt: bool = True) -> bool: ...

    def mark_failed(self, row_id: int, now: datetime, *, error: str) -> bool: ...

    def mark_skipped(self, row: OutboxRow, now: datetime, *, reason: str) -> bool: ...

    def posted_since(self, target: str, since: datetime) -> int: ...


class EntryReads(Protocol):
    def get_many(self, ids: Iterable[int], *, with_content: bool = True) -> dict[int, StoredEntry]: ...


class SourceConfigs(Protocol):
    def configs(self, *, include_unconfigured: bool = False) -> list[SourceConfig]: ...


class RelayStore(Protocol):
    """The outbox, and the entries and sources its rows point to."""

    @property
    def outbox(self) -> Outbox: ...

    @property
    def entries(self) -> EntryReads: ...

    @property
    def sources(self) -> SourceConfigs: ...
