"""readers: accentless search on PostgreSQL; clean links and bounded fields in stored entries

Revision ID: 0005
Revises: 0004

Search (PostgreSQL only). The stored vectors were stemmed, then accent-folded:
"université" became 'univers' while the query "universite" becomes 'universit', so a
word typed without its accents found nothing. Each vector now also holds the text
folded *before* stemming (the "_hl" configurations, which gain a stop-word filter in
front of ``unaccent`` so both readings drop the same stop words), lexeme by lexeme at the
same positions. Every row of ``search_documents`` is recomputed here.

Entries (both backends). Links keep no tracking parameters (``utm_*``, ``fbclid``…) and
hostile oversized titles and summaries are cut to the limits new entries get at parse
time (``aggregator/limits.py``), so an upgraded store shows, exports and relays only
clean, bounded items. GUIDs are untouched: identity never used tracking parameters.
"""

import html

import sqlalchemy as sa
from alembic import op

from aggregator import limits
from aggregator.tracking import strip_tracking

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Configuration -> (its Snowball dictionary, its stop-word list); "simple" has neither.
STEMMED = {"french": "french_stem", "english": "english_stem", "german": "german_stem"}
TOKENS = "word, hword, hword_part, asciiword, asciihword, hword_asciipart"
#: Analysis group -> (configuration, folded-first configuration), as index/analysis.py.
GROUPS = {
    "fr": ("french", "aggregator_french_hl"),
    "en": ("english", "aggregator_english_hl"),
    "de": ("german", "aggregator_german_hl"),
    "xx": ("simple", "aggregator_simple_hl"),
}
MAX_TEXT_CHARS = 50_000  # index/common.py at the time of writing

# Two tsvectors of the same text (same parser, same positions) as one: the text forms
# joined, which tsvector input sorts and merges lexeme by lexeme.
UNION = """CREATE OR REPLACE FUNCTION aggregator_tsvector_union(tsvector, tsvector) RETURNS tsvector
   LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
   AS $$ SELECT ($1::text || ' ' || $2::text)::tsvector $$"""
VECTOR_4 = """CREATE OR REPLACE FUNCTION aggregator_search_vector(regconfig, regconfig, text, text) RETURNS tsvector
   LANGUAGE sql IMMUTABLE PARALLEL SAFE
   AS $$
     SELECT setweight(aggregator_tsvector_union(aggregator_fold(to_tsvector($1, coalesce($3, ''))),
                                                to_tsvector($2, coalesce($3, ''))), 'A')
            || setweight(aggregator_tsvector_union(aggregator_fold(to_tsvector($1, coalesce($4, ''))),
                                                   to_tsvector($2, coalesce($4, ''))), 'B')
   $$"""
VECTOR_3 = """CREATE OR REPLACE FUNCTION aggregator_search_vector(regconfig, text, text) RETURNS tsvector
   LANGUAGE sql IMMUTABLE PARALLEL SAFE
   AS $$
     SELECT aggregator_fold(setweight(to_tsvector($1, coalesce($2, '')), 'A')
                            || setweight(to_tsvector($1, coalesce($3, '')), 'B'))
   $$"""


def _config_of_group(which: int) -> str:
    """SQL: the configuration (0) or folded-first configuration (1) of ``d.grp``."""
    whens = " ".join(f"WHEN '{g}' THEN '{configs[which]}'" for g, configs in GROUPS.items())
    return f"CAST(CASE d.grp {whens} ELSE '{GROUPS['fr'][which]}' END AS regconfig)"


def _recompute_vectors(folded: bool) -> None:
    """Every stored vector again, from the entry's title and text (as store/search.py)."""
    args = [_config_of_group(0), _config_of_group(1)] if folded else [_config_of_group(0)]
    op.execute(
        "UPDATE search_documents AS d SET vector = aggregator_search_vector("
        + ", ".join(args)
        + f", e.title, left(e.text, {MAX_TEXT_CHARS})) FROM entries AS e WHERE e.id = d.entry_id"
    )


