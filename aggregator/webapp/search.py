"""The search index as the web layer sees it: only ``search``, so views stay testable.

The result types are the index's own (``aggregator.index.types``); a test may hand the
app any object with this one method.
"""

from __future__ import annotations

from typing import Protocol

from ..index.types import SearchResults


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
    ) -> SearchResults: ...
