"""The index follows the store through the change log: deletes, edits, crashes, rebuilds."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from aggregator.errors import StoreError
from aggregator.index import SearchIndex, SearchRequest, open_index
from aggregator.index.embedded import TantivyIndex
from aggregator.store import Store

from . import corpus

QUERIES = ["grève", "manifestation", "l'État", "tag:logement", '"grève de la faim"', "strike OR streik"]


def snapshot(index: SearchIndex) -> list[list[tuple[int, str]]]:
    return [[(h.id, h.snippet) for h in index.search(SearchRequest(q, limit=50)).hits] for q in QUERIES]


def test_ping_answers_for_both_engines(index: SearchIndex) -> None:
    """What /healthz asks: the engine can answer (a broken one raises; see tests/web)."""
    assert index.ping() is True


def test_deleted_and_edited_entries_follow(store: Store, index: SearchIndex, ids: dict[str, int], clock) -> None:
    store.entries.mark_deleted([ids["faim"]], now=clock())
    clock.advance(60)
    edited = corpus.Doc("greve", "paris-luttes", "Blocage du dépôt de bus à Lyon ce jeudi",
                        "Les cheminots appellent au blocage.")
    corpus.save(store, [edited])
    assert store.index_log.backlog() == 2
    assert index.sync() == 2
    assert store.index_log.backlog() == 0
    found = {h.id for h in index.search(SearchRequest("grève", limit=50)).hits}
    assert ids["faim"] not in found and ids["greve"] not in found
    assert [h.id for h in index.search(SearchRequest("blocage dépôt")).hits] == [ids["greve"]]


def test_log_is_consumed_only_after_the_index_commits(
    store: Store, index: SearchIndex, ids: dict[str, int], monkeypatch: pytest.MonkeyPatch, clock
) -> None:
    corpus.save(store, [corpus.Doc("crash", "rebellyon", "Occupation du rectorat", "Après la grève.")])
    assert store.index_log.backlog() == 1

    def crash(_ids: object) -> None:
        raise StoreError("database went away")

    with monkeypatch.context() as m:
        m.setattr(store.index_log, "consume", crash)
        with pytest.raises(StoreError):
            index.sync()
    assert store.index_log.backlog() == 1  # still pending after the crash
    assert index.sync() == 1
    assert store.index_log.backlog() == 0
    hits = index.search(SearchRequest("rectorat")).hits
    assert len(hits) == 1  # applied twice, found once
    assert len({h.id for h in index.search(SearchRequest("grève", limit=50)).hits}) == index.search(SearchRequest("grève", limit=50)).total


def test_reindex_from_scratch_gives_the_same_results(store: Store, index: SearchIndex, tmp_path: Path, clock) -> None:
    before = snapshot(index)
    assert all(before)
    index.close()
    shutil.rmtree(tmp_path / "data", ignore_errors=True)
    fresh = open_index(store, tmp_path / "data", clock=clock)
    try:
        assert fresh.reindex() == len(corpus.DOCS)
        assert snapshot(fresh) == before
        assert store.index_log.backlog() == 0
    finally:
        fresh.close()


def test_search_works_while_a_crawl_writes(store: Store, index: SearchIndex, clock) -> None:
    errors: list[BaseException] = []
    done = threading.Event()

    def crawl() -> None:
        try:
            for n in range(15):
                corpus.save(store, [corpus.Doc(f"live-{n}", "rebellyon", f"Grève numéro {n} au dépôt", "Piquet de grève.")])
                index.sync()
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=crawl)
    writer.start()
    seen = 0
    while not done.is_set():
        results = index.search(SearchRequest("grève", limit=50))
        assert results.total >= len(corpus.DOCS) // 3
        assert len({h.id for h in results.hits}) == len(results.hits)
        seen = max(seen, results.total)
    writer.join()
    assert not errors
    index.sync()
    assert index.search(SearchRequest("piquet", limit=50)).total == 15


def test_a_busy_writer_leaves_the_log_for_later(tmp_path: Path, clock) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", clock=clock)
    store.upgrade()
    try:
        corpus.load(store)
        first = TantivyIndex(store, tmp_path / "index", clock=clock)
        assert first.sync() == len(corpus.DOCS)  # the first sync builds the new index
        corpus.save(store, [corpus.Doc("later", "rebellyon", "Rassemblement au port", "Texte.")])
        other = TantivyIndex(store, tmp_path / "index", clock=clock)  # say, `aggregator search`
        held = first.index.writer(heap_size=15_000_000, num_threads=1)  # say, `aggregator run`
        try:
            assert other.sync() == 0
            assert store.index_log.backlog() == 1
        finally:
            held.wait_merging_threads()
        assert other.sync() == 1
        assert [h.title for h in first.search(SearchRequest("port")).hits] == ["Rassemblement au port"]
    finally:
        store.close()


def test_a_deleted_index_directory_is_rebuilt_by_the_next_sync(tmp_path: Path, clock) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", clock=clock)
    store.upgrade()
    try:
        corpus.load(store)
        index = TantivyIndex(store, tmp_path / "index", clock=clock)
        index.sync()
        expected = snapshot(index)
        shutil.rmtree(tmp_path / "index")
        again = TantivyIndex(store, tmp_path / "index", clock=clock)
        assert again.search(SearchRequest("grève")).total == 0
        again.sync()  # the log is empty, but the index knows it is new
        assert snapshot(again) == expected
    finally:
        store.close()


def test_an_index_of_the_previous_analysis_is_rebuilt_on_upgrade(tmp_path: Path, clock) -> None:
    """Version 1 indexed words stemmed then folded only ("universite" found nothing)."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}", clock=clock)
    store.upgrade()
    try:
        ids = corpus.load(store)
        index = TantivyIndex(store, tmp_path / "index", clock=clock)
        index.sync()
        index.close()
        marker = tmp_path / "index" / "aggregator-index.json"
        marker.write_text('{"version": 1, "complete": true}', "utf-8")  # as version 1 left it
        upgraded = TantivyIndex(store, tmp_path / "index", clock=clock)
        assert upgraded.search(SearchRequest("grève")).total == 0  # the old files are gone
        assert store.index_log.backlog() == 0
        upgraded.sync()  # rebuilt from the store, though the change log is empty
        assert [h.id for h in upgraded.search(SearchRequest("universite")).hits] == [ids["universite"]]
        assert '"version": 2' in marker.read_text("utf-8")
    finally:
        store.close()
