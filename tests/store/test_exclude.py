"""``exclude``: the river without some sources, stories shown through a copy when they have one."""

from __future__ import annotations

from datetime import timedelta

from aggregator.model import EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Cursor, Store

from ..building import store_entries

SOURCES = {
    slug: SourceConfig(slug=slug, name=slug.upper(), kind="feed", url=f"https://{slug}.example/feed")
    for slug in ("own", "first", "second")
}


def entry(guid: str, title: str, published, **kw: object) -> EntryData:  # type: ignore[no-untyped-def]
    return EntryData(guid=guid, url=f"https://example.org/{guid}", title=title, text=title, summary=f"<p>{title}</p>",
                     content_hash=content_hash(title, guid), published=published, **kw)  # type: ignore[arg-type]


def fill(store: Store, clock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Stories whose first copy is "own"'s, some shared with others, and the others' own."""
    store.sources.sync(SOURCES.values())
    t0 = clock()
    plan = [
        # (source, guid, title, minutes after t0): "own" publishes first, "first" and "second" copy it
        ("own", "o-shared", "Expulsion du squat de la rue des Lilas ce matin", 0),
        ("second", "s-shared", "Expulsion du squat de la rue des Lilas ce matin", 20),
        ("first", "f-shared", "Expulsion du squat de la rue des Lilas ce matin", 10),
        ("own", "o-alone", "Une assemblée de quartier que personne ne reprend", 30),
        ("first", "f-alone", "Grève des loyers dans tout le quartier nord", 40),
        ("own", "o-shared2", "Rassemblement devant la préfecture contre les expulsions", 50),
        ("second", "s-shared2", "Rassemblement devant la préfecture contre les expulsions", 60),
    ]
    for source, guid, title, minutes in plan:
        clock.now = t0 + timedelta(minutes=minutes)
        store_entries(store, SOURCES[source], [entry(guid, title, clock.now, language="fr",
                                                     tags=("logement",) if "shared" in guid else ())])
    return {e.guid: e.id for e in store.entries.newest(limit=100)}


def guids(rows) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.guid for e in rows]


def test_a_story_first_published_by_an_excluded_source_shows_through_its_earliest_copy(store: Store, clock) -> None:
    fill(store, clock)
    assert guids(store.entries.newest(stories_only=True)) == ["o-shared2", "f-alone", "o-alone", "o-shared"]
    river = store.entries.newest(stories_only=True, exclude=["own"])
    # "o-alone" has no other copy and disappears; the shared stories show through the
    # earliest copy of a source not excluded ("f-shared" before "s-shared", which is older
    # in id but later in date), once each.
    assert guids(river) == ["s-shared2", "f-alone", "f-shared"]
    assert guids(store.entries.newest(stories_only=True, exclude=["own", "first"])) == ["s-shared2", "s-shared"]
    assert store.entries.newest(stories_only=True, exclude=["own", "first", "second"]) == []
    assert guids(store.entries.newest(stories_only=True, exclude=["nobody"])) == guids(store.entries.newest(stories_only=True))


def test_exclusion_pages_like_the_river_and_combines_with_the_other_filters(store: Store, clock) -> None:
    fill(store, clock)
    pages, before = [], None
    while True:
        rows = store.entries.newest(stories_only=True, exclude=["own"], limit=1, before=before)
        if not rows:
            break
        pages.append(rows[0].guid)
        before = Cursor(rows[0].published, rows[0].id)
    assert pages == ["s-shared2", "f-alone", "f-shared"]
    assert guids(store.entries.newest(stories_only=True, exclude=["own"], tag="logement")) == ["s-shared2", "f-shared"]
    assert guids(store.entries.newest(stories_only=True, exclude=["own"], language="en")) == []
    # A source's own page lists its own entries; excluding that very source empties it.
    assert guids(store.entries.newest(source="first", exclude=["own"])) == ["f-alone", "f-shared"]
    assert store.entries.newest(source="own", exclude=["own"]) == []
    # Outside the river, exclusion simply drops the entries.
    assert "o-alone" not in guids(store.entries.newest(exclude=["own"], limit=100))


def test_a_deleted_copy_hands_the_story_to_the_next_one(store: Store, clock) -> None:
    ids = fill(store, clock)
    store.entries.mark_deleted([ids["f-shared"]], now=clock())
    assert guids(store.entries.newest(stories_only=True, exclude=["own"])) == ["s-shared2", "f-alone", "s-shared"]
