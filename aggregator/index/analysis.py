"""Language groups, the tantivy analyzers, recency blending and snippet HTML.

Shared by both engines so they agree on which entries are analysed as French, English,
German or "other", and on how recency weighs in the relevance order.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime

import tantivy

#: Analysis groups: French (the default, also for entries of unknown language), English,
#: German (Barrikade, Emrawi) and "xx" for any other language (folded, not stemmed).
GROUPS = ("fr", "en", "de", "xx")
STEMMERS = {"fr": "french", "en": "english", "de": "german"}
#: The PostgreSQL text search configurations of each group (stemming + stop words); the
#: "_hl" ones fold accents before stemming (stop words first): entries are indexed with
#: both (see ``analyzer`` and migration 0005), and ts_headline highlights with them.
PG_CONFIGS = {"fr": "french", "en": "english", "de": "german", "xx": "simple"}
PG_HEADLINE_CONFIGS = {g: f"aggregator_{c}_hl" for g, c in PG_CONFIGS.items()}

#: French elided particles (l'État, qu'il, jusqu'à). The tokenizer splits at the
#: apostrophe; these leftovers are dropped so they never count as words.
ELISIONS = ["l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"]

#: Relevance blended with recency: the score of an entry HALF_LIFE_DAYS old keeps
#: 1 - RECENCY_WEIGHT/2 of its weight; a very old one keeps 1 - RECENCY_WEIGHT.
HALF_LIFE_DAYS = 30.0
RECENCY_WEIGHT = 0.4
#: Title matches count this much more than body matches (BM25 boost on tantivy; on
#: PostgreSQL the title is weight A = 1.0 and the text weight B = 0.4).
TITLE_BOOST = 2.5

SNIPPET_CHARS = 220
MARK_OPEN = "<mark>"
MARK_CLOSE = "</mark>"


def primary_language(language: str | None) -> str | None:
    """``fr-FR`` -> ``fr``; None when unknown."""
    if not language:
        return None
    primary = language.strip().lower().replace("_", "-").split("-")[0]
    return primary or None


def language_group(language: str | None) -> str:
    """Which analysis an entry gets: French unless its language says otherwise."""
    primary = primary_language(language)
    if primary is None:
        return "fr"
    return primary if primary in STEMMERS else "xx"


#: Groups analysed twice (see ``analyzer``): those with a stemmer. "xx" is only folded.
FOLDED_FIRST_GROUPS = tuple(STEMMERS)


def analyzer(group: str, *, fold_first: bool = False) -> tantivy.TextAnalyzer:
    """The tantivy analyzer of a group; entries are indexed with both analyses.

    Stemming before accent folding (the default) lets the Snowball stemmers see French
    and German accented suffixes: "policière" and "policier" share a stem. But a word
    typed without its accents then loses its suffix rule: "université" stems to
    "univers" and "universite" to "universit", so phones found nothing. Folding first
    (``fold_first``) gives both "universit". Neither order alone passes the French
    suite, so each entry is indexed both ways (two fields) and a query matches either.
    Stop words and elisions are removed before folding in both, so "été" stays a stop
    word whichever way it is read.
    """
    builder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(60))
        .filter(tantivy.Filter.lowercase())
    )
    stemmer = STEMMERS.get(group)
    if stemmer is not None:
        builder = builder.filter(tantivy.Filter.stopword(stemmer))
        if group == "fr":
            builder = builder.filter(tantivy.Filter.custom_stopword(ELISIONS))
        if fold_first:
            builder = builder.filter(tantivy.Filter.ascii_fold())
        builder = builder.filter(tantivy.Filter.stemmer(stemmer))
    return builder.filter(tantivy.Filter.ascii_fold()).build()


def recency_factor(published: datetime, now: datetime) -> float:
    return recency_weight_at((now - published).total_seconds())


def recency_weight_at(age_seconds: float) -> float:
    """The multiplier of an entry this old (PostgreSQL computes the same in SQL)."""
    age_days = max(0.0, age_seconds / 86400.0)
    return (1.0 - RECENCY_WEIGHT) + RECENCY_WEIGHT * 0.5 ** (age_days / HALF_LIFE_DAYS)


def highlight(text: str, ranges: Iterable[tuple[int, int]]) -> str:
    """HTML-escape ``text`` and wrap the given character ranges in ``<mark>``."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(ranges):
        if start < pos or end <= start:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(MARK_OPEN + html.escape(text[start:end]) + MARK_CLOSE)
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def leading_excerpt(text: str, chars: int = SNIPPET_CHARS) -> str:
    """The start of the text, cut at a word boundary, escaped: the snippet without a match."""
    text = " ".join(text.split())
    if len(text) <= chars:
        return html.escape(text)
    cut = text.rfind(" ", 0, chars)
    return html.escape(text[: cut if cut > chars // 2 else chars]) + " …"
