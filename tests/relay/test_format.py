"""Property and example tests of the pure formatters: limits, whole URLs, exact facets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.relay.format import (
    BLUESKY_BYTES,
    BLUESKY_GRAPHEMES,
    MASTODON_LIMIT,
    PostInput,
    format_bluesky,
    format_mastodon,
    grapheme_length,
    hashtags,
    language_tag,
    mastodon_length,
    short_url,
    truncate,
)
from aggregator.relay.ids import TID_PATTERN, decode_tid, idempotency_key, item_tid
from aggregator.relay.opengraph import parse_card

TEMPLATES = [
    "{title}\n\n{url}\n\n{hashtags}",
    "{title} — {source}\n\n{summary}\n\n{url}\n\n{hashtags}",
    "{summary} {url} {title} {hashtags}",
    "📰 {source} : {title}\n{url}",
    "{url}",
    "{title} {unknown} {{title}} {url}",
]

# Mixed scripts: accents, emoji with ZWJ and skin tones, combining marks, RTL, CJK.
PIECES = ["Grève", "générale", "👩🏽‍🚒", "🇫🇷", "e\u0301", "مرحبا", "שלום", "日本語のテキスト", "Lyon", "—", "x" * 40,
          "https://example.org/in-title", "#déjà", "l'été", "\u200f", "🏳️‍🌈", "Ä" * 3, "a\u0308\u0308\u0308\u0308"]
words = st.lists(st.one_of(st.sampled_from(PIECES), st.text(min_size=1, max_size=12)), max_size=120).map(" ".join)
urls = st.builds(
    lambda host, path, q: f"https://{host}.example/{path}" + (f"?q={q}" if q else ""),
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_~%./-]{0,400}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{0,20}", fullmatch=True),
)
posts = st.builds(
    PostInput,
    title=words, url=urls, source=st.sampled_from(["Rebellyon", "Paris-luttes.info", "Basta!", "ملف"]),
    summary=words, hashtags=st.lists(words, max_size=8).map(hashtags), language=st.sampled_from([None, "fr", "fr-FR", "ar"]),
)


@settings(max_examples=300, deadline=None)
@given(post=posts, template=st.sampled_from(TEMPLATES))
def test_mastodon_stays_within_500_and_keeps_the_url_whole(post: PostInput, template: str) -> None:
    out = format_mastodon(post, template)
    assert mastodon_length(out.text, post.url) <= MASTODON_LIMIT
    assert post.url in out.text.split() or any(post.url == w.strip() for w in out.text.split())
    assert "\ufffd" not in out.text


@settings(max_examples=300, deadline=None)
@given(post=posts, template=st.sampled_from(TEMPLATES))
def test_bluesky_limits_and_facets_cover_exactly_their_link_or_tag(post: PostInput, template: str) -> None:
    out = format_bluesky(post, template)
    assert grapheme_length(out.text) <= BLUESKY_GRAPHEMES
    data = out.text.encode("utf-8")
    assert len(data) <= BLUESKY_BYTES
    links = [f for f in out.facets if f.kind == "link"]
    assert len(links) == 1 and links[0].value == post.url  # the full URL, never cut
    assert data[links[0].byte_start : links[0].byte_end].decode() == short_url(post.url or "")
    for facet in out.facets:
        covered = data[facet.byte_start : facet.byte_end].decode("utf-8")  # never splits a character
        if facet.kind == "tag":
            assert covered == "#" + facet.value
    ends = sorted((f.byte_start, f.byte_end) for f in out.facets)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ends))  # no overlap


@given(text=words, limit=st.integers(min_value=0, max_value=200))
def test_truncate_never_cuts_a_word_a_url_or_a_grapheme(text: str, limit: int) -> None:
    out = truncate(text, limit)
    assert grapheme_length(out) <= max(limit, 0)
    if out != text and out:
        assert out.endswith("…")
        body = out[:-1]
        # The kept graphemes are a prefix of the original's graphemes.
        assert text.startswith(body)
        for word in body.split():
            if word.startswith(("http://", "https://")):
                assert word in text.split()


def test_example_article_on_both_networks() -> None:
    post = PostInput(
        title="Grève générale à Lyon : des milliers de personnes dans la rue 👩🏽‍🚒",
        url="https://rebellyon.info/Greve-generale-a-Lyon-des-milliers-de-personnes-dans-la-rue-12345?utm=x",
        source="Rebellyon", summary="Un long résumé.", hashtags=hashtags(["Lyon", "grève", "gilets jaunes", "2024"]),
        language="fr-FR",
    )
    m = format_mastodon(post, "{title}\n\n{url}\n\n{hashtags}")
    assert m.text == (f"{post.title}\n\n{post.url}\n\n#Lyon #grève #GiletsJaunes")
    assert m.language == "fr"
    b = format_bluesky(post, "{title}\n\n{url}\n\n{hashtags}")
    assert b.text == f"{post.title}\n\nrebellyon.info/Greve-genera...\n\n#Lyon #grève #GiletsJaunes"
    data = b.text.encode()
    assert [(f.kind, data[f.byte_start:f.byte_end].decode(), f.value) for f in b.facets] == [
        ("link", "rebellyon.info/Greve-genera...", post.url),
        ("tag", "#Lyon", "Lyon"), ("tag", "#grève", "grève"), ("tag", "#GiletsJaunes", "GiletsJaunes"),
    ]
    # Byte offsets, not characters: the emoji and the accents come before the link.
    assert b.facets[0].byte_start > len(b.text[: b.text.index("rebellyon")])


def test_long_title_is_cut_at_a_word_with_an_ellipsis_and_summary_goes_first() -> None:
    title = "Mot " * 200
    post = PostInput(title=title, url="https://a.example/x", summary="résumé " * 50)
    m = format_mastodon(post, "{title}\n\n{summary}\n\n{url}")
    assert "résumé" not in m.text and m.text.endswith("\n\nhttps://a.example/x")
    assert m.text.split("\n\n")[0].endswith("Mot…")
    assert mastodon_length(m.text, post.url) <= 500


def test_a_url_counts_23_on_mastodon_however_long() -> None:
    url = "https://example.org/" + "a" * 1000
    post = PostInput(title="T " * 230, url=url)
    m = format_mastodon(post, "{title} {url}")
    assert url in m.text and mastodon_length(m.text, url) <= 500 and len(m.text) > 1000


def test_language_tags_and_hashtags() -> None:
    assert language_tag("fr-FR") == "fr" and language_tag("FR") == "fr" and language_tag("français") is None
    assert language_tag(None) is None
    assert hashtags(["#Lyon", "lyon", "123", "luttes sociales", "!!!"]) == ("Lyon", "LuttesSociales")


def test_item_tid_is_valid_stable_and_distinct() -> None:
    created = datetime(2026, 11, 20, 12, 0, 0, 123456, tzinfo=UTC)
    keys = {item_tid(i, "bluesky", created) for i in range(1, 5001)}
    assert len(keys) == 5000  # one account, one key per item
    assert all(TID_PATTERN.match(k) for k in keys)
    assert item_tid(7, "bluesky", created) == item_tid(7, "bluesky", created)
    micros = decode_tid(item_tid(7, "bluesky", created)) >> 10
    assert datetime.fromtimestamp(micros / 1e6, UTC).replace(microsecond=0) == created.replace(microsecond=0)
    assert idempotency_key(7, "mastodon", created) == idempotency_key(7, "mastodon", created)
    assert idempotency_key(7, "mastodon", created) != idempotency_key(8, "mastodon", created)


def test_opengraph_card_parser() -> None:
    page = (b'<html><head><meta property="og:title" content="Titre &amp; co">'
            b'<meta property="og:description" content="  Une\n description ">'
            b'<meta property="og:image" content="/img/a.jpg"><title>ignored</title></head>'
            b'<body><meta property="og:title" content="not me"></body></html>')
    card = parse_card(page, "https://site.example/art/1")
    assert (card.title, card.description, card.image) == ("Titre & co", "Une description", "https://site.example/img/a.jpg")
    bare = parse_card(b"<html><head><title>Seul titre</title></head></html>", "https://s.example/", fallback_description="d")
    assert (bare.title, bare.description, bare.image) == ("Seul titre", "d", None)
    assert parse_card(b'<meta property="og:image" content="javascript:alert(1)">', "https://s.example/").image is None
