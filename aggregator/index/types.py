"""What a search asks and answers, and the interfaces both engines implement.

A search is one ``SearchRequest``; the engines, the web and the CLI all pass that value,
so the list of parameters is written here only. The hit types are the model level's
(``aggregator.search_results``), shared with the store's PostgreSQL search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import SearchQueryError
from ..search_results import SearchHit, SearchResults

__all__ = ["SearchHit", "SearchIndex", "SearchReader", "SearchRequest", "SearchResults"]

MAX_LIMIT = 200
MAX_OFFSET = 10_000
SORTS = ("relevance", "date")


@dataclass(frozen=True)
class SearchRequest:
    """One search: the reader's query, the filters the form or the CLI adds, and the page.

    ``source``, ``tag`` and ``lang`` narrow the query's own filters (see ``query.py``);
    ``exclude`` leaves those sources out, like ``-source:`` in the query.
    Sort, limit and offset are checked here, so an out-of-range page never reaches an
    engine; the language code is checked by the engine, after the query is parsed (its
    filters may already rule the search out).

    Raises:
        SearchQueryError: unknown sort, or limit or offset out of range.
    """

    query: str
    source: str | None = None
    tag: str | None = None
    lang: str | None = None
    limit: int = 20
    offset: int = 0
    sort: str = "relevance"
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise SearchQueryError(f"Tri inconnu « {self.sort} » : relevance ou date. / Unknown sort.")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise SearchQueryError(f"limit doit être entre 1 et {MAX_LIMIT}. / limit out of range.")
        if not 0 <= self.offset <= MAX_OFFSET:
            raise SearchQueryError(f"offset doit être entre 0 et {MAX_OFFSET}. / offset out of range.")


class SearchReader(Protocol):
    """What readers of the index need (the web front end): searching, and a health check."""

    def search(self, request: SearchRequest) -> SearchResults:
        """One page of results.

        Raises:
            SearchQueryError: the query cannot be read (the reader's mistake).
            SearchIndexError: the index cannot answer.
        """
        ...

    def ping(self) -> bool:
        """True when the index can answer searches (``/healthz``); may raise when it cannot."""
        ...


class SearchIndex(SearchReader, Protocol):
    """The search index, whichever engine backs it (tantivy or PostgreSQL)."""

    def sync(self, *, batch: int = 1000) -> int:
        """Apply pending changes from the store's change log; returns rows applied."""
        ...

    def reindex(self) -> int:
        """Rebuild from the store; returns the number of entries indexed."""
        ...

    def doc_count(self) -> int:
        """Entries in the index (the benchmarks')."""
        ...

    def size_bytes(self) -> int:
        """The index's size on disk (the benchmarks')."""
        ...

    def close(self) -> None: ...
