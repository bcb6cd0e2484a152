"""What only the PostgreSQL engine does: accent folding in SQL, the bounded ranking window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from aggregator.errors import StoreError
from aggregator.index import SearchRequest, postgres
from aggregator.index.postgres import PostgresIndex
from aggregator.store import Store

from . import corpus

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_url: str, clock) -> Iterator[Store]:
    store = Store(pg_url, clock=clock)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


@pytest.mark.parametrize(
    "config, sample",
    [
        ("french", "Les grèves policières de l'État à Besançon, élections et réformes"),
        ("german", "Demonstration gegen Polizeigewalt in Zürich, Straßen und Grüße"),
        # unaccent.rules turns these letters into a quote (ʼ) or a quote and a letter (ŉ):
        # the whole-text fast path must fall back to folding lexeme by lexeme.
        ("simple", "oʼclock ŉ élan a\\b c'd ½ Ångström"),
        ("simple", ""),
    ],
)
def test_fast_fold_equals_lexeme_by_lexeme_fold(pg_store: Store, config: str, sample: str) -> None:
    with pg_store.db.engine.connect() as conn:
        fast, slow = conn.execute(
            text(
                "SELECT aggregator_fold(v)::text, aggregator_fold_lexemes(v)::text "
                "FROM (SELECT setweight(to_tsvector(CAST(:c AS regconfig), :t), 'B') AS v) AS s"
            ),
            {"c": config, "t": sample},
        ).one()
    assert fast == slow
    assert "é" not in fast and "ü" not in fast and "ß" not in fast


def _many(pg_store: Store, n: int) -> dict[str, int]:
    pg_store.sources.sync(corpus.SOURCES)
    docs = [
        corpus.Doc(f"m{i}", "rebellyon", f"Grève numéro {i}" if i % 3 == 0 else f"Assemblée {i}",
                   "Piquet de grève au dépôt." if i % 3 else "Rien.", days_ago=float(i))
        for i in range(n)
    ]
    return corpus.save(pg_store, docs)


def test_pages_past_the_ranking_window_follow_by_date(
    pg_store: Store, clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _many(pg_store, 30)
    index = PostgresIndex(pg_store, clock=clock)
    index.sync()
    everything = index.search(SearchRequest("grève", limit=100))
    assert everything.total == len(everything.hits) == 30
    monkeypatch.setattr(postgres, "RANK_WINDOW", 6)
    windowed = index.search(SearchRequest("grève", limit=100))
    assert windowed.total == 30
    assert {h.id for h in windowed.hits} == {h.id for h in everything.hits}
    newest = sorted(everything.hits, key=lambda h: h.published, reverse=True)
    # The six most recent are ranked (titles first), the rest listed newest first.
    assert {h.id for h in windowed.hits[:6]} == {h.id for h in newest[:6]}
    assert [h.id for h in windowed.hits[:2]] == [ids["m0"], ids["m3"]]
    assert [h.id for h in windowed.hits[6:]] == [h.id for h in newest[6:]]
    # Pages cut anywhere, across the window's edge too, add up to the same list.
    for size in (4, 5, 7):
        paged = [h.id for start in range(0, 30, size) for h in index.search(SearchRequest("grève", limit=size, offset=start)).hits]
        assert paged == [h.id for h in windowed.hits]


def test_a_deleted_entry_is_hidden_before_the_next_sync(pg_store: Store, clock) -> None:
    ids = corpus.load(pg_store)
    index = PostgresIndex(pg_store, clock=clock)
    index.sync()
    pg_store.entries.mark_deleted([ids["faim"]], now=clock())
    assert ids["faim"] not in {h.id for h in index.search(SearchRequest("grève", limit=50)).hits}
    index.sync()
    assert ids["faim"] not in {h.id for h in index.search(SearchRequest("grève", limit=50)).hits}


def test_filter_columns_follow_an_edit(pg_store: Store, clock) -> None:
    ids = corpus.load(pg_store)
    index = PostgresIndex(pg_store, clock=clock)
    index.sync()
    assert ids["greve-1995"] in {h.id for h in index.search(SearchRequest("grève before:2026-11-01")).hits}
    clock.advance(60)
    moved = corpus.Doc("greve-1995", "paris-luttes", "Grève historique de décembre",
                       "Retour sur un grand mouvement social, republié.", days_ago=0.5)
    corpus.save(pg_store, [moved])
    index.sync()
    assert ids["greve-1995"] not in {h.id for h in index.search(SearchRequest("grève before:2026-11-01")).hits}
    [hit] = index.search(SearchRequest("republié")).hits
    assert hit.published > corpus.NOW - timedelta(days=1)


def test_ping_reads_the_search_table_and_fails_while_the_database_is_down(pg_store: Store, clock) -> None:
    assert PostgresIndex(pg_store, clock=clock).ping() is True
    from tests.conftest import free_port

    dead = Store(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=2", clock=clock)
    try:
        with pytest.raises(StoreError):
            PostgresIndex(dead, clock=clock).ping()
    finally:
        dead.close()


def test_the_count_stops_at_the_cap_and_says_so(pg_store: Store, clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``COUNT_CAP`` matches the total is the cap, flagged as a lower bound; at or
    under it, the exact number. Pages keep coming while a capped search fills them."""
    _many(pg_store, 30)
    index = PostgresIndex(pg_store, clock=clock)
    index.sync()
    exact = index.search(SearchRequest("grève", limit=5))
    assert (exact.total, exact.total_capped) == (30, False)
    monkeypatch.setattr(postgres, "COUNT_CAP", 30)
    at_cap = index.search(SearchRequest("grève", limit=5))
    assert (at_cap.total, at_cap.total_capped) == (30, False)
    monkeypatch.setattr(postgres, "COUNT_CAP", 12)
    capped = index.search(SearchRequest("grève", limit=5))
    assert (capped.total, capped.total_capped) == (12, True)
    assert [h.id for h in capped.hits] == [h.id for h in exact.hits]
    narrow = index.search(SearchRequest("numéro", limit=5))  # ten titles: under the cap
    assert (narrow.total, narrow.total_capped) == (10, False)
