"""``exclude`` in both engines: a filter inside the query, so totals and pages stay right."""

from __future__ import annotations

import pytest

from aggregator.index import SearchIndex, SearchRequest


@pytest.mark.parametrize("sort", ["date", "relevance"])
def test_excluded_sources_leave_results_totals_and_pages(index: SearchIndex, ids: dict[str, int], sort: str) -> None:
    everything = index.search(SearchRequest("grève OR logement OR manifestation", sort=sort, limit=50))
    kept = [h.id for h in everything.hits if h.source != "paris-luttes"]
    assert len(kept) < len(everything.hits) and kept, "the corpus has both kinds of hits"
    excluded = index.search(SearchRequest("grève OR logement OR manifestation", sort=sort, limit=50,
                                          exclude=("paris-luttes",)))
    assert int(excluded.total) == len(kept)
    if sort == "date":
        assert [h.id for h in excluded.hits] == kept
    else:
        assert sorted(h.id for h in excluded.hits) == sorted(kept)
    paged = [
        hit.id
        for offset in range(len(kept) + 1)
        for hit in index.search(SearchRequest("grève OR logement OR manifestation", sort=sort, limit=1, offset=offset,
                                              exclude=("paris-luttes",))).hits
    ]
    assert paged == [h.id for h in excluded.hits]


def test_exclusion_combines_with_the_query_own_filters(index: SearchIndex, ids: dict[str, int]) -> None:
    both = index.search(SearchRequest("expulsion -source:enough", exclude=("rebellyon",), limit=50))
    assert [h.id for h in both.hits] == [ids["expulsion"]]
    assert {h.source for h in index.search(SearchRequest("expulsion", limit=50)).hits} == {"paris-luttes", "rebellyon"}
    assert index.search(SearchRequest("source:rebellyon logement", exclude=("rebellyon",))).hits == []
