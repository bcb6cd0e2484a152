"""The store applies decide's verdicts in one transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from aggregator.model import EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Store

from ..building import store_entries


def entry(guid: str, title: str, text: str = "texte", **kw: object) -> EntryData:
    return EntryData(guid=guid, url=f"https://example.org/{guid}", title=title, text=text,
                     summary=f"<p>{text}</p>", content_hash=content_hash(title, text), **kw)  # type: ignore[arg-type]


SOURCES = {
    "a": SourceConfig(slug="a", name="A", kind="feed", url="https://a.example/feed", tags=("local",)),
    "b": SourceConfig(slug="b", name="B", kind="feed", url="https://b.example/feed"),
}


def setup_sources(store: Store) -> None:
    store.sources.sync(SOURCES.values())


def save(store: Store, source: str, entries: list[EntryData]) -> tuple[int, int]:
    r = store_entries(store, SOURCES[source], entries, targets=("mastodon", "bluesky"))
    return r.new, r.updated


def test_new_updated_unchanged_and_logs(store: Store, clock) -> None:
    setup_sources(store)
    assert save(store, "a", [entry("1", "Grève générale à Lyon ce jeudi"), entry("2", "Court")]) == (2, 0)
    assert save(store, "a", [entry("1", "Grève générale à Lyon ce jeudi"), entry("2", "Court")]) == (0, 0)
    clock.advance(60)
    assert save(store, "a", [entry("1", "Grève générale à Lyon ce jeudi", "édité")]) == (0, 1)
    items = store.entries.newest(source="a")
    assert {e.guid for e in items} == {"1", "2"}
    assert next(e for e in items if e.guid == "1").text == "édité"
    assert store.index_log.backlog() == 3
    assert store.outbox.counts() == {("mastodon", "pending"): 2, ("bluesky", "pending"): 2}
    assert next(e for e in items if e.guid == "1").tags == ("local",)
    assert [e.guid for e in store.entries.newest(tag="local")] != []


def test_same_story_from_two_sources_is_one_river_item(store: Store, clock) -> None:
    setup_sources(store)
    save(store, "a", [entry("x", "Expulsion du squat de la rue des Lilas")])
    clock.advance(120)
    save(store, "b", [entry("y", "Expulsion du squat de la rue des lilas !")])
    river = store.entries.newest(stories_only=True)
    assert len(river) == 1 and river[0].source == "a"
    members = store.entries.story_members([river[0].story_id])
    assert [e.source for e in members[river[0].story_id]] == ["a", "b"]
    # the republished copy is not relayed a second time
    assert sum(store.outbox.counts().values()) == 2


def test_deleted_entry_stays_deleted(store: Store, clock) -> None:
    setup_sources(store)
    save(store, "a", [entry("1", "Un article supprimé par l'opératrice")])
    [e] = store.entries.newest(source="a")
    store.entries.mark_deleted([e.id], now=clock())
    clock.advance(3600)
    assert save(store, "a", [entry("1", "Un article supprimé par l'opératrice", "nouveau texte")]) == (0, 0)
    assert store.entries.newest(source="a") == []


def test_backlog_window_keeps_old_items_out_of_the_outbox(store: Store, clock) -> None:
    setup_sources(store)
    old = entry("old", "Un vieil article de l'an dernier", published=clock() - timedelta(days=300))
    future = entry("fut", "Un article daté du futur", published=clock() + timedelta(days=3))
    assert save(store, "a", [old, future]) == (2, 0)
    items = {e.guid: e for e in store.entries.newest(source="a")}
    assert items["fut"].published == clock()
    assert sum(store.outbox.counts().values()) == 2  # only "fut", for both targets


def test_lease_is_exclusive_until_expiry(store: Store, clock) -> None:
    setup_sources(store)
    now = clock()
    first = store.sources.lease("w1", now, seconds=60, limit=10)
    assert sorted(first) == ["a", "b"]
    assert store.sources.lease("w2", now, seconds=60, limit=10) == []
    assert sorted(store.sources.lease("w2", now + timedelta(seconds=61), seconds=60, limit=10)) == ["a", "b"]


def stories(store: Store) -> list[tuple[int | None, int]]:
    """(primary entry's guid, source count) of every story, in id order."""
    from sqlalchemy import select

    from aggregator.store import schema

    ST, E = schema.stories, schema.entries
    with store.db.read() as conn:
        rows = conn.execute(
            select(E.c.guid, ST.c.source_count).select_from(ST.outerjoin(E, E.c.id == ST.c.primary_entry_id))
            .order_by(ST.c.id)
        )
        return [(r.guid, r.source_count) for r in rows]


def test_a_batch_of_sources_is_stored_as_if_one_after_the_other(store: Store, clock) -> None:
    from aggregator.update.decide import decide

    setup_sources(store)
    title = "Manifestation contre la loi immigration samedi à Lyon"
    decisions = [
        (slug, decide(slug, [entry(guid, title, published=clock()), entry(guid + "-only", f"Court {slug}")], {},
                      now=clock(), relay=True, backlog=timedelta(hours=24)))
        for slug, guid in (("a", "x"), ("b", "y"))
    ]
    results = store.entries.save_many(decisions, now=clock(), targets=("mastodon",))
    assert [(r.new, r.updated) for r in results] == [(2, 0), (2, 0)]
    [shared] = [e for e in store.entries.newest(stories_only=True) if e.title == title]
    assert shared.source == "a", "the first source of the batch opens the story"
    assert sorted(stories(store)) == [("x", 2), ("x-only", 1), ("y-only", 1)]
    assert len(store.outbox.all()) == 3, "the shared story is relayed once"
    assert store.index_log.backlog() == 4


def test_an_entry_stored_meanwhile_by_another_crawler_leaves_no_empty_story(store: Store, clock) -> None:
    from aggregator.update.decide import decide

    setup_sources(store)
    save(store, "a", [entry("1", "Rassemblement devant la mairie ce soir à dix-huit heures")])
    # a crawler that read "nothing stored" before the first one wrote: its "new" entry
    # 1 (retitled) is already there, its entry 2 shares the new title
    retitled = "Rassemblement devant la préfecture demain matin à neuf heures"
    late = decide("a", [entry("1", retitled), entry("2", retitled)], {}, now=clock(), relay=True,
                  backlog=timedelta(hours=24))
    [result] = store.entries.save_many([("a", late)], now=clock())
    assert (result.new, len(result.new_ids)) == (1, 1)
    assert stories(store) == [("1", 1), ("2", 1)], "entry 2 opens the new story, counted once"
    assert {e.guid for e in store.entries.newest(stories_only=True)} == {"1", "2"}
    alone = decide("a", [entry("1", "Un tout autre titre pour le même article du site")], {}, now=clock(),
                   relay=True, backlog=timedelta(hours=24))
    assert store.entries.save_many([("a", alone)], now=clock())[0].new == 0
    assert stories(store) == [("1", 1), ("2", 1)], "a story with no entry of its own is not left behind"
