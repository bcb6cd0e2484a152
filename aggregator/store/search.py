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
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    values,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError

from ..errors import SearchQueryError, StoreError
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
    """What one entry contributes to the search table."""

    entry_id: int
    group: str  # analysis group: fr, en, de, xx
    config: str  # PostgreSQL text search configuration, e.g. "french"
    title: str
    body: str


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


@dataclass(frozen=True)
class SearchRow:
    id: int
    source: str
    url: str | None
    title: str
    published: datetime
    score: float
    snippet: str  # escaped HTML with <mark> only


class SearchRepo:
    """The PostgreSQL search table. Nothing here runs on SQLite (tantivy serves there)."""

    def __init__(self, db: Database):
        self.db = db

    # -- maintenance (the index's sync and reindex) -------------------------------------

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        if not docs:
            return
        with self.db.write() as conn:
            for start in range(0, len(docs), 500):
                chunk = docs[start : start + 500]
                part = values(
                    column("entry_id", Integer), column("grp", String), column("config", String),
                    column("title", String), column("body", String), name="v",
                ).data([(d.entry_id, d.group, d.config, d.title, d.body) for d in chunk])
                conn.execute(_upsert_from(part))

    def delete(self, entry_ids: Iterable[int]) -> None:
        ids = list(entry_ids)
        with self.db.write() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(delete(D).where(D.c.entry_id.in_(ids[start : start + 500])))

    def prune(self) -> int:
        """Drop rows of entries deleted or gone (after a rebuild)."""
        live = select(E.c.id).where(E.c.deleted.is_(False))
        with self.db.write() as conn:
            return conn.execute(delete(D).where(D.c.entry_id.not_in(live))).rowcount or 0

    def count(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(D)).scalar() or 0)

    def size_bytes(self) -> int:
        """Table, TOAST and GIN index on disk (the benchmark's index size)."""
        with self.db.read() as conn:
            return int(conn.execute(select(func.pg_total_relation_size(literal("search_documents")))).scalar() or 0)

    # -- queries ------------------------------------------------------------------------

    def analyze(self, pieces: Sequence[tuple[str, str]]) -> list[str]:
        """Each (configuration, plain text) as a tsquery text, stemmed then accent-folded.

        Empty when the text holds no searchable word (only stop words or punctuation).
        (The headline configurations fold before stemming; folding again changes nothing.)
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

    def search(self, spec: SearchSpec) -> tuple[list[SearchRow], int]:
        """One page of results and the total number of matches."""
        if not spec.match_all and not spec.queries:
            return [], 0
        conditions: list[Any] = [E.c.deleted.is_(False), *self._filters(spec)]
        if not spec.match_all:
            conditions.append(
                or_(*(and_(D.c.grp == g, D.c.vector.op("@@")(_tsquery(q))) for g, q in spec.queries.items()))
            )
        if spec.sort == "date" or spec.match_all:
            score: Any = literal(0.0, Float)
            order = [E.c.published.desc(), E.c.id.desc()]
        else:
            rank = func.ts_rank_cd(
                D.c.vector, case({g: _tsquery(q) for g, q in spec.queries.items()}, value=D.c.grp)
            )
            age_days = func.greatest(0.0, func.extract("epoch", literal(spec.now) - E.c.published) / 86400.0)
            recency = (1.0 - spec.recency_weight) + spec.recency_weight * func.power(
                0.5, age_days / spec.half_life_days
            )
            score = rank * recency
            order = [score.desc(), E.c.published.desc(), E.c.id.desc()]
        page = (
            select(
                E.c.id, S.c.slug, E.c.url, E.c.title, E.c.published, D.c.grp,
                score.label("score"), func.count().over().label("total"),
            )
            .select_from(D.join(E, E.c.id == D.c.entry_id).join(S, S.c.id == E.c.source_id))
            .where(*conditions)
            .order_by(*order)
            .limit(spec.limit)
            .offset(spec.offset)
            .subquery("page")
        )
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
        stmt = (
            select(page, E.c.text, headline.label("headline"))
            .join(E, E.c.id == page.c.id)
            .order_by(page.c.score.desc(), page.c.published.desc(), page.c.id.desc())
        )
        if spec.sort == "date" or spec.match_all:
            stmt = stmt.order_by(None).order_by(page.c.published.desc(), page.c.id.desc())
        try:
            with self.db.engine.connect() as conn:
                rows = conn.execute(stmt).all()
                total = int(rows[0].total) if rows else 0
                if not rows and spec.offset:
                    count = select(func.count()).select_from(
                        D.join(E, E.c.id == D.c.entry_id).join(S, S.c.id == E.c.source_id)
                    ).where(*conditions)
                    total = int(conn.execute(count).scalar() or 0)
        except SQLAlchemyError as exc:
            if "tsquery" in str(exc):
                raise SearchQueryError("Recherche illisible. / Unreadable query.") from exc
            raise StoreError(f"search failed: {exc.__class__.__name__}: {exc}") from exc
        hits = [
            SearchRow(
                id=r.id,
                source=r.slug,
                url=r.url,
                title=r.title,
                published=r.published,
                score=float(r.score or 0.0),
                snippet=_snippet(r.headline, r.text),
            )
            for r in rows
        ]
        return hits, total

    def _filters(self, spec: SearchSpec) -> list[Any]:
        out: list[Any] = []
        if spec.sources:
            out.append(S.c.slug.in_(list(spec.sources)))
        if spec.not_sources:
            out.append(S.c.slug.not_in(list(spec.not_sources)))
        if spec.tags:
            out.append(E.c.id.in_(select(T.c.entry_id).where(T.c.tag.in_(list(spec.tags)))))
        for tag in spec.must_tags:
            out.append(E.c.id.in_(select(T.c.entry_id).where(T.c.tag == tag)))
        if spec.not_tags:
            out.append(E.c.id.not_in(select(T.c.entry_id).where(T.c.tag.in_(list(spec.not_tags)))))
        if spec.langs:
            out.append(or_(*(_lang(code) for code in spec.langs)))
        for code in spec.not_langs:
            out.append(or_(E.c.language.is_(None), not_(_lang(code))))
        if spec.after is not None:
            out.append(E.c.published >= spec.after)
        if spec.before is not None:
            out.append(E.c.published < spec.before)
        return out


def _upsert_from(rows: Any) -> Any:
    stmt = pg_insert(D).from_select(
        ["entry_id", "grp", "vector"],
        select(
            rows.c.entry_id,
            rows.c.grp,
            func.aggregator_search_vector(cast(rows.c.config, REGCONFIG), rows.c.title, rows.c.body),
        ).where(exists().where(E.c.id == rows.c.entry_id)),
    )
    return stmt.on_conflict_do_update(
        index_elements=[D.c.entry_id], set_={"grp": stmt.excluded.grp, "vector": stmt.excluded.vector}
    )


def _tsquery(text: str) -> Any:
    # The text is PostgreSQL's own tsquery output, combined with & | ! and parentheses.
    return cast(literal(text, String), TSQUERY)


def _lang(code: str) -> Any:
    # Same rule as the river's language filter: "fr" matches "fr" and "fr-CA".
    lowered = func.lower(E.c.language)
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
