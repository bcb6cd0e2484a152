"""What the views read, gathered in plain synchronous functions run in a worker thread.

The store is synchronous SQLAlchemy; each view makes one ``asyncio.to_thread`` call to
one of these functions so the event loop never waits on the database.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from markupsafe import Markup, escape

from ..errors import AggregatorError, SearchQueryError
from ..model import Config, SourceConfig, SourceState, StoredEntry
from ..shapes import with_deliveries
from ..store import Cursor
from .params import Filters, encode_keyset, encode_offset
from .ports import ReadStore
from .search import SearchIndexLike, SearchRequest


@dataclass(frozen=True)
class RiverItem:
    """One story in the river: its first entry and the other sources that published it."""

    entry: StoredEntry
    also: tuple[StoredEntry, ...] = ()


@dataclass
class Page:
    """A page of items, from the river (keyset) or from a search (offset)."""

    items: list[RiverItem]
    next_cursor: str | None = None
    total: int | None = None  # search only
    total_capped: bool = False  # search only: ``total`` is a lower bound ("more than")
    error: str | None = None  # a malformed query, in words for the reader
    snippets: dict[int, str] = field(default_factory=dict)  # search only: entry id -> snippet
    unavailable: bool = False  # search asked but no index configured


class SourceDirectory:
    """The configured sources, cached briefly: they change only when sources.yaml does."""

    def __init__(self, store: ReadStore, ttl: float = 30.0):
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._at = -1e9
        self._by_slug: dict[str, SourceConfig] = {}
        self._options: tuple[list[tuple[str, str, str]], list[str]] | None = None

    def by_slug(self) -> dict[str, SourceConfig]:
        """The sources by slug; while the database is unreachable, the last ones known."""
        with self._lock:
            if time.monotonic() - self._at > self.ttl:
                try:
                    self._by_slug = {s.slug: s for s in self.store.sources.configs()}
                except AggregatorError:
                    return self._by_slug  # error pages still render; retried next call
                self._at = time.monotonic()
                self._options = None
            return self._by_slug

    def _option_parts(self) -> tuple[list[tuple[str, str, str]], list[str]]:
        by_slug = self.by_slug()
        with self._lock:
            if self._options is None:
                ordered = sorted(by_slug.values(), key=lambda s: (s.name.casefold(), s.slug))
                parts = []
                for s in ordered:
                    value, name = escape(s.slug), escape(s.name)
                    parts.append((s.slug, f'<option value="{value}">{name}</option>',
                                  f'<option value="{value}" selected>{name}</option>'))
                languages = sorted({s.language for s in ordered if s.language})
                self._options = (parts, languages)
            return self._options

    def source_options(self, selected: str | None) -> Markup:
        """The filter form's ``<option>`` list, escaped once per directory refresh.

        With hundreds of sources, escaping and sorting them in the template on every page
        was a third of a river page's rendering time.
        """
        parts, _ = self._option_parts()
        return Markup("".join(sel if slug == selected else plain for slug, plain, sel in parts))

    def languages(self) -> list[str]:
        return self._option_parts()[1]


def river_page(store: ReadStore, filters: Filters, cursor: Cursor | None, limit: int) -> Page:
    """Newest stories first; a source filter shows that source's own entries."""
    rows = store.entries.newest(
        source=filters.source, tag=filters.tag, language=filters.lang,
        limit=limit + 1, before=cursor, stories_only=True, with_content=False, exclude=filters.exclude,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = _with_story_members(store, rows, filters.exclude)
    next_cursor = encode_keyset(rows[-1].published, rows[-1].id) if more and rows else None
    return Page(items=items, next_cursor=next_cursor)


def search_page(store: ReadStore, index: SearchIndexLike | None, filters: Filters, offset: int, limit: int, sort: str) -> Page:
    """Search hits as river items (full entries read back from the store, in hit order)."""
    if index is None:
        return Page(items=[], unavailable=True)
    assert filters.q
    try:
        results = index.search(SearchRequest(
            filters.q, source=filters.source, tag=filters.tag, lang=filters.lang,
            limit=limit, offset=offset, sort=sort, exclude=filters.exclude,
        ))
    except SearchQueryError as exc:
        return Page(items=[], error=exc.message, total=0)
    ids = [int(hit.id) for hit in results.hits]
    entries = store.entries.get_many(ids, with_content=False)
    rows = [entries[i] for i in ids if i in entries and not entries[i].deleted]
    items = _with_story_members(store, rows, filters.exclude)
    total = int(results.total)
    more = offset + limit < total or (results.total_capped and len(results.hits) == limit)
    next_cursor = encode_offset(offset + limit) if more else None
    return Page(
        items=items, next_cursor=next_cursor, total=total, total_capped=results.total_capped,
        snippets={int(hit.id): hit.snippet for hit in results.hits if hit.snippet},
    )


def _with_story_members(store: ReadStore, rows: list[StoredEntry], exclude: tuple[str, ...] = ()) -> list[RiverItem]:
    """Each entry with the other sources of its story ("also published by"), excluded ones left out."""
    story_ids = [e.story_id for e in rows if e.story_id is not None]
    members = store.entries.story_members(story_ids, with_content=False) if story_ids else {}
    items = []
    for entry in rows:
        seen = {entry.source, *exclude}
        also = []
        # cast: EntryRepo.list shadows the builtin in the store's annotations (mypy).
        group = cast("Iterable[StoredEntry]", members.get(entry.story_id or -1) or ())
        for other in group:
            if other.source not in seen:
                seen.add(other.source)
                also.append(other)
        items.append(RiverItem(entry=entry, also=tuple(also)))
    return items


@dataclass(frozen=True)
class SourceRow:
    config: SourceConfig
    state: SourceState | None
    #: Relay outbox status by target ({target: {"posted": n, ..., "last_error": ...}}).
    relay: dict[str, dict[str, Any]] | None = None
    #: For an ``activitypub`` source: where our Follow stands (pending, accepted, rejected).
    follow: str | None = None


def _follows(store: ReadStore) -> dict[str, str]:
    return {f.source: f.state for f in store.ap_following.all() if f.source}


def source_rows(store: ReadStore) -> list[SourceRow]:
    states = {s.slug: s for s in store.sources.states()}
    follows = _follows(store)
    rows = [SourceRow(c, states.get(c.slug), follow=follows.get(c.slug)) for c in store.sources.configs()]
    return sorted(rows, key=lambda r: r.config.name.casefold())


#: ``/sources`` lists what needs the operator first: failing, then disabled sources.
_ATTENTION = {"failing": 0, "disabled": 1}


def failing_first(rows: list[SourceRow]) -> list[SourceRow]:
    return sorted(rows, key=lambda r: _ATTENTION.get(r.state.status if r.state else "never", 2))


@dataclass(frozen=True)
class SourceHealth:
    """How many configured sources are in each state (the river and ``/sources`` say it)."""

    total: int = 0
    working: int = 0  # ok or not modified
    failing: int = 0
    disabled: int = 0
    never: int = 0  # not fetched yet

    @property
    def broken(self) -> int:
        return self.failing + self.disabled

    @property
    def all_broken(self) -> bool:
        """Every source failing or disabled: nothing new can reach the river."""
        return self.total > 0 and self.broken == self.total


    @classmethod
    def of(cls, counts: dict[str, int]) -> SourceHealth:
        """From counts by status (``ok``, ``not_modified``, ``failing``, ``disabled``, ``never``)."""
        return cls(
            total=sum(counts.values()), working=counts.get("ok", 0) + counts.get("not_modified", 0),
            failing=counts.get("failing", 0), disabled=counts.get("disabled", 0), never=counts.get("never", 0),
        )


def source_health(store: ReadStore) -> SourceHealth:
    return SourceHealth.of(store.sources.counts_by_status())


def rows_health(rows: list[SourceRow]) -> SourceHealth:
    return SourceHealth.of(dict(Counter(r.state.status if r.state else "never" for r in rows)))


@dataclass(frozen=True)
class BlueskyLinks:
    """bsky.app addresses of the published feeds (display name, URL), list and starter pack."""

    feeds: tuple[tuple[str, str], ...]
    list_url: str | None
    starter_pack_url: str | None


def bluesky_links(store: ReadStore, config: Config) -> BlueskyLinks | None:
    """What the sources page offers Bluesky users, once ``bluesky publish`` has run."""
    feeds = config.bluesky_feed
    if feeds is None:
        return None
    published = store.bluesky_feed.published()
    if published is None:
        return None
    names = {f.short_name: f.display_name for f in feeds.feeds}
    return BlueskyLinks(
        feeds=tuple((names[name], url) for name, url in published.feed_links() if name in names),
        list_url=published.list_link if feeds.list else None,
        starter_pack_url=published.starter_pack_link if feeds.starter_pack else None,
    )


def source_row(store: ReadStore, slug: str) -> SourceRow | None:
    for config in store.sources.configs():
        if config.slug == slug:
            deliveries = store.ap_deliveries.status_by_source(slug)
            relay = with_deliveries(store.outbox.status_by_source(slug), deliveries).get(slug)
            return SourceRow(config, store.sources.get(slug), relay, follow=_follows(store).get(slug))
    return None


def health(store: ReadStore, index: SearchIndexLike | None) -> dict[str, Any]:
    """Database and index reachability for ``/healthz``."""
    database = store.ping()
    index_state: bool | None = None
    if index is not None:
        try:
            index_state = bool(index.ping())
        except Exception:  # whatever the engine raises, /healthz says "unreachable"
            index_state = False
    return {"database": database, "index": index_state}


def metrics_figures(store: ReadStore) -> tuple[dict[str, int], int, dict[tuple[str, str], int]]:
    return store.sources.counts_by_status(), store.entries.count(), store.outbox.counts()