def _cut(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis (as parse/build.py)."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip(" ,;:.-") + "…"


def _clean_entries() -> None:
    """Strip tracking parameters from links and cut oversized fields, row by row.

    Only candidate rows are read (a query string or fragment, or a field over its limit),
    in pages by id; a row is written only when something changes.
    """
    bind = op.get_bind()
    entries = sa.table(
        "entries", sa.column("id", sa.Integer), sa.column("url", sa.Text), sa.column("title", sa.Text),
        sa.column("author", sa.Text), sa.column("summary", sa.Text), sa.column("content", sa.Text),
        sa.column("text", sa.Text), sa.column("image", sa.Text),
    )
    e = entries.c
    candidates = sa.or_(
        e.url.like("%?%"), e.url.like("%#%"),
        sa.func.length(e.url) > limits.MAX_URL_LENGTH,
        sa.func.length(e.image) > limits.MAX_URL_LENGTH,
        sa.func.length(e.title) > limits.MAX_TITLE_LENGTH + 1,
        sa.func.length(e.author) > limits.MAX_AUTHOR_LENGTH + 1,
        sa.func.length(e.summary) > limits.MAX_SUMMARY_HTML,
        sa.func.length(e.text) > limits.MAX_TEXT_LENGTH + 1,
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(e.id, e.url, e.title, e.author, e.summary, e.content, e.text, e.image)
            .where(e.id > after, candidates).order_by(e.id).limit(1000)
        ).all()
        if not rows:
            return
        # One statement per set of changed columns (usually just the link), many rows each.
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for row in rows:
            changes = _bounded(row)
            if changes:
                groups.setdefault(tuple(sorted(changes)), []).append({"row_id": row.id, **changes})
        for columns, params in groups.items():
            statement = entries.update().where(e.id == sa.bindparam("row_id"))
            bind.execute(statement.values({c: sa.bindparam(c) for c in columns}), params)
        after = rows[-1].id


def _bounded(row: sa.Row) -> dict[str, object]:
    changes: dict[str, object] = {}
    url = row.url
    if url:
        clean = strip_tracking(url)
        changes["url"] = clean if len(clean) <= limits.MAX_URL_LENGTH else None
    if row.image and len(row.image) > limits.MAX_URL_LENGTH:
        changes["image"] = None
    if len(row.title or "") > limits.MAX_TITLE_LENGTH + 1:
        changes["title"] = _cut(row.title, limits.MAX_TITLE_LENGTH)
    if row.author and len(row.author) > limits.MAX_AUTHOR_LENGTH + 1:
        changes["author"] = _cut(row.author, limits.MAX_AUTHOR_LENGTH)
    text = row.text or ""
    if len(text) > limits.MAX_TEXT_LENGTH + 1:
        text = changes["text"] = _cut(text, limits.MAX_TEXT_LENGTH)
    if len(row.summary or "") > limits.MAX_SUMMARY_HTML:
        # As parse/build.py now does: a whole article in the summary moves to the content.
        if not row.content:
            changes["content"] = row.summary
        changes["summary"] = "<p>" + html.escape(text) + "</p>" if text else ""
    return {k: v for k, v in changes.items() if v != getattr(row, k)}


def upgrade() -> None:
    _clean_entries()
    if op.get_bind().dialect.name != "postgresql":
        return
    for config, stem in STEMMED.items():
        op.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS aggregator_{config}_stop")
        op.execute(
            f"CREATE TEXT SEARCH DICTIONARY aggregator_{config}_stop "
            f"(TEMPLATE = pg_catalog.simple, STOPWORDS = {config}, ACCEPT = false)"
        )
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION aggregator_{config}_hl ALTER MAPPING FOR {TOKENS} "
            f"WITH aggregator_{config}_stop, public.unaccent, {stem}"
        )
    op.execute(UNION)
    op.execute(VECTOR_4)
    op.execute("DROP FUNCTION IF EXISTS aggregator_search_vector(regconfig, text, text)")
    _recompute_vectors(folded=True)


def downgrade() -> None:
    # Cleaned links and cut fields stay as they are: the tracking parameters are gone.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(VECTOR_3)
    _recompute_vectors(folded=False)
    op.execute("DROP FUNCTION IF EXISTS aggregator_search_vector(regconfig, regconfig, text, text)")
    op.execute("DROP FUNCTION IF EXISTS aggregator_tsvector_union(tsvector, tsvector)")
    for config, stem in STEMMED.items():
        op.execute(
            f"ALTER TEXT SEARCH CONFIGURATION aggregator_{config}_hl ALTER MAPPING FOR {TOKENS} "
            f"WITH public.unaccent, {stem}"
        )
        op.execute(f"DROP TEXT SEARCH DICTIONARY IF EXISTS aggregator_{config}_stop")
