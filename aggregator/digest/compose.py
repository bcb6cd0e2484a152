"""What one day's digest holds for one subscriber: pure functions, no I/O, no clock.

The window rule: a digest holds the stories first seen since the previous digest was cut
(``[previous.window_end, this.window_end)``); the first digest looks back 24 hours. The
window ends at the configured ``send_at`` of the digest's day in the configured time zone,
so a digest's content does not depend on when the sending process happened to wake up.

Each story appears once: the first of its entries that passes the subscriber's filters is
shown (title, source, a short plain summary, the direct link to the original with its
tracking parameters removed), the other sources that ran it are listed as "also published
by". Groups (by source or by tag) and the items in them come in a stable order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ..model import ALL_STORIES, DigestFilters, DigestGrouping, SourceConfig, StoredEntry
from ..parse.identity import strip_tracking
from ..parse.sanitize import html_to_text, plain_title

#: The first digest looks back this far.
FIRST_WINDOW = timedelta(hours=24)
#: Entries published this long before the window's start are a back catalogue (a source
#: just added), not the day's news.
BACKLOG = timedelta(hours=24)
#: A digest holds at most this many stories (newest first); a window after a long outage
#: must not make a mail nobody can read.
MAX_STORIES = 500
SUMMARY_LIMIT = 280
TITLE_LIMIT = 300


@dataclass(frozen=True)
class Story:
    """A story as the store has it: its first entry and the other sources' entries."""

    primary: StoredEntry
    also: tuple[StoredEntry, ...] = ()

    @property
    def members(self) -> tuple[StoredEntry, ...]:
        return (self.primary, *self.also)


@dataclass(frozen=True)
class AlsoPublished:
    source: str
    source_name: str
    url: str | None


@dataclass(frozen=True)
class DigestItem:
    entry_id: int
    title: str
    source: str
    source_name: str
    url: str | None  # the original, without tracking parameters; None when unsafe or absent
    summary: str  # plain text, at most SUMMARY_LIMIT characters
    published: datetime
    language: str | None
    tags: tuple[str, ...]
    also: tuple[AlsoPublished, ...] = ()


@dataclass(frozen=True)
class DigestGroup:
    """``key`` is a source slug or a tag; ``label`` the source's name or the tag. The
    group of stories without any tag has key and label ``""`` (templates name it)."""

    key: str
    label: str
    items: tuple[DigestItem, ...]


@dataclass(frozen=True)
class Digest:
    day: date
    window_start: datetime
    window_end: datetime
    group_by: DigestGrouping
    groups: tuple[DigestGroup, ...]

    @property
    def count(self) -> int:
        return sum(len(g.items) for g in self.groups)

    @property
    def empty(self) -> bool:
        """No mail on a day with nothing new."""
        return not self.groups

    def items(self) -> list[DigestItem]:
        return [item for group in self.groups for item in group.items]


# -- the calendar ---------------------------------------------------------------------------


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date of an instant in the digest's time zone."""
    return instant.astimezone(zone).date()


def send_instant(day: date, send_at: time, zone: ZoneInfo) -> datetime:
    """When that day's digest is due, in UTC.

    DST-safe through ``zoneinfo``: on the spring-forward day a ``send_at`` inside the
    missing hour (02:30 in Paris) falls one hour later in wall time (03:30, fold 0); on
    the fall-back day an ambiguous time is its first occurrence.
    """
    return datetime.combine(day, send_at, tzinfo=zone).astimezone(UTC)


def due_day(now: datetime, send_at: time, zone: ZoneInfo) -> date | None:
    """Today's date (in the zone) once today's send time has passed, else None."""
    today = local_day(now, zone)
    return today if now >= send_instant(today, send_at, zone) else None


