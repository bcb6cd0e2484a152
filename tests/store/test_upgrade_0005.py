"""Upgrading a store written by the previous version (migration 0005, issue 10).

Entries stored before kept their tracking parameters and their oversized fields, and on
PostgreSQL their search vectors knew only the stemmed-then-folded reading. After the
upgrade: clean links (GUIDs unchanged), bounded fields, and "universite" finds
"université" without waiting for a reindex.
"""

from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory
from sqlalchemy import text

from aggregator import limits
from aggregator.index.postgres import PostgresIndex
from aggregator.index.types import SearchRequest
from aggregator.model import EntryData
from aggregator.store import Store
from aggregator.store.migrate import alembic_config, upgrade
from tests.building import store_entries
from tests.search import corpus

HUGE_TITLE = "Titre " + "interminable " * 20_000


def _previous_revision(store: Store) -> str:
    script = ScriptDirectory.from_config(alembic_config(store.db.engine))
    previous = script.get_revision("0005").down_revision
    assert isinstance(previous, str)
    return previous


def _old_entries() -> list[EntryData]:
    when = corpus.NOW - timedelta(days=1)
    return [
        EntryData(guid="tracked", url="https://media.example/spip.php?article12&utm_source=rss&utm_medium=feed#xtor=RSS-3",
                  title="Assemblée ouverte à l'université de Nanterre", text="Le conseil de l'université a voté.",
                  summary="<p>Le conseil.</p>", published=when, content_hash="a"),
        EntryData(guid="huge", url="https://media.example/huge?fbclid=x", title=HUGE_TITLE,
                  text="Texte court.", summary="<p>" + "Long résumé. " * 2_000 + "</p>", published=when,
                  content_hash="b"),
    ]


def test_upgrade_cleans_links_bounds_fields_and_refolds_search(store_url: str, clock) -> None:
    store = Store(store_url, clock=clock)
    try:
        upgrade(store.db.engine, _previous_revision(store))
        store.sources.sync(corpus.SOURCES)
        store_entries(store, corpus.SOURCES[0], _old_entries())  # as the previous version stored them
        postgres = store.db.engine.dialect.name == "postgresql"
        if postgres:  # the previous version's vectors: stemmed, then folded
            with store.db.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO search_documents (entry_id, grp, vector, published, source_id, language) "
                    "SELECT id, 'fr', aggregator_search_vector('french', title, text), published, source_id, "
                    "language FROM entries"
                ))
            old = PostgresIndex(store, clock=clock)
            assert old.search(SearchRequest("universite")).total == 0  # the bug
        store.upgrade()

        by_guid = {e.guid: e for e in store.entries.newest(limit=10)}
        assert set(by_guid) == {"tracked", "huge"}  # identity untouched
        assert by_guid["tracked"].url == "https://media.example/spip.php?article12"
        assert by_guid["huge"].url == "https://media.example/huge"
        huge = store.entries.get_many([by_guid["huge"].id])[by_guid["huge"].id]
        assert len(huge.title) <= limits.MAX_TITLE_LENGTH + 1 and huge.title.endswith("…")
        assert huge.summary == "<p>Texte court.</p>"
        assert huge.content.startswith("<p>Long résumé.")  # the long text moved, not lost
        if postgres:
            index = PostgresIndex(store, clock=clock)
            hits = index.search(SearchRequest("universite")).hits  # no sync, no reindex
            assert [h.id for h in hits] == [by_guid["tracked"].id]
            assert "<mark>université</mark>" in hits[0].snippet
            assert index.search(SearchRequest("université")).total == 1
    finally:
        store.close()


def test_downgrade_restores_the_previous_analysis_and_upgrade_comes_back(store_url: str, clock) -> None:
    from alembic import command

    store = Store(store_url, clock=clock)
    try:
        store.upgrade()
        store.sources.sync(corpus.SOURCES)
        store_entries(store, corpus.SOURCES[0], [_old_entries()[0]])
        index = PostgresIndex(store, clock=clock) if store.db.engine.dialect.name == "postgresql" else None
        if index is not None:
            index.sync()
            assert index.search(SearchRequest("universite")).total == 1
        command.downgrade(alembic_config(store.db.engine), _previous_revision(store))
        if index is not None:  # the previous version's vectors again: stemmed, then folded
            assert index.search(SearchRequest("université")).total == 1
            assert index.search(SearchRequest("universite")).total == 0
        store.upgrade()
        if index is not None:
            assert index.search(SearchRequest("universite")).total == 1
    finally:
        store.close()
