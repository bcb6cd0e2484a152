"""The search index as the web layer sees it: ``search`` and ``ping`` only, so views stay testable.

The interface is the index's own ``SearchReader`` (one request type, one result type,
declared once in ``aggregator.index.types``); a test may hand the app any object with
those two methods.
"""

from __future__ import annotations

from ..index.types import SearchReader, SearchRequest, SearchResults

__all__ = ["SearchIndexLike", "SearchRequest", "SearchResults"]

#: The web's name for the index it reads (the app key, the views, the health check).
SearchIndexLike = SearchReader