def window(previous_end: datetime | None, end: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a digest: from the end of the previous one, or 24 hours back."""
    start = previous_end if previous_end is not None else end - FIRST_WINDOW
    return (min(start, end), end)


# -- composing ------------------------------------------------------------------------------


def compose(
    stories: Sequence[Story],
    *,
    day: date,
    window_start: datetime,
    window_end: datetime,
    sources: Mapping[str, SourceConfig],
    filters: DigestFilters = ALL_STORIES,
    group_by: DigestGrouping = "source",
) -> Digest:
    """The digest of these stories for one subscriber's filters (empty: no mail)."""
    wanted_sources = frozenset(filters.sources)
    wanted_tags = frozenset(t.lower() for t in filters.tags)
    wanted_langs = tuple(lang.lower() for lang in filters.languages)
    items: list[tuple[str, str, DigestItem]] = []
    for story in stories:
        members = [m for m in story.members if not m.deleted]
        shown = next((m for m in members if _passes(m, sources, wanted_sources, wanted_tags, wanted_langs)), None)
        if shown is None:
            continue
        item = _item(shown, [m for m in members if m is not shown], sources)
        if group_by == "tag":
            tag = next((t for t in item.tags if t in wanted_tags), None) if wanted_tags else None
            key = tag or (item.tags[0] if item.tags else "")
            label = key
        else:
            key, label = item.source, item.source_name
        items.append((key, label, item))
    groups: dict[str, tuple[str, list[DigestItem]]] = {}
    for key, label, item in items:
        groups.setdefault(key, (label, []))[1].append(item)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0] == "", kv[1][0].casefold(), kv[0]))
    return Digest(
        day=day,
        window_start=window_start,
        window_end=window_end,
        group_by=group_by,
        groups=tuple(
            DigestGroup(key=key, label=label, items=tuple(sorted(its, key=lambda i: (i.published, i.entry_id), reverse=True)))
            for key, (label, its) in ordered
        ),
    )


def _language(entry: StoredEntry, sources: Mapping[str, SourceConfig]) -> str | None:
    if entry.language:
        return entry.language.lower()
    source = sources.get(entry.source)
    return source.language.lower() if source and source.language else None


def _passes(
    entry: StoredEntry,
    sources: Mapping[str, SourceConfig],
    wanted_sources: frozenset[str],
    wanted_tags: frozenset[str],
    wanted_langs: tuple[str, ...],
) -> bool:
    if wanted_sources and entry.source not in wanted_sources:
        return False
    if wanted_tags and not wanted_tags.intersection(entry.tags):
        return False
    if wanted_langs:
        lang = _language(entry, sources)
        if lang is None or not any(lang == w or lang.startswith(w + "-") for w in wanted_langs):
            return False
    return True


def _item(entry: StoredEntry, others: Iterable[StoredEntry], sources: Mapping[str, SourceConfig]) -> DigestItem:
    seen = {entry.source}
    also = []
    for other in others:
        if other.source in seen:
            continue
        seen.add(other.source)
        also.append(AlsoPublished(other.source, _source_name(other.source, sources), clean_link(other.url)))
    title = _shorten(plain_title(entry.title), TITLE_LIMIT)
    summary = summary_of(entry)
    return DigestItem(
        entry_id=entry.id,
        title=title or _shorten(summary, 120),
        source=entry.source,
        source_name=_source_name(entry.source, sources),
        url=clean_link(entry.url),
        summary=summary,
        published=entry.published,
        language=_language(entry, sources),
        tags=entry.tags,
        also=tuple(also),
    )


def _source_name(slug: str, sources: Mapping[str, SourceConfig]) -> str:
    source = sources.get(slug)
    return source.name if source else slug


def clean_link(url: str | None) -> str | None:
    """The direct link to the original: http(s) only, tracking parameters removed."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url.strip()):
        return None
    return strip_tracking(url)


def summary_of(entry: StoredEntry, limit: int = SUMMARY_LIMIT) -> str:
    """A short plain summary on one line: the feed's summary, else the article's text."""
    text = html_to_text(entry.summary) if entry.summary else entry.text
    return _shorten(" ".join(text.split()), limit)


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    room = limit - 1  # the ellipsis counts
    cut = text.rfind(" ", 0, room)
    return text[: cut if cut > room // 2 else room].rstrip(" ,;:.-") + "…"
