"""The one write path: every item, whatever brought it, goes existing → enrich → decide → save.

The crawler calls it for feeds, sites, Mastodon and Bluesky accounts; anything else that
brings items (posts pushed by followed fediverse actors, tests, benchmarks) calls it too,
so the rules of ``enrich`` and ``decide`` hold for every item (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..model import Decision, EntryData, SourceConfig, normalize_tag
from .decide import decide
from .ports import EntryWriter, SaveResult


@dataclass(frozen=True)
class RelayPolicy:
    """What decide needs to know of the relay: where new items go, and how old is too old.

    Attributes:
        targets: outbox targets ("mastodon", "bluesky"…) that get a row per relayed item.
        backlog: an item published longer ago than this when first seen is never relayed,
            so adding a source with a year of history does not flood followers.
    """

    targets: tuple[str, ...] = ()
    backlog: timedelta = timedelta(hours=24)
    #: targets that mirror edits and deletions (ActivityPub: Update, Delete), see ``EntryRepo.save``.
    synced: tuple[str, ...] = ()


def enrich(source: SourceConfig, entries: Iterable[EntryData]) -> tuple[EntryData, ...]:
    """What the source knows and the entry does not: its language, and its tags.

    The source's ``language`` applies where the entry states none; the source's ``tags``
    come first, then the entry's, normalized (``normalize_tag``) and deduplicated.
    """
    out = []
    for entry in entries:
        language = entry.language or source.language
        tags = merge_tags(source.tags, entry.tags)
        if language != entry.language or tags != entry.tags:
            entry = replace(entry, language=language, tags=tags)
        out.append(entry)
    return tuple(out)


def merge_tags(*groups: Iterable[str]) -> tuple[str, ...]:
    """Tags of several origins, normalized, first occurrence first."""
    seen: dict[str, None] = {}
    for group in groups:
        for tag in group:
            norm = normalize_tag(tag)
            if norm:
                seen.setdefault(norm, None)
    return tuple(seen)


@dataclass(frozen=True)
class Ingested:
    """What the write path did: decide's verdict, and what the store really wrote."""

    decision: Decision
    saved: SaveResult

    @property
    def new(self) -> int:
        return self.saved.new

    @property
    def updated(self) -> int:
        return self.saved.updated


def ingest(
    store: EntryWriter,
    source: SourceConfig,
    entries: Sequence[EntryData],
    *,
    now: datetime,
    policy: RelayPolicy,
) -> Ingested:
    """Store what one source yielded, in one transaction (entries, index log, outbox).

    Synchronous (SQLAlchemy): async callers run it in a thread.

    Args:
        now: the fetch (or receipt) time: future dates are clamped to it and missing
            dates take it.
    """
    return ingest_many(store, [(source, entries)], now=now, policy=policy)[0]


def ingest_many(
    store: EntryWriter,
    batch: Sequence[tuple[SourceConfig, Sequence[EntryData]]],
    *,
    now: datetime,
    policy: RelayPolicy,
) -> list[Ingested]:
    """``ingest`` for several sources in one transaction: one ``Ingested`` per source, in order.

    Each source is enriched and decided on its own, exactly as ``ingest`` does; only the
    reads and the writes are shared (one read of what is stored, one transaction), so a
    crawl that stores thousands of sources pays one commit per batch, not per source.
    Stories are joined in batch order: the first source of the batch to carry an article
    opens its story, as if the sources had been ingested one after the other.
    """
    if len({source.slug for source, _ in batch}) != len(batch):
        raise ValueError("ingest_many: a source appears twice in one batch")
    enriched = [(source, enrich(source, entries)) for source, entries in batch]
    existing = store.entries.existing_many([(source.slug, [e.guid for e in entries]) for source, entries in enriched])
    decisions = [
        decide(source.slug, entries, existing[source.slug], now=now, relay=source.relay, backlog=policy.backlog)
        for source, entries in enriched
    ]
    saved = store.entries.save_many(
        [(source.slug, decision) for (source, _), decision in zip(enriched, decisions, strict=True)],
        now=now, targets=policy.targets, synced=policy.synced,
    )
    return [Ingested(decision, result) for decision, result in zip(decisions, saved, strict=True)]


def withdraw(store: EntryWriter, source: SourceConfig, guids: Sequence[str], *, now: datetime, policy: RelayPolicy) -> int:
    """Remove items of ``source`` that their author deleted (an ActivityPub ``Delete``).

    As an operator's delete: hidden everywhere, never brought back, and withdrawn from the
    relay (a Delete follows on the targets that mirror deletions). Returns how many.
    """
    existing = store.entries.existing_many([(source.slug, guids)])[source.slug]
    ids = [e.id for e in existing.values() if not e.deleted]
    return store.entries.mark_deleted(ids, now=now, synced=policy.synced) if ids else 0
