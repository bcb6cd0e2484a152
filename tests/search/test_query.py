"""The query language parser: pure, so every rule is checked with plain strings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.errors import SearchQueryError
from aggregator.index.query import Term, parse


def test_words_are_anded_and_phrases_kept() -> None:
    q = parse('grève "grève de la faim" Lyon')
    assert q.groups == ((Term("grève"),), (Term("grève de la faim", True),), (Term("Lyon"),))
    assert q.has_text


def test_french_quotes_are_phrases() -> None:
    assert parse("« violences policières »").groups == ((Term("violences policières", True),),)
    assert parse("“état d'urgence”").groups == ((Term("état d'urgence", True),),)


def test_or_binds_tighter_than_and() -> None:
    q = parse("grève blocage OR occupation")
    assert q.groups == ((Term("grève"),), (Term("blocage"), Term("occupation")))
    q = parse('a OR "b c" OR d')
    assert q.groups == ((Term("a"), Term("b c", True), Term("d")),)


def test_lower_case_or_is_a_word() -> None:
    assert parse("or noir").groups == ((Term("or"),), (Term("noir"),))


def test_exclusions() -> None:
    q = parse('grève -SNCF -"grève de la faim"')
    assert q.groups == ((Term("grève"),),)
    assert q.excluded == (Term("SNCF"), Term("grève de la faim", True))


def test_hyphen_inside_a_word_is_not_an_exclusion() -> None:
    assert parse("anti-G8 - x").groups == ((Term("anti-G8"),), (Term("-"),), (Term("x"),))


def test_filters() -> None:
    q = parse('grève source:rebellyon source:paris-luttes -source:x tag:"Violences  Policières" '
              "-tag:sport lang:FR after:2026-01-01 before:2026-02-01")
    assert q.sources == ("rebellyon", "paris-luttes")
    assert q.not_sources == ("x",)
    assert q.tags == ("violences policières",)
    assert q.not_tags == ("sport",)
    assert q.langs == ("fr",)
    assert q.after == datetime(2026, 1, 1, tzinfo=UTC)
    assert q.before == datetime(2026, 2, 1, tzinfo=UTC)


def test_filters_only_query_lists_entries() -> None:
    q = parse("tag:logement")
    assert not q.has_text and q.tags == ("logement",)


def test_unknown_prefix_is_a_word() -> None:
    assert parse("10:30 http://x").groups == ((Term("10:30"),), (Term("http://x"),))


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("", "vide"),
        ("   ", "vide"),
        ('"grève générale', "Guillemet"),
        ("« grève", "Guillemet"),
        ("OR grève", "OR"),
        ("grève OR", "OR"),
        ("grève OR OR blocage", "OR"),
        ("grève OR -blocage", "OR"),
        ("grève OR source:x", "OR"),
        ("-grève", "au moins un mot"),
        ("-grève -blocage", "au moins un mot"),
        ("grève source:", "source:"),
        ("grève before:2026-13-01", "Date invalide"),
        ("grève after:2026-02-30", "Date invalide"),
        ("grève after:hier", "Date invalide"),
        ("grève -before:2026-01-01", "before"),
        ("grève lang:f*", "Langue invalide"),
        ("x" * 1001, "trop longue"),
        (" ".join(["mot"] * 41), "Trop de termes"),
    ],
)
def test_malformed_queries_say_why(query: str, fragment: str) -> None:
    with pytest.raises(SearchQueryError) as info:
        parse(query)
    assert fragment in str(info.value)
