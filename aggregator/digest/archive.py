"""The digests as the web and ``digest show`` read them: stored cuts, composed for everyone.

A digest's stories were frozen when it was cut (``store.digests``), so the page of a day,
its feed entry and every subscriber's mail show the same set. Reading only: nothing here
writes, sends or needs the public base URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ..model import ALL_STORIES, DigestConfig, DigestFilters, SourceConfig
from ..store import Store
from ..store.digests import DigestRow
from .compose import Digest, Story, compose

#: Days listed per archive page and per feed.
ARCHIVE_PAGE = 30
FEED_DAYS = 30


def load_sources(store: Store) -> dict[str, SourceConfig]:
    """Every source a stored entry may name, configured or not any more."""
    return {s.slug: s for s in store.sources.configs(include_unconfigured=True)}


def load_stories(store: Store, entry_ids: Sequence[int]) -> list[Story]:
    """The stories of these first entries, in that order, with their other sources."""
    primaries = store.entries.get_many(entry_ids, with_content=False)
    story_ids = [e.story_id for e in primaries.values() if e.story_id is not None]
    members = store.entries.story_members(story_ids, with_content=False)
    out = []
    for entry_id in entry_ids:
        primary = primaries.get(entry_id)
        if primary is None or primary.deleted:
            continue
        others = tuple(m for m in members.get(primary.story_id or -1, []) if m.id != primary.id)
        out.append(Story(primary, others))
    return out


def compose_row(row: DigestRow, stories: Sequence[Story], sources: dict[str, SourceConfig], config: DigestConfig,
                filters: DigestFilters = ALL_STORIES) -> Digest:
    return compose(stories, day=date.fromisoformat(row.day), window_start=row.window_start,
                   window_end=row.window_end, sources=sources, filters=filters, group_by=config.group_by)


@dataclass(frozen=True)
class ArchivedDay:
    """One day of the archive: its stored row and what it holds for everyone."""

    row: DigestRow
    digest: Digest

    @property
    def created(self) -> datetime:
        return self.row.created


class DigestArchive:
    """``/digest``, ``/digest/YYYY-MM-DD``, ``/digest.atom``, ``/digest.json``: synchronous
    reads (the web runs them in its reader threads)."""

    def __init__(self, store: Store, config: DigestConfig):
        self.store = store
        self.config = config

    def day(self, day: date) -> ArchivedDay | None:
        """That day's digest when it was cut and held something; None otherwise."""
        row = self.store.digests.get(day.isoformat())
        if row is None or not row.entry_ids:
            return None
        return ArchivedDay(row, compose_row(row, load_stories(self.store, row.entry_ids), load_sources(self.store),
                                            self.config))

    def days(self, *, limit: int = ARCHIVE_PAGE, before: date | None = None) -> list[DigestRow]:
        """Days that had something, newest first (one more than ``limit`` tells a next page)."""
        return self.store.digests.archive(limit=limit, before_day=before.isoformat() if before else None)

    def recent(self, limit: int = FEED_DAYS) -> list[ArchivedDay]:
        """The last days composed, for the feeds (one entry per day)."""
        rows = self.days(limit=limit)
        sources = load_sources(self.store)
        return [ArchivedDay(row, compose_row(row, load_stories(self.store, row.entry_ids), sources, self.config))
                for row in rows]
