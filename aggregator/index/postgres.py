"""Search on PostgreSQL deployments: the ``search_documents`` table, shared by every process.

Same change-log discipline as the embedded index: ``sync`` reads ``index_log``, writes the
table (one transaction), then consumes the rows. Analysis happens in PostgreSQL (the
``french``, ``english``, ``german`` and ``simple`` configurations, stems accent-folded
with ``unaccent``, and the same text folded before stemming, so a word typed without its
accents is found too); see store/search.py and migrations 0002 and 0005.
"""

from __future__ import annotations

from ..model import Clock, utcnow
from ..store import Store
from ..store.search import SearchDocument, SearchSpec
from . import analysis
from .common import MAX_BATCHES_PER_SYNC, MAX_TEXT_CHARS, log, pending_batch, prepare
from .query import ParsedQuery, Term
from .types import SearchRequest, SearchResults

#: Relevance ranks the most recent matches, this many; older matches follow by date. Ranking
#: every match of a common word grows with the archive (a quarter-second at 20,000 entries
#: for a word found in half of them); a thousand covers weeks of a busy aggregator.
RANK_WINDOW = 1000
#: Matches counted at most; past it a search says "more than" (``SearchResults.total_capped``).
COUNT_CAP = 10_000


class PostgresIndex:
    """PostgreSQL full-text search behind the SearchIndex interface."""

    def __init__(self, store: Store, *, clock: Clock = utcnow):
        self.store = store
        self.clock = clock
        self.repo = store.search

    def sync(self, *, batch: int = 1000) -> int:
        applied = 0
        for _ in range(MAX_BATCHES_PER_SYNC):
            rows, ids = pending_batch(self.store, batch)
            if not rows:
                break
            self._apply(ids)
            self.store.index_log.consume(r.id for r in rows)
            applied += len(rows)
            if len(rows) < batch:
                break
        if applied:
            log.info("index.synced", rows=applied)
        return applied

    def reindex(self) -> int:
        self.store.index_log.clear()  # before reading: see TantivyIndex._rebuild
        count, after = 0, 0
        while True:
            page = self.repo.live_languages(after=after, limit=2000)
            if not page:
                break
            self.repo.upsert([_document(i, lang) for i, lang in page], max_text_chars=MAX_TEXT_CHARS)
            count += len(page)
            after = page[-1][0]
        self.repo.prune()
        self.repo.refresh_statistics()
        log.info("index.rebuilt", entries=count)
        return count

    def _apply(self, ids: list[int]) -> None:
        live = self.repo.languages(ids)
        self.repo.delete(i for i in ids if i not in live)
        self.repo.upsert([_document(i, lang) for i, lang in live.items()], max_text_chars=MAX_TEXT_CHARS)

    def search(self, request: SearchRequest) -> SearchResults:
        parsed = prepare(request)
        query = request.query
        if parsed is None:
            return SearchResults([], 0, query)
        queries, headlines = self._analyse(parsed)
        if parsed.has_text and not queries:
            return SearchResults([], 0, query)
        spec = SearchSpec(
            queries=queries,
            match_all=not parsed.has_text,
            headlines=headlines,
            sources=parsed.sources,
            not_sources=parsed.not_sources,
            tags=parsed.tags,
            must_tags=parsed.must_tags,
            not_tags=parsed.not_tags,
            langs=parsed.langs,
            not_langs=parsed.not_langs,
            before=parsed.before,
            after=parsed.after,
            sort=request.sort, limit=request.limit, offset=request.offset,
            now=self.clock(),
            half_life_days=analysis.HALF_LIFE_DAYS,
            recency_weight=analysis.RECENCY_WEIGHT,
            rank_window=RANK_WINDOW,
            count_cap=COUNT_CAP,
        )
        hits, total, capped = self.repo.search(spec)
        return SearchResults(hits, total, query, total_capped=capped)

    def _analyse(self, parsed: ParsedQuery) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
        """Per language group: the tsquery to match, and the one to highlight with.

        Each term is read both ways (stemmed then folded, folded then stemmed), as the
        documents were indexed: "universite" matches "université" through the second.

        PostgreSQL analyses each term (``phraseto_tsquery``); only its output is combined
        here, so no reader's text is ever parsed as tsquery syntax.
        """
        if not parsed.has_text:
            return {}, {}
        groups = sorted({analysis.language_group(c) for c in parsed.langs}) if parsed.langs else list(analysis.GROUPS)
        terms: list[Term] = list(dict.fromkeys([*parsed.positive_terms(), *parsed.excluded]))
        pieces: list[tuple[str, str]] = []
        for group in groups:
            for term in terms:
                pieces.append((analysis.PG_CONFIGS[group], term.text))
                pieces.append((analysis.PG_HEADLINE_CONFIGS[group], term.text))
        analysed = iter(self.repo.analyze(pieces))
        queries: dict[str, str] = {}
        headlines: dict[str, tuple[str, str]] = {}
        for group in groups:
            match: dict[Term, str] = {}
            for term in terms:
                stemmed_first, folded_first = next(analysed), next(analysed)
                # Documents hold both readings (migration 0005): either one matches.
                readings = list(dict.fromkeys(q for q in (stemmed_first, folded_first) if q))
                match[term] = " | ".join(f"( {q} )" for q in readings) if len(readings) > 1 else "".join(readings)
            required = []
            for or_group in parsed.groups:
                alternatives = [f"( {match[t]} )" for t in or_group if match[t]]
                if alternatives:
                    required.append("( " + " | ".join(alternatives) + " )")
            if not required:
                continue  # every word is a stop word in this language: nothing matches
            excluded = [f"!( {match[t]} )" for t in parsed.excluded if match[t]]
            queries[group] = " & ".join(required + excluded)
            marks = [f"( {match[t]} )" for t in parsed.positive_terms() if match[t]]
            headlines[group] = (analysis.PG_HEADLINE_CONFIGS[group], " | ".join(marks))
        return queries, headlines

    def ping(self) -> bool:
        """The search table answers a read."""
        return self.repo.ping()

    def doc_count(self) -> int:
        return self.repo.count()

    def size_bytes(self) -> int:
        return self.repo.size_bytes()

    def close(self) -> None:
        """The store owns the connections."""


def _document(entry_id: int, language: str | None) -> SearchDocument:
    group = analysis.language_group(language)
    return SearchDocument(
        entry_id=entry_id, group=group, config=analysis.PG_CONFIGS[group],
        folded_config=analysis.PG_HEADLINE_CONFIGS[group],
    )
