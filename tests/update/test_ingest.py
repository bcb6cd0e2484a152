"""The one write path: enrich (language, tags) then decide then save, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aggregator.model import EntryData, SourceConfig
from aggregator.store import Store
from aggregator.update.ingest import RelayPolicy, enrich, ingest, merge_tags

SOURCE = SourceConfig(slug="media", name="Média", kind="feed", url="https://media.example/feed", language="fr",
                      tags=("Lyon", "luttes"))


def entry(guid: str, title: str, **kw: object) -> EntryData:
    return EntryData(guid=guid, url=f"https://media.example/{guid}", title=title, content_hash=guid, **kw)  # type: ignore[arg-type]


def test_enrich_fills_the_language_and_merges_tags() -> None:
    plain, english = enrich(SOURCE, [entry("a", "Un titre", tags=("Grève ", "lyon")),
                                     entry("b", "A title", language="en")])
    assert plain.language == "fr" and english.language == "en"
    assert plain.tags == ("lyon", "luttes", "grève")
    assert english.tags == ("lyon", "luttes")


def test_merge_tags_normalizes_and_keeps_first_occurrences() -> None:
    assert merge_tags(["Gilets  Jaunes", "", "  "], ["gilets jaunes", "ZAD"]) == ("gilets jaunes", "zad")


def test_ingest_stores_enriched_entries_and_queues_relay_once_per_story(store: Store, clock) -> None:
    other = SourceConfig(slug="other", name="Autre", kind="feed", url="https://other.example/feed")
    store.sources.sync([SOURCE, other])
    policy = RelayPolicy(targets=("mastodon",), backlog=timedelta(hours=24))
    title = "Expulsion du squat de la rue des Lilas ce matin"
    first = ingest(store, SOURCE, [entry("a", title, published=clock())], now=clock(), policy=policy)
    second = ingest(store, other, [entry("b", title + " !", published=clock())], now=clock(), policy=policy)
    assert (first.new, second.new) == (1, 1)
    assert [c.relay for c in second.decision.new] == [True], "decide says relay-worthy..."
    [row] = store.outbox.all()  # ...the store keeps one story relayed once
    [stored] = store.entries.newest(source="media")
    assert row.entry_id == stored.id and stored.language == "fr" and stored.tags == ("lyon", "luttes")
    again = ingest(store, SOURCE, [entry("a", title, published=clock())], now=clock(), policy=policy)
    assert (again.new, again.updated, again.decision.unchanged) == (0, 0, 1)


def test_ingest_many_is_ingest_for_each_source_in_one_transaction(store: Store, clock) -> None:
    from aggregator.update.ingest import ingest_many

    other = SourceConfig(slug="other", name="Autre", kind="feed", url="https://other.example/feed")
    store.sources.sync([SOURCE, other])
    policy = RelayPolicy(targets=("mastodon",), backlog=timedelta(hours=24))
    title = "Rassemblement de soutien aux grévistes du dépôt de bus"
    done = ingest_many(store, [(other, [entry("b", title, published=clock())]),
                               (SOURCE, [entry("a", title, published=clock()), entry("c", "Autre sujet ici")])],
                       now=clock(), policy=policy)
    assert [(d.new, len(d.decision.new)) for d in done] == [(1, 1), (2, 2)]
    [row, _] = sorted(store.outbox.all(), key=lambda r: r.entry_id)
    [first] = store.entries.newest(source="other")
    assert row.entry_id == first.id, "the batch's first source opens the shared story"
    assert {e.tags for e in store.entries.newest(source="media")} == {("lyon", "luttes")}
    with pytest.raises(ValueError, match="twice"):
        ingest_many(store, [(SOURCE, []), (SOURCE, [])], now=clock(), policy=policy)
