"""PostgreSQL full-text search: the ``search_documents`` table and its queries.

The search index (``aggregator.index``) decides what to index and how a reader's query
reads; this module only turns that into SQL. User text never reaches ``to_tsquery``: each
word or phrase goes through ``phraseto_tsquery`` (plain text in, lexemes out), and the
tsquery texts PostgreSQL returns are the only pieces the index combines with ``& | !``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    not_,
    or_,
    select,
    values,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from ..errors import SearchQueryError, StoreError
from ..search_results import SearchHit
from . import schema
from .base import Database

D = schema.search_documents
E = schema.entries
S = schema.sources
T = schema.entry_tags

# Private-use characters as ts_headline's StartSel/StopSel: the text is HTML-escaped after
# highlighting, then only these become <mark>; they are stripped from the text beforehand.
_SEL_START = "\ue000"
_SEL_STOP = "\ue001"
_HEADLINE_OPTIONS = (
    f"StartSel={_SEL_START}, StopSel={_SEL_STOP}, MaxWords=35, MinWords=15, ShortWord=2, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SearchDocument:
    """How one entry is analysed; its title, text and filter columns are read in SQL.

    Keeping the text out of Python halves what a sync moves over the wire.
    """

    entry_id: int
    group: str  # analysis group: fr, en, de, xx
    config: str  # PostgreSQL text search configuration, e.g. "french"
    #: The configuration that folds accents before stemming, e.g. "aggregator_french_hl":
    #: the vector holds both readings, so "universite" finds "université" (migration 0005).
    folded_config: str


@dataclass(frozen=True)
class SearchSpec:
    """A search, already analysed per language group.

    ``queries`` maps a group to the tsquery text its documents must match (groups absent
    match nothing); ``match_all`` lists every indexed entry instead (filters only).
    ``headlines`` maps a group to (configuration, tsquery text) for highlighting.
    """

    queries: Mapping[str, str]
    match_all: bool = False
    headlines: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    sources: Sequence[str] = ()
    not_sources: Sequence[str] = ()
    tags: Sequence[str] = ()  # any of them
    must_tags: Sequence[str] = ()  # every one of them
    not_tags: Sequence[str] = ()
    langs: Sequence[str] = ()
    not_langs: Sequence[str] = ()
    before: datetime | None = None
    after: datetime | None = None
    sort: str = "relevance"  # or "date"
    limit: int = 20
    offset: int = 0
    now: datetime | None = None
    half_life_days: float = 30.0
    recency_weight: float = 0.4
    #: Relevance ranks the most recent ``rank_window`` matches; past them, results follow
    #: in date order (see ``SearchRepo.search``).
    rank_window: int = 1000
    #: Matches are counted up to this many; past it the total is reported as capped.
    count_cap: int = 10_000


class SearchRepo:
    """The PostgreSQL search table. Nothing here runs on SQLite (tantivy serves there)."""

    def __init__(self, db: Database):
        self.db = db

    # -- maintenance (the index's sync and reindex) -------------------------------------

    def live_languages(self, *, after: int = 0, limit: int = 1000) -> list[tuple[int, str | None]]:
        """(id, language) of live entries in id order, in pages: what a rebuild walks."""
        query = (
            select(E.c.id, E.c.language)
            .where(E.c.id > after, E.c.deleted.is_(False))
            .order_by(E.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [(int(r.id), r.language) for r in conn.execute(query)]

    def languages(self, entry_ids: Iterable[int]) -> dict[int, str | None]:
        """The language of each named entry still live (absent: deleted or gone)."""
        ids = list(entry_ids)
        out: dict[int, str | None] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), 1000):
                query = select(E.c.id, E.c.language).where(
                    E.c.id.in_(ids[start : start + 1000]), E.c.deleted.is_(False)
                )
                out.update((int(r.id), r.language) for r in conn.execute(query))
        return out

    def upsert(self, docs: Sequence[SearchDocument], *, max_text_chars: int) -> None:
        """Analyse these entries from their stored title and text, in one statement a chunk."""
        if not docs:
            return
        with self.db.write() as conn:
            for start in range(0, len(docs), 500):
                chunk = docs[start : start + 500]
                part = values(
                    column("entry_id", Integer), column("grp", String), column("config", String),
                    column("folded", String), name="v",
                ).data([(d.entry_id, d.group, d.config, d.folded_config) for d in chunk])
                conn.execute(_upsert_from(part, max_text_chars))

    def delete(self, entry_ids: Iterable[int]) -> None:
        ids = list(entry_ids)
        with self.db.write() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(delete(D).where(D.c.entry_id.in_(ids[start : start + 500])))

    def refresh_statistics(self) -> None:
        """ANALYZE the table after a rebuild: without statistics the planner guesses a
        handful of matches per word and ranks every match instead of walking the
        published index (measured 22 ms against 9 ms at 20,000 entries)."""
        with self.db.write() as conn:
            conn.execute(sql_text("ANALYZE search_documents"))

    def prune(self) -> int:
        """Drop rows of entries deleted or gone (after a rebuild)."""
        live = select(E.c.id).where(E.c.deleted.is_(False))
        with self.db.write() as conn:
            return conn.execute(delete(D).where(D.c.entry_id.not_in(live))).rowcount or 0

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(D)).scalar() or 0)

    def ping(self) -> bool:
        """One row read from the table: the database is up and the table is there."""
        with self.db.read() as conn:
            conn.execute(select(D.c.entry_id).limit(1)).all()
        return True

    def size_bytes(self) -> int:
        """Table, TOAST and GIN index on disk (the benchmark's index size)."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.pg_total_relation_size(literal("search_documents")))).scalar() or 0)

    # -- queries ------------------------------------------------------------------------

    def analyze(self, pieces: Sequence[tuple[str, str]]) -> list[str]:
        """Each (configuration, plain text) as a tsquery text, stemmed then accent-folded.

        Empty when the text holds no searchable word (only stop words or punctuation).
        (The folded-first configurations fold before stemming; folding again changes nothing.)
        """
        if not pieces:
            return []
        rows = values(column("i", Integer), column("cfg", String), column("t", String), name="p").data(
            [(i, cfg, text) for i, (cfg, text) in enumerate(pieces)]
        )
        query = cast(func.phraseto_tsquery(cast(rows.c.cfg, REGCONFIG), rows.c.t), String)
        stmt = select(rows.c.i, func.aggregator_unaccent(query)).order_by(rows.c.i)
        out = [""] * len(pieces)
        try:
            with self.db.engine.connect() as conn:
                for i, text in conn.execute(stmt):
                    out[i] = text or ""
        except SQLAlchemyError as exc:
            raise StoreError(f"search analysis failed: {exc.__class__.__name__}: {exc}") from exc
        return out

    def search(self, spec: SearchSpec) -> tuple[list[SearchHit], int, bool]:
        """One page of results, the number of matches, and whether that number was capped.

        The count stops at ``spec.count_cap`` (``LIMIT cap + 1`` under the count): an exact
        count of a common word was most of a search's time at 200,000 entries
        (bench/search_probe.py), and "more than 10,000" is as useful to a reader.

        Matching, filters and ordering read ``search_documents`` alone (its copies of
        published, source and language); the entries join, the headline and the deleted
        check are made for the page only. Relevance ranks the most recent
        ``spec.rank_window`` matches (``ts_rank_cd`` blended with recency) and lists older
        matches after them by date: ranking every match of a common word cost a
        quarter-second at 20,000 entries and grows with the archive.
        """
        if not spec.match_all and not spec.queries:
            return [], 0, False
        where = self._where(spec)
        by_date = spec.sort == "date" or spec.match_all
        window = max(0, spec.rank_window)
        end = spec.offset + spec.limit
        try:
            with self.db.engine.connect() as conn:
                pages: list[Any] = []
                if by_date:
                    pages.append(_dated(where, spec.offset, spec.limit))
                else:
                    if spec.offset < window:
                        pages.append(_ranked(spec, where, window, spec.offset, min(end, window) - spec.offset))
                    if end > window:
                        start = max(spec.offset, window)
                        pages.append(_dated(where, start, end - start))
                rows = [row for page in pages for row in conn.execute(self._page(spec, page)).all()]
                counted = select(D.c.entry_id).where(*where).limit(spec.count_cap + 1).subquery()
                total = int(conn.execute(select(func.count()).select_from(counted)).scalar() or 0)
        except SQLAlchemyError as exc:
            if "tsquery" in str(exc):
                raise SearchQueryError("Recherche illisible. / Unreadable query.") from exc
            raise StoreError(f"search failed: {exc.__class__.__name__}: {exc}") from exc
        hits = [
            SearchHit(
                id=r.id,
                source=r.slug,
                url=r.url,
                title=r.title,
                published=r.published,
                score=round(float(r.score or 0.0), 6),  # as the embedded engine rounds
                snippet=_snippet(r.headline, r.text),
            )
            for r in rows
        ]
        if total > spec.count_cap:
            return hits, spec.count_cap, True
        return hits, total, False

    def _page(self, spec: SearchSpec, page: Any) -> Any:
        """The page's entries (live only), with their headline, in the page's order."""
        body = func.translate(E.c.text, _SEL_START + _SEL_STOP, "")
        if spec.headlines:
            headline: Any = case(
                {
                    g: func.ts_headline(cast(literal(cfg), REGCONFIG), body, _tsquery(q), literal(_HEADLINE_OPTIONS))
                    for g, (cfg, q) in spec.headlines.items()
                },
                value=page.c.grp,
                else_=literal(None, String),
            )
        else:
            headline = literal(None, String)
        return (
            select(
                E.c.id, S.c.slug, E.c.url, E.c.title, E.c.published, E.c.text,
                page.c.score, headline.label("headline"),
            )
            .select_from(page.join(E, E.c.id == page.c.entry_id).join(S, S.c.id == E.c.source_id))
            .where(E.c.deleted.is_(False))  # deleted since the last sync: hidden at once
            .order_by(page.c.pos)
        )

    def _where(self, spec: SearchSpec) -> list[Any]:
        out: list[Any] = []
        if not spec.match_all:
            out.append(
                or_(*(and_(D.c.grp == g, D.c.vector.op("@@")(_tsquery(q))) for g, q in spec.queries.items()))
            )
        if spec.sources:
            out.append(D.c.source_id.in_(select(S.c.id).where(S.c.slug.in_(list(spec.sources)))))
        if spec.not_sources:
            out.append(D.c.source_id.not_in(select(S.c.id).where(S.c.slug.in_(list(spec.not_sources)))))
        if spec.tags:
            out.append(D.c.entry_id.in_(select(T.c.entry_id).where(T.c.tag.in_(list(spec.tags)))))
        for tag in spec.must_tags:
            out.append(D.c.entry_id.in_(select(T.c.entry_id).where(T.c.tag == tag)))
        if spec.not_tags:
            out.append(D.c.entry_id.not_in(select(T.c.entry_id).where(T.c.tag.in_(list(spec.not_tags)))))
        if spec.langs:
            out.append(or_(*(_lang(code) for code in spec.langs)))
        for code in spec.not_langs:
            out.append(or_(D.c.language.is_(None), not_(_lang(code))))
        if spec.after is not None:
            out.append(D.c.published >= spec.after)
        if spec.before is not None:
            out.append(D.c.published < spec.before)
        return out


def _dated(where: list[Any], offset: int, limit: int) -> Any:
    """Matches newest first (the published index serves it), ``pos`` numbering the page."""
    order = [D.c.published.desc(), D.c.entry_id.desc()]
    return (
        select(
            D.c.entry_id, D.c.grp, literal(0.0, Float).label("score"),
            func.row_number().over(order_by=order).label("pos"),
        )
        .where(*where)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )


def _ranked(spec: SearchSpec, where: list[Any], window: int, offset: int, limit: int) -> Any:
    """The best of the ``window`` most recent matches by relevance blended with recency.

    Recency in double precision: ``extract`` returns numeric, whose arithmetic made the
    blending cost ten times the ranking itself.
    """
    recent = (
        select(D.c.entry_id, D.c.grp, D.c.published, D.c.vector)
        .where(*where)
        .order_by(D.c.published.desc(), D.c.entry_id.desc())
        .limit(window)
        .subquery("recent")
    )
    rank = func.ts_rank_cd(recent.c.vector, case({g: _tsquery(q) for g, q in spec.queries.items()}, value=recent.c.grp))
    now = literal(spec.now or datetime.now(UTC), DateTime(timezone=True))
    age_days = func.greatest(
        literal(0.0, Float), cast(func.date_part("epoch", now - recent.c.published), Float) / literal(86400.0, Float)
    )
    weight = literal(float(spec.recency_weight), Float)
    recency = (literal(1.0, Float) - weight) + weight * func.power(
        literal(0.5, Float), age_days / literal(float(spec.half_life_days), Float)
    )
    score = cast(rank, Float) * recency
    order = [score.desc(), recent.c.published.desc(), recent.c.entry_id.desc()]
    return (
        select(recent.c.entry_id, recent.c.grp, score.label("score"), func.row_number().over(order_by=order).label("pos"))
        .order_by(*order)
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )


def _upsert_from(rows: Any, max_text_chars: int) -> Any:
    # The entries join drops entries deleted since the ids were read, and supplies the
    # copies of published, source and language that searches filter and order by.
    stmt = pg_insert(D).from_select(
        ["entry_id", "grp", "vector", "published", "source_id", "language"],
        select(
            rows.c.entry_id,
            rows.c.grp,
            func.aggregator_search_vector(
                cast(rows.c.config, REGCONFIG), cast(rows.c.folded, REGCONFIG),
                E.c.title, func.left(E.c.text, max_text_chars),
            ),
            E.c.published,
            E.c.source_id,
            E.c.language,
        ).select_from(rows.join(E, E.c.id == rows.c.entry_id)).where(E.c.deleted.is_(False)),
    )
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[D.c.entry_id],
        set_={"grp": ex.grp, "vector": ex.vector, "published": ex.published,
              "source_id": ex.source_id, "language": ex.language},
    )


def _tsquery(text: str) -> Any:
    # The text is PostgreSQL's own tsquery output, combined with & | ! and parentheses.
    return cast(literal(text, String), TSQUERY)


def _lang(code: str) -> Any:
    # Same rule as the river's language filter: "fr" matches "fr" and "fr-CA".
    lowered = func.lower(D.c.language)
    return or_(lowered == code, lowered.like(code + "-%"))


def _snippet(headline: str | None, text: str) -> str:
    """Escape everything, then turn only our selection markers into <mark>."""
    if headline is None or _SEL_START not in headline:
        from_text = " ".join((text or "").split())
        if len(from_text) > 220:
            cut = from_text.rfind(" ", 0, 220)
            return html.escape(from_text[: cut if cut > 110 else 220]) + " …"
        return html.escape(from_text)
    escaped = html.escape(" ".join(headline.split()))
    return escaped.replace(_SEL_START, "<mark>").replace(_SEL_STOP, "</mark>")
