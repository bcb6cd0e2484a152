"""The readers' query language, parsed into a small tree both search engines translate.

Pure: no I/O, no engine. Syntax (French-first error messages, since readers see them):

- words are ANDed: ``grève Lyon``
- ``"phrase exacte"`` (also ``« … »`` and ``“ … ”``, as French keyboards type them)
- ``-mot`` and ``-"une phrase"`` exclude
- ``A OR B`` (upper case, binds tighter than the implicit AND: ``a b OR c`` is a AND (b OR c))
- filters ``source:slug``, ``tag:x`` (``tag:"deux mots"``), ``lang:fr``,
  ``before:YYYY-MM-DD`` (published strictly before that day, UTC) and
  ``after:YYYY-MM-DD`` (published on or after that day, UTC); ``-source:x`` etc. exclude.
  Several values of one filter are ORed.

A word with an unknown ``prefix:`` is an ordinary word (``10:30``, ``http://``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from ..errors import SearchQueryError
from ..model import normalize_tag

#: Bounds for hostile input: longer queries are refused, not truncated silently.
MAX_QUERY_CHARS = 1000
MAX_TERMS = 40

OPEN_QUOTES = '"“«„'
CLOSE_QUOTES = '"”»“'
FILTERS = ("source", "tag", "lang", "before", "after")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LANG = re.compile(r"[a-z]{2,8}(?:-[a-z0-9]{1,8})*")


@dataclass(frozen=True)
class Term:
    """A word or a quoted phrase, as typed (engines analyse it per language)."""

    text: str
    phrase: bool = False


@dataclass(frozen=True)
class ParsedQuery:
    """A query: every group must match (a group is an OR of terms), no excluded term may."""

    text: str
    groups: tuple[tuple[Term, ...], ...] = ()
    excluded: tuple[Term, ...] = ()
    sources: tuple[str, ...] = ()
    not_sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    not_tags: tuple[str, ...] = ()
    must_tags: tuple[str, ...] = ()  # each required (the caller's tag filter)
    langs: tuple[str, ...] = ()
    not_langs: tuple[str, ...] = ()
    before: datetime | None = None  # exclusive upper bound, midnight UTC
    after: datetime | None = None  # inclusive lower bound, midnight UTC

    @property
    def has_text(self) -> bool:
        """False for a filters-only query, which lists matching entries."""
        return bool(self.groups)

    def positive_terms(self) -> list[Term]:
        return [t for g in self.groups for t in g]


@dataclass
class _Token:
    kind: str  # "term", "or", "filter"
    text: str = ""
    phrase: bool = False
    negated: bool = False
    name: str = ""  # filter name
    extra: list[str] = field(default_factory=list)


def parse(text: str) -> ParsedQuery:
    """Parse a reader's query.

    Raises:
        SearchQueryError: with a message in French then English, meant to be shown as is.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise SearchQueryError(
            f"Recherche trop longue (plus de {MAX_QUERY_CHARS} caractères). / Query too long."
        )
    tokens = _lex(text)
    if not tokens:
        raise SearchQueryError("Recherche vide : tapez au moins un mot. / Empty query.")
    if sum(1 for t in tokens if t.kind != "or") > MAX_TERMS:
        raise SearchQueryError(
            f"Trop de termes (plus de {MAX_TERMS}). / Too many terms in the query."
        )
    return _build(text, tokens)


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        negated = False
        if ch == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] != "-":
            negated = True
            i += 1
            ch = text[i]
        if ch in OPEN_QUOTES:
            phrase, i = _quoted(text, i)
            tokens.append(_Token("term", phrase, phrase=True, negated=negated))
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] not in OPEN_QUOTES:
            i += 1
        word = text[start:i]
        name, sep, value = word.partition(":")
        if sep and name.lower() in FILTERS:
            if not value and i < n and text[i] in OPEN_QUOTES:
                value, i = _quoted(text, i)
            tokens.append(_Token("filter", value, negated=negated, name=name.lower()))
        elif word == "OR" and not negated:
            tokens.append(_Token("or"))
        else:
            tokens.append(_Token("term", word, negated=negated))
    return tokens


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The text between the quote at ``i`` and the next closing quote; the index after it."""
    j = i + 1
    while j < len(text) and text[j] not in CLOSE_QUOTES:
        j += 1
    if j >= len(text):
        raise SearchQueryError(
            "Guillemet non fermé : fermez la phrase exacte par un autre guillemet. "
            "/ Unclosed quote."
        )
    return text[i + 1 : j].strip(), j + 1


def _build(text: str, tokens: list[_Token]) -> ParsedQuery:
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    filters: dict[str, list[str]] = {}
    dates: dict[str, datetime] = {}
    join_next = False
    for pos, tok in enumerate(tokens):
        if tok.kind == "or":
            prev_ok = pos > 0 and _joinable(tokens[pos - 1])
            next_ok = pos + 1 < len(tokens) and _joinable(tokens[pos + 1])
            if not (prev_ok and next_ok):
                raise SearchQueryError(
                    "OR doit relier deux mots ou phrases (ni filtre ni exclusion) : "
                    "« grève OR blocage ». / OR must join two words or phrases."
                )
            join_next = True
            continue
        if tok.kind == "filter":
            _filter(tok, filters, dates)
            continue
        if not tok.text:
            if tok.phrase:
                continue  # "" : nothing to look for
            raise SearchQueryError("Terme vide. / Empty term.")
        term = Term(tok.text, tok.phrase)
        if tok.negated:
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    has_filter = any(filters.get(k) for k in ("source", "tag", "lang")) or bool(dates)
    if not groups and not has_filter:
        raise SearchQueryError(
            "Précisez au moins un mot à chercher ; une exclusion seule ne suffit pas. "
            "/ Give at least one word to look for."
        )
    before, after = dates.get("before"), dates.get("after")
    return ParsedQuery(
        text=text,
        groups=tuple(tuple(g) for g in groups),
        excluded=tuple(excluded),
        sources=tuple(filters.get("source", ())),
        not_sources=tuple(filters.get("-source", ())),
        tags=tuple(filters.get("tag", ())),
        not_tags=tuple(filters.get("-tag", ())),
        langs=tuple(filters.get("lang", ())),
        not_langs=tuple(filters.get("-lang", ())),
        before=before,
        after=after,
    )


def _joinable(tok: _Token) -> bool:
    return tok.kind == "term" and not tok.negated


def _filter(tok: _Token, filters: dict[str, list[str]], dates: dict[str, datetime]) -> None:
    value = tok.text.strip()
    if not value:
        raise SearchQueryError(
            f"Le filtre « {tok.name}: » attend une valeur, par exemple {_example(tok.name)}. "
            f"/ The {tok.name}: filter needs a value."
        )
    if tok.name in ("before", "after"):
        if tok.negated:
            raise SearchQueryError(
                f"« -{tok.name}: » n'existe pas : utilisez {'after' if tok.name == 'before' else 'before'}:. "
                f"/ -{tok.name}: is not supported."
            )
        if not _DATE.fullmatch(value):
            raise SearchQueryError(
                f"Date invalide « {value} » : écrivez {tok.name}:AAAA-MM-JJ, par exemple "
                f"{tok.name}:2026-11-01. / Invalid date, use YYYY-MM-DD."
            )
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise SearchQueryError(
                f"Date invalide « {value} » (ce jour n'existe pas). / Invalid date."
            ) from None
        dates[tok.name] = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return
    if tok.name == "lang":
        value = value.lower().replace("_", "-")
        if not _LANG.fullmatch(value):
            raise SearchQueryError(
                f"Langue invalide « {value} » : utilisez un code comme lang:fr, lang:en, lang:de. "
                "/ Invalid language code."
            )
    elif tok.name == "tag":
        value = normalize_tag(value)
    key = ("-" if tok.negated else "") + tok.name
    if value not in filters.setdefault(key, []):
        filters[key].append(value)


def _example(name: str) -> str:
    return {
        "source": "source:paris-luttes",
        "tag": "tag:logement",
        "lang": "lang:fr",
        "before": "before:2026-11-01",
        "after": "after:2026-11-01",
    }[name]
