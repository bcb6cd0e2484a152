"""What a search answers: the hit and the page of hits, shared by the store and the index.

They sit at the model level so that the PostgreSQL search table (``store/search.py``)
can return the very hits the index hands the web and the CLI: the store may not import
the index, which sits above it. Plain values only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    """One page of hits, the number of matches in all, and the query as asked.

    ``total_capped``: the engine stopped counting at ``total`` (PostgreSQL counts at most
    ``COUNT_CAP`` matches: an exact count of a common word over a large archive cost more
    than the page itself). ``total`` is then a lower bound, shown as "more than"; it is
    never a wrong number.
    """

    hits: list[SearchHit]
    total: int
    query: str
    total_capped: bool = False
