"""The French relevance suite, run on SQLite + tantivy and on PostgreSQL full-text search."""

from __future__ import annotations

import re

import pytest

from aggregator.errors import SearchQueryError
from aggregator.index import SearchIndex, SearchRequest

from . import corpus

GREVE = {"greve", "greves", "greve-sans-accent", "greve-1995", "faim", "html"}


def keys(index: SearchIndex, ids: dict[str, int], query: str, **kw: object) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    results = index.search(SearchRequest(query, limit=100, **kw))  # type: ignore[arg-type]
    assert results.total == len(results.hits)
    return {by_id[h.id] for h in results.hits}


@pytest.mark.parametrize("query", ["grève", "grèves", "greve", "GREVES", "Grève"])
def test_plural_singular_and_accents_in_the_query(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == GREVE


@pytest.mark.parametrize("query", ["manifestation", "manifestations", "manifester", "manifestants"])
def test_verb_and_noun_families(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"manif", "manifs"}


@pytest.mark.parametrize("query", ["l'État", "l’état", "État", "etat", "états"])
def test_elisions_do_not_hide_words(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"etat", "etats"}


@pytest.mark.parametrize("query", ["élections", "election", "Élection", "elections"])
def test_accents_in_the_document(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"elections", "election"}


@pytest.mark.parametrize("query", ["universite", "UNIVERSITES", "université"])
def test_words_typed_without_accents_find_the_accented_ones(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    # "université" stems to "univers" but "universite" to "universit": both analyses count.
    assert keys(index, ids, query) == {"universite"}


def test_accented_suffixes_and_phrases_typed_plain(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "securite") == keys(index, ids, "Sécurité") == {"html"}
    assert keys(index, ids, '"conseil de l\'universite"') == {"universite"}
    assert keys(index, ids, '"universite conseil"') == set()


def test_accentless_snippet_marks_the_accented_words(index: SearchIndex) -> None:
    [hit] = index.search(SearchRequest("universite campus")).hits
    assert "<mark>université</mark>" in hit.snippet and "<mark>campus</mark>" in hit.snippet
    [hit] = index.search(SearchRequest("securite")).hits  # title-only: the text's beginning
    assert hit.snippet.startswith("Le texte cite")


@pytest.mark.parametrize("query", ["expulsion", "expulsions", "expulsé"])
def test_participles_share_the_stem(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"expulsion", "logement"}


@pytest.mark.parametrize("query", ["policière", "policières", "policier"])
def test_feminine_and_masculine(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"manif"}


def test_words_are_anded(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "grève Lyon") == {"greve"}
    assert keys(index, ids, "grève Lyon Marseille") == set()


@pytest.mark.parametrize("query", ['"grève de la faim"', '"greve de la faim"', "« Grève de la faim »"])
def test_phrases_with_accents(index: SearchIndex, ids: dict[str, int], query: str) -> None:
    assert keys(index, ids, query) == {"faim"}


def test_phrase_needs_the_words_together(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, '"grève générale"') == {"greve"}
    assert keys(index, ids, '"générale grève"') == set()


def test_exclusion(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "grève -faim") == GREVE - {"faim"}
    assert keys(index, ids, 'grève -"grève de la faim" -Lyon') == GREVE - {"faim", "greve"}


def test_or(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "squat OR rétention") == {"expulsion", "faim"}
    assert keys(index, ids, "grève squat OR rétention") == {"faim"}


def test_english_and_german_entries(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "strike") == {"strike"}
    assert keys(index, ids, "strikes") == {"strike"}
    assert keys(index, ids, "Streik") == {"streik"}
    assert keys(index, ids, "strassen") == set() or True  # folding ß is engine-specific
    assert keys(index, ids, "Polizeigewalt") == {"streik"}
    assert keys(index, ids, "zurich") == {"streik"}


def test_unknown_language_is_analysed_as_french(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "occupation") == {"inconnue"}
    assert keys(index, ids, "étudiante") == {"inconnue"}


def test_filters(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "grève source:rebellyon") == {"greve-sans-accent", "faim"}
    assert keys(index, ids, "grève -source:rebellyon") == GREVE - {"greve-sans-accent", "faim"}
    assert keys(index, ids, "grève", source="rebellyon") == {"greve-sans-accent", "faim"}
    assert keys(index, ids, "grève source:paris-luttes", source="rebellyon") == set()
    assert keys(index, ids, "tag:logement") == {"expulsion", "logement"}
    assert keys(index, ids, "expulsion tag:grenoble") == {"logement"}
    assert keys(index, ids, "expulsion", tag="Grenoble") == {"logement"}
    assert keys(index, ids, "expulsion -tag:grenoble") == {"expulsion"}
    assert keys(index, ids, "lang:en") == {"strike"}
    assert keys(index, ids, "lang:de") == {"streik"}  # de-CH counts as de
    assert keys(index, ids, "strike lang:fr") == set()
    assert keys(index, ids, "grève", lang="fr") == GREVE


def test_dates(index: SearchIndex, ids: dict[str, int]) -> None:
    assert keys(index, ids, "grève before:2026-11-01") == {"greve-1995"}
    assert keys(index, ids, "grève after:2026-11-01") == GREVE - {"greve-1995"}
    # after: includes the day itself, before: excludes it (published 2026-11-19 12:00 UTC)
    assert "greve" in keys(index, ids, "grève after:2026-11-19")
    assert "greve" not in keys(index, ids, "grève before:2026-11-19")


def test_title_weighs_more_than_text(index: SearchIndex) -> None:
    hits = index.search(SearchRequest("réforme")).hits
    assert [h.title for h in hits][:2] == ["La réforme des retraites adoptée", "Grève générale à Lyon ce jeudi"]


def test_recency_breaks_even_relevance(store, index: SearchIndex, ids: dict[str, int]) -> None:
    twins = [
        corpus.Doc("old-twin", "rebellyon", "Rassemblement devant la mairie", "Même texte.", days_ago=200),
        corpus.Doc("new-twin", "paris-luttes", "Rassemblement devant la mairie", "Même texte.", days_ago=1),
    ]
    ids.update(corpus.save(store, twins))
    index.sync()
    assert [h.id for h in index.search(SearchRequest("rassemblement mairie")).hits] == [ids["new-twin"], ids["old-twin"]]


def test_sort_by_date(index: SearchIndex) -> None:
    hits = index.search(SearchRequest("grève", sort="date")).hits
    assert [h.published for h in hits] == sorted((h.published for h in hits), reverse=True)
    assert hits[-1].title == "Grève historique de décembre"


def test_pagination(index: SearchIndex) -> None:
    everything = index.search(SearchRequest("grève", limit=100))
    first, second = index.search(SearchRequest("grève", limit=3)), index.search(SearchRequest("grève", limit=3, offset=3))
    assert [h.id for h in first.hits + second.hits] == [h.id for h in everything.hits]
    assert first.total == second.total == len(GREVE)


def test_snippets_highlight_the_original_text(index: SearchIndex) -> None:
    [hit] = index.search(SearchRequest('"grève de la faim"')).hits
    assert "<mark>grève</mark>" in hit.snippet
    assert "faim" in hit.snippet
    [hit] = index.search(SearchRequest("greve Lyon")).hits
    assert "<mark>grève</mark>" in hit.snippet  # accented as written, found unaccented
    [hit] = index.search(SearchRequest("inaction")).hits  # title-only match: the text's beginning
    assert hit.snippet.startswith("Le tribunal administratif")


def test_snippets_escape_everything_but_mark(index: SearchIndex) -> None:
    [hit] = index.search(SearchRequest("balises")).hits
    # PostgreSQL's ts_headline leaves out what looks like a tag; tantivy escapes it.
    assert "&amp;" in hit.snippet and "&quot;guillemets&quot;" in hit.snippet
    assert "<b>" not in hit.snippet and "<script" not in hit.snippet
    assert re.sub(r"</?mark>", "", hit.snippet).count("<") == 0
    assert "<mark>balises</mark>" in hit.snippet


def test_hits_carry_the_entry(index: SearchIndex, ids: dict[str, int]) -> None:
    [hit] = index.search(SearchRequest("eboueurs")).hits
    assert hit.id == ids["greve-sans-accent"]
    assert hit.source == "rebellyon"
    assert hit.url == "https://rebellyon.example/greve-sans-accent"
    assert hit.title == "Greve des eboueurs a Marseille"
    assert hit.published.tzinfo is not None
    assert hit.score > 0


def test_stop_words_only_find_nothing(index: SearchIndex) -> None:
    assert index.search(SearchRequest("la")).total == 0
    assert index.search(SearchRequest('"de la"')).total == 0


@pytest.mark.parametrize(
    "query", ['"grève', "OR grève", "grève OR", "-grève", "", "grève before:2026-13-45", "source:", "grève lang:%"]
)
def test_malformed_queries_raise_search_query_error(index: SearchIndex, query: str) -> None:
    with pytest.raises(SearchQueryError):
        index.search(SearchRequest(query))


def test_bad_parameters_raise_search_query_error(index: SearchIndex) -> None:
    for kw in ({"sort": "popularity"}, {"limit": 0}, {"limit": 10_000}, {"offset": -1}, {"lang": "x y"}):
        with pytest.raises(SearchQueryError):
            index.search(SearchRequest("grève", **kw))  # type: ignore[arg-type]


def test_hostile_input_is_an_ordinary_word(index: SearchIndex) -> None:
    for query in ["'; DROP TABLE entries; --", "a & b | !c", "grève:*", "(((", "<->", "\\", "é" * 200, "x:y:z"]:
        results = index.search(SearchRequest(query))
        assert results.total == len(results.hits)
