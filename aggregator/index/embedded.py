"""The embedded search index: tantivy in ``data_dir/index``, for SQLite deployments.

One writer at a time per index directory, across processes (tantivy's lock file): ``sync``
takes the writer for one call and gives it back, so another process (``aggregator search``
next to ``aggregator run``) simply finds the lock busy and leaves the log for later.
Readers reload after each commit (and every process's reader follows other processes'
commits on its own).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tantivy

from ..errors import SearchIndexError
from ..model import Clock, StoredEntry, utcnow
from ..store import Store
from . import analysis
from .common import MAX_BATCHES_PER_SYNC, MAX_TEXT_CHARS, log, pending_batch, prepare
from .query import ParsedQuery, Term
from .types import SearchHit, SearchRequest, SearchResults

#: Bump when the schema or the analysis changes: an index of another version is rebuilt.
#: 2: entries are also indexed folded before stemming ("universite" finds "université").
INDEX_VERSION = 2
MARKER = "aggregator-index.json"
SYNC_HEAP = 48_000_000
REBUILD_HEAP = 128_000_000
#: Relevance blending re-sorts this many BM25 candidates by recency at least.
CANDIDATES = 200
#: Suffix of the fields and tokenizers that fold accents before stemming.
FOLDED = "_f"

Occur = tantivy.Occur


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_unsigned_field("id", stored=True, indexed=True, fast=True)
    b.add_integer_field("ts", indexed=True, fast=True)  # published, epoch seconds
    for name in ("grp", "source", "tag", "lang"):
        b.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for group in analysis.GROUPS:
        b.add_text_field(f"title_{group}", tokenizer_name=f"agg_{group}")
        # Stored: the snippet generator highlights the original text of this field.
        b.add_text_field(f"body_{group}", stored=True, tokenizer_name=f"agg_{group}")
    for group in analysis.FOLDED_FIRST_GROUPS:
        # The same text folded before stemming (analysis.analyzer): not stored again; its
        # snippets are made from body_{group}'s stored text.
        b.add_text_field(f"title_{group}{FOLDED}", tokenizer_name=f"agg_{group}{FOLDED}")
        b.add_text_field(f"body_{group}{FOLDED}", tokenizer_name=f"agg_{group}{FOLDED}")
    b.add_bytes_field("payload", stored=True)  # JSON: source, url, title, published, group
    return b.build()


class TantivyIndex:
    """French-first full-text search over the store's entries, embedded."""

    def __init__(self, store: Store, path: Path, *, clock: Clock = utcnow):
        self.store = store
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.Lock()
        self._seen_meta: tuple[int, int] | None = None
        self.schema = _schema()
        #: Tokenizer name -> analyzer: agg_fr (stemmed, then folded), agg_fr_f (folded first)…
        self.analyzers = {f"agg_{g}": analysis.analyzer(g) for g in analysis.GROUPS}
        self.analyzers.update(
            {f"agg_{g}{FOLDED}": analysis.analyzer(g, fold_first=True) for g in analysis.FOLDED_FIRST_GROUPS}
        )
        self.index = self._open()

    # -- opening ------------------------------------------------------------------------

    def _open(self) -> tantivy.Index:
        marker = self._marker()
        if marker.get("version") != INDEX_VERSION and self.path.exists():
            # Another analysis or schema: the old files cannot answer our queries.
            log.info("index.reset", path=str(self.path), found=marker.get("version"))
            shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / MARKER).exists():
            self._write_marker(complete=False)
        try:
            index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except (OSError, ValueError) as exc:
            raise SearchIndexError(f"cannot open the search index in {self.path}: {exc}") from exc
        for name, analyzer in self.analyzers.items():
            index.register_tokenizer(name, analyzer)
        return index

    def _marker(self) -> dict[str, Any]:
        try:
            data = json.loads((self.path / MARKER).read_text("utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_marker(self, *, complete: bool) -> None:
        tmp = self.path / (MARKER + ".tmp")
        tmp.write_text(json.dumps({"version": INDEX_VERSION, "complete": complete}), "utf-8")
        tmp.replace(self.path / MARKER)

    def _writer(self, heap: int, threads: int) -> Any:
        """The index writer, or None when another process (or instance) holds it."""
        try:
            return self.index.writer(heap_size=heap, num_threads=threads)
        except ValueError as exc:
            if "LockBusy" in str(exc) or "lock" in str(exc).lower():
                return None
            raise SearchIndexError(f"cannot write the search index: {exc}") from exc

    # -- writing ------------------------------------------------------------------------

    def sync(self, *, batch: int = 1000) -> int:
        """Apply the change log in batches; each batch commits before its rows are consumed.

        Returns the number of log rows applied (0 when another process holds the writer).
        An index that is new or was reset is rebuilt from the store first.
        """
        with self._lock:
            writer = self._writer(SYNC_HEAP, 1)
            if writer is None:
                log.info("index.busy", path=str(self.path))
                return 0
            try:
                if not self._marker().get("complete"):
                    return self._rebuild(writer)
                applied = 0
                for _ in range(MAX_BATCHES_PER_SYNC):
                    rows, ids = pending_batch(self.store, batch)
                    if not rows:
                        break
                    self._apply(writer, ids)
                    writer.commit()
                    self.index.reload()
                    # Only now: a crash before this line replays the rows, which is harmless.
                    self.store.index_log.consume(r.id for r in rows)
                    applied += len(rows)
                    if len(rows) < batch:
                        break
                if applied:
                    log.info("index.synced", rows=applied)
                return applied
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()

    def reindex(self) -> int:
        """Rebuild from the store; returns the number of entries indexed.

        Raises:
            SearchIndexError: another process is writing the index.
        """
        with self._lock:
            writer = self._writer(REBUILD_HEAP, 2)
            if writer is None:
                raise SearchIndexError(
                    f"the search index in {self.path} is being written by another process; "
                    "try again when it is done"
                )
            try:
                return self._rebuild(writer)
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()

    def _rebuild(self, writer: Any) -> int:
        # Marked incomplete first: a crash mid-way means "rebuild again" at the next sync.
        self._write_marker(complete=False)
        # Cleared before reading: an entry written meanwhile is both read below and logged
        # again, and applying it twice is harmless.
        self.store.index_log.clear()
        writer.delete_all_documents()
        count, after = 0, 0
        while True:
            page: Any = self.store.entries.all_ids(after=after, limit=1000)  # (typed list; see report)
            ids = [int(i) for i in page]
            if not ids:
                break
            for entry in self.store.entries.get_many(ids).values():
                if not entry.deleted:
                    writer.add_document(self._document(entry))
                    count += 1
            after = ids[-1]
        writer.commit()
        self._write_marker(complete=True)
        self.index.reload()
        log.info("index.rebuilt", entries=count)
        return count

    def _apply(self, writer: Any, ids: Iterable[int]) -> None:
        ids = list(ids)
        entries = self.store.entries.get_many(ids)
        for entry_id in ids:
            # Upsert is delete-then-add; tantivy applies the delete to older documents only.
            # (By query: delete_documents_by_term builds a signed term that misses u64 ids.)
            writer.delete_documents_by_query(tantivy.Query.term_query(self.schema, "id", entry_id))
            entry = entries.get(entry_id)
            if entry is not None and not entry.deleted:
                writer.add_document(self._document(entry))

    def _document(self, entry: StoredEntry) -> tantivy.Document:
        group = analysis.language_group(entry.language)
        body = (entry.text or "")[:MAX_TEXT_CHARS]
        ts = int(entry.published.timestamp())
        doc = tantivy.Document()
        doc.add_unsigned("id", entry.id)
        doc.add_integer("ts", ts)
        doc.add_text("grp", group)
        doc.add_text("source", entry.source)
        for tag in entry.tags:
            doc.add_text("tag", tag)
        primary = analysis.primary_language(entry.language)
        if primary is not None and entry.language is not None:
            doc.add_text("lang", primary)
            full = entry.language.strip().lower().replace("_", "-")
            if full != primary:
                doc.add_text("lang", full)
        doc.add_text(f"title_{group}", entry.title)
        doc.add_text(f"body_{group}", body)
        if group in analysis.FOLDED_FIRST_GROUPS:
            doc.add_text(f"title_{group}{FOLDED}", entry.title)
            doc.add_text(f"body_{group}{FOLDED}", body)
        payload = {"s": entry.source, "u": entry.url, "t": entry.title, "p": ts, "g": group}
        doc.add_bytes("payload", json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        return doc

    # -- reading ------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResults:
        parsed = prepare(request)
        query, sort, limit, offset = request.query, request.sort, request.limit, request.offset
        if parsed is None:
            return SearchResults([], 0, query)
        text_query = self._text_query(parsed)
        if text_query is None:
            return SearchResults([], 0, query)
        full = self._with_filters(text_query, parsed)
        self._follow_commits()
        searcher = self.index.searcher()
        try:
            if sort == "date" or not parsed.has_text:
                result = searcher.search(full, limit, count=True, order_by_field="ts", offset=offset)
                scored = [(0.0, addr) for _, addr in result.hits]
            else:
                window = max(CANDIDATES, 2 * (offset + limit))
                result = searcher.search(full, window, count=True)
                addrs = [addr for _, addr in result.hits]
                stamps = searcher.fast_field_values("ts", addrs) if addrs else []
                now = self.clock().timestamp()
                blended = [
                    (score * analysis.recency_weight_at(now - (ts or 0)), int(ts or 0), addr)
                    for (score, addr), ts in zip(result.hits, stamps, strict=True)
                ]
                blended.sort(key=lambda item: (item[0], item[1]), reverse=True)
                scored = [(s, a) for s, _, a in blended[offset : offset + limit]]
        except ValueError as exc:
            raise SearchIndexError(f"search failed: {exc}") from exc
        hits = self._hits(searcher, text_query if parsed.has_text else None, scored)
        # ``count`` is set when searching with count=True; tantivy's type stub omits it.
        return SearchResults(hits, int(result.count or 0), query)  # type: ignore[attr-defined]

    def _hits(self, searcher: Any, text_query: Any, scored: list[tuple[float, Any]]) -> list[SearchHit]:
        generators: dict[str, Any] = {}
        hits = []
        for score, addr in scored:
            doc = searcher.doc(addr)
            payload = json.loads(bytes(doc.get_first("payload")).decode("utf-8"))
            group = payload["g"]
            body = doc.get_first(f"body_{group}") or ""
            snippet = None
            if text_query is not None:
                snippet = self._snippet(searcher, text_query, generators, group, doc, body)
            hits.append(
                SearchHit(
                    id=int(doc.get_first("id")),
                    source=payload["s"],
                    url=payload["u"],
                    title=payload["t"],
                    published=_from_ts(payload["p"]),
                    score=round(float(score), 6),
                    snippet=snippet or analysis.leading_excerpt(body),
                )
            )
        return hits

    def _snippet(
        self, searcher: Any, text_query: Any, generators: dict[str, Any], group: str, doc: Any, body: str
    ) -> str | None:
        """The body's best fragment, from whichever analysis marks more of the query.

        A word typed without accents matches only the folded-first field; its generator
        reads the same stored text (handed in as a document of that field), so the marks
        fall on the words as written ("<mark>université</mark>" for "universite").
        """
        fields = [f"body_{group}"]
        if group in analysis.FOLDED_FIRST_GROUPS:
            fields.append(f"body_{group}{FOLDED}")
        best: Any = None
        for field in fields:
            gen = generators.get(field)
            if gen is None:
                gen = tantivy.SnippetGenerator.create(searcher, text_query, self.schema, field)
                gen.set_max_num_chars(analysis.SNIPPET_CHARS)
                generators[field] = gen
            source = doc
            if field != fields[0]:
                source = tantivy.Document()
                source.add_text(field, body)
            snippet = gen.snippet_from_doc(source)
            if best is None or len(snippet.highlighted()) > len(best.highlighted()):
                best = snippet
        return _snippet_html(best, body) if best is not None else None

    def _text_query(self, parsed: ParsedQuery) -> Any:
        """OR over language groups of (document in group AND query analysed for group)."""
        if not parsed.has_text:
            return tantivy.Query.all_query()
        groups = _groups_for(parsed)
        per_group = []
        for group in groups:
            q = self._group_query(parsed, group)
            if q is not None:
                per_group.append(
                    (Occur.Should, tantivy.Query.boolean_query([
                        (Occur.Must, tantivy.Query.term_query(self.schema, "grp", group)),
                        (Occur.Must, q),
                    ]))
                )
        if not per_group:
            return None
        return tantivy.Query.boolean_query(per_group)

    def _group_query(self, parsed: ParsedQuery, group: str) -> Any:
        clauses = []
        for or_group in parsed.groups:
            alternatives = [q for q in (self._term_query(t, group) for t in or_group) if q is not None]
            if not alternatives:
                continue  # only stop words: nothing to require
            clause = alternatives[0] if len(alternatives) == 1 else tantivy.Query.boolean_query(
                [(Occur.Should, q) for q in alternatives]
            )
            clauses.append((Occur.Must, clause))
        if not clauses:
            return None
        for term in parsed.excluded:
            q = self._term_query(term, group)
            if q is not None:
                clauses.append((Occur.MustNot, q))
        return tantivy.Query.boolean_query(clauses)

    def _term_query(self, term: Term, group: str) -> Any:
        """A word or phrase in the title (boosted) or the body of one language group.

        Read both ways (stemmed then folded, folded then stemmed: analysis.analyzer), each
        against the fields analysed the same way; an entry scores by the better reading.
        """
        suffixes = ["", FOLDED] if group in analysis.FOLDED_FIRST_GROUPS else [""]
        readings = []
        for suffix in suffixes:
            tokens = self.analyzers[f"agg_{group}{suffix}"].pre_tokenize(term.text).tokens
            if not tokens:
                continue
            per_field = []
            for field, boost in ((f"title_{group}{suffix}", analysis.TITLE_BOOST), (f"body_{group}{suffix}", 1.0)):
                if len(tokens) == 1:
                    q = tantivy.Query.term_query(self.schema, field, tokens[0].text)
                else:
                    first = tokens[0].position
                    q = tantivy.Query.phrase_query(self.schema, field, [(t.position - first, t.text) for t in tokens])
                per_field.append((Occur.Should, tantivy.Query.boost_query(q, boost) if boost != 1.0 else q))
            readings.append(tantivy.Query.boolean_query(per_field))
        if not readings:
            return None
        return readings[0] if len(readings) == 1 else tantivy.Query.disjunction_max_query(readings)

    def _with_filters(self, text_query: Any, parsed: ParsedQuery) -> Any:
        clauses = [(Occur.Must, text_query)]

        def any_of(field: str, values: Iterable[str]) -> Any:
            return tantivy.Query.boolean_query(
                [(Occur.Should, tantivy.Query.term_query(self.schema, field, v)) for v in values]
            )

        if parsed.sources:
            clauses.append((Occur.Must, any_of("source", parsed.sources)))
        if parsed.not_sources:
            clauses.append((Occur.MustNot, any_of("source", parsed.not_sources)))
        if parsed.tags:
            clauses.append((Occur.Must, any_of("tag", parsed.tags)))
        for tag in parsed.must_tags:
            clauses.append((Occur.Must, tantivy.Query.term_query(self.schema, "tag", tag)))
        if parsed.not_tags:
            clauses.append((Occur.MustNot, any_of("tag", parsed.not_tags)))
        if parsed.langs:
            clauses.append((Occur.Must, any_of("lang", parsed.langs)))
        if parsed.not_langs:
            clauses.append((Occur.MustNot, any_of("lang", parsed.not_langs)))
        if parsed.after is not None or parsed.before is not None:
            clauses.append((
                Occur.Must,
                tantivy.Query.range_query(
                    self.schema, "ts", tantivy.FieldType.Integer,
                    int(parsed.after.timestamp()) if parsed.after else None,
                    int(parsed.before.timestamp()) if parsed.before else None,
                    include_upper=parsed.before is None,
                ),
            ))
        return tantivy.Query.boolean_query(clauses)

    def _follow_commits(self) -> None:
        """Reload now when another writer committed (tantivy's own watcher lags ~0.5 s)."""
        try:
            st = (self.path / "meta.json").stat()
        except OSError:
            return
        seen = (st.st_mtime_ns, st.st_size)
        if seen != self._seen_meta:
            self._seen_meta = seen
            self.index.reload()

    def ping(self) -> bool:
        """The index opens a searcher (after following other writers' commits)."""
        self._follow_commits()
        self.index.searcher()
        return True

    def doc_count(self) -> int:
        return int(self.index.searcher().num_docs)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def close(self) -> None:
        """Nothing to flush: writers only live inside sync and reindex."""


def _groups_for(parsed: ParsedQuery) -> list[str]:
    if parsed.langs:
        return sorted({analysis.language_group(code) for code in parsed.langs})
    return list(analysis.GROUPS)


def _from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _snippet_html(snippet: Any, body: str) -> str | None:
    """tantivy's fragment with its highlights (UTF-8 byte ranges) as escaped HTML."""
    fragment: str = snippet.fragment()
    highlighted = snippet.highlighted()
    if not fragment or not highlighted:
        return None
    raw = fragment.encode("utf-8")
    ranges = []
    for r in highlighted:
        start = len(raw[: r.start].decode("utf-8", "ignore"))
        end = len(raw[: r.end].decode("utf-8", "ignore"))
        ranges.append((start, end))
    html_text = analysis.highlight(fragment, ranges)
    span = snippet.fragment_range()
    body_bytes = len(body.encode("utf-8"))
    prefix = "… " if span.start > 0 else ""
    suffix = " …" if span.end < body_bytes else ""
    return prefix + html_text + suffix
