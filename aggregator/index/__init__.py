"""Full-text search: tantivy embedded for SQLite deployments, PostgreSQL FTS otherwise.

Both pull changes from the store's ``index_log`` on their own schedule (``sync``), never
from the write path, and answer the same query language (see ``query.py``).
"""

from __future__ import annotations

from pathlib import Path

from ..model import Clock, utcnow
from ..store import Store
from .query import ParsedQuery, parse
from .types import SearchHit, SearchIndex, SearchReader, SearchRequest, SearchResults

__all__ = [
    "ParsedQuery", "SearchHit", "SearchIndex", "SearchReader", "SearchRequest", "SearchResults",
    "open_index", "parse",
]


def open_index(store: Store, data_dir: Path, *, clock: Clock = utcnow) -> SearchIndex:
    """The search index for this store: PostgreSQL's own when the store is PostgreSQL.

    Raises:
        SearchIndexError: the embedded index directory cannot be opened.
    """
    if store.dialect == "postgresql":
        from .postgres import PostgresIndex

        return PostgresIndex(store, clock=clock)
    from .embedded import TantivyIndex

    return TantivyIndex(store, Path(data_dir) / "index", clock=clock)
