"""Search fixtures: the store fixture (SQLite + PostgreSQL) filled with the French corpus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.index import SearchIndex, open_index
from aggregator.store import Store

from . import corpus


@pytest.fixture
def ids(store: Store) -> dict[str, int]:
    return corpus.load(store)


@pytest.fixture
def index(store: Store, ids: dict[str, int], tmp_path: Path, clock) -> Iterator[SearchIndex]:
    idx = open_index(store, tmp_path / "data", clock=clock)
    idx.sync()
    assert store.index_log.backlog() == 0
    try:
        yield idx
    finally:
        idx.close()
