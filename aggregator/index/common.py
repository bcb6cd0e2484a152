"""What both engines share: reading the change log, and merging filters into a query."""

from __future__ import annotations

import dataclasses

from .. import logs
from ..errors import SearchQueryError
from ..model import StoredEntry
from ..store import LogRow, Store
from .query import _LANG, ParsedQuery, normalize_tag, parse
from .types import SearchRequest

log = logs.get("aggregator.index")

#: A sync call applies at most this many batches, so a busy crawler cannot keep it forever.
MAX_BATCHES_PER_SYNC = 50
#: Text beyond this many characters is neither indexed nor highlighted (hostile input).
MAX_TEXT_CHARS = 50_000


def prepare(request: SearchRequest) -> ParsedQuery | None:
    """Parse a search and merge its filters; None when they cannot all hold (no results).

    The keyword filters (the web's and the CLI's ``--source``) narrow the query's own.
    Sort and page were checked when the request was made; the language code is checked
    here, once the query's own filters are known.
    """
    source, tag, lang = request.source, request.tag, request.lang
    if not request.query.strip() and (source or tag or lang):
        parsed = ParsedQuery(text="")  # filters alone: every entry they allow
    else:
        parsed = parse(request.query)
    if source:
        if parsed.sources and source not in parsed.sources:
            return None
        parsed = dataclasses.replace(parsed, sources=(source,))
    if lang:
        code = lang.strip().lower().replace("_", "-")
        if not _LANG.fullmatch(code):
            raise SearchQueryError(f"Langue invalide « {lang} ». / Invalid language code.")
        if parsed.langs and code not in parsed.langs:
            return None
        parsed = dataclasses.replace(parsed, langs=(code,))
    if tag:
        parsed = dataclasses.replace(parsed, must_tags=(*parsed.must_tags, normalize_tag(tag)))
    if request.exclude:
        # A filter in the engine, not a cut of its answer: totals and pages stay right.
        not_sources = tuple(dict.fromkeys((*parsed.not_sources, *request.exclude)))
        parsed = dataclasses.replace(parsed, not_sources=not_sources)
    return parsed


def live(entry: StoredEntry | None) -> bool:
    return entry is not None and not entry.deleted


def pending_batch(store: Store, batch: int) -> tuple[list[LogRow], list[int]]:
    """The next log rows and the distinct entry ids they name (in log order)."""
    rows = store.index_log.pending(batch)
    ids = list(dict.fromkeys(r.entry_id for r in rows))
    return rows, ids
