"""What both engines share: reading the change log, and merging filters into a query."""

from __future__ import annotations

import dataclasses
import logging

from ..errors import SearchQueryError
from ..model import StoredEntry
from ..store import LogRow, Store
from .query import _LANG, ParsedQuery, normalize_tag, parse

log = logging.getLogger("aggregator.index")

MAX_LIMIT = 200
MAX_OFFSET = 10_000
#: A sync call applies at most this many batches, so a busy crawler cannot keep it forever.
MAX_BATCHES_PER_SYNC = 50
#: Text beyond this many characters is neither indexed nor highlighted (hostile input).
MAX_TEXT_CHARS = 50_000
SORTS = ("relevance", "date")


def prepare(
    query: str,
    *,
    source: str | None,
    tag: str | None,
    lang: str | None,
    limit: int,
    offset: int,
    sort: str,
) -> ParsedQuery | None:
    """Parse and validate a search; None when the filters cannot all hold (no results).

    The keyword filters (the web's and the CLI's ``--source``) narrow the query's own.
    """
    if sort not in SORTS:
        raise SearchQueryError(f"Tri inconnu « {sort} » : relevance ou date. / Unknown sort.")
    if not 1 <= limit <= MAX_LIMIT:
        raise SearchQueryError(f"limit doit être entre 1 et {MAX_LIMIT}. / limit out of range.")
    if not 0 <= offset <= MAX_OFFSET:
        raise SearchQueryError(f"offset doit être entre 0 et {MAX_OFFSET}. / offset out of range.")
    if not query.strip() and (source or tag or lang):
        query = ""
        parsed = ParsedQuery(text="")
    else:
        parsed = parse(query)
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
    return parsed


def live(entry: StoredEntry | None) -> bool:
    return entry is not None and not entry.deleted


def pending_batch(store: Store, batch: int) -> tuple[list[LogRow], list[int]]:
    """The next log rows and the distinct entry ids they name (in log order)."""
    rows = store.index_log.pending(batch)
    ids = list(dict.fromkeys(r.entry_id for r in rows))
    return rows, ids
