"""The one write path: enrich (language, tags) then decide then save, on both databases."""

from __future__ import annotations

from datetime import timedelta

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
