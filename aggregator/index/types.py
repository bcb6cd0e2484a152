"""What a search answers, and the interface both engines implement."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SearchHit:
    """One result.

    ``snippet`` is HTML: the entry's original (not stemmed) text, HTML-escaped, where the
    only markup is ``<mark>…</mark>`` around the matched words; safe to render as is.
    """

    id: int
    source: str
    url: str | None
    title: str
    published: datetime
    score: float
    snippet: str


@dataclass(frozen=True)
class SearchResults:
    hits: list[SearchHit]
    total: int
    query: str


class SearchIndex(Protocol):
    """The search index, whichever engine backs it (tantivy or PostgreSQL)."""

    def sync(self, *, batch: int = 1000) -> int:
        """Apply pending changes from the store's change log; returns rows applied."""
        ...

    def reindex(self) -> int:
        """Rebuild from the store; returns the number of entries indexed."""
        ...

    def search(
        self,
        query: str,
        *,
        source: str | None = None,
        tag: str | None = None,
        lang: str | None = None,
        limit: int = 20,
        offset: int = 0,
        sort: str = "relevance",
    ) -> SearchResults: ...

    def close(self) -> None: ...
