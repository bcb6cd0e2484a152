"""The search index as the web layer sees it: a narrow protocol, so views stay testable."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class SearchHitLike(Protocol):
    id: int
    source: str
    url: str | None
    title: str
    published: datetime
    score: float
    snippet: str


class SearchResultsLike(Protocol):
    hits: Any  # a sequence of SearchHitLike
    total: int
    query: str


class SearchIndexLike(Protocol):
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
    ) -> Any: ...
