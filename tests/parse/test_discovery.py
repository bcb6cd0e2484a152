"""Feed autodiscovery on our own HTML pages, and the rome "We're Sorry" page of the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.parse.discovery import discover_feeds, looks_like_html
from tests.conftest import CORPUS

PAGES = Path(__file__).parent / "data" / "html"


def _discover(name: str, url: str, charset: str | None = None) -> list[str]:
    return discover_feeds((PAGES / name).read_bytes(), url=url, charset=charset)


def test_links_best_first_without_comments_rest_api_or_bad_schemes() -> None:
    found = _discover("wordpress.html", "https://blog.example/fr/accueil")
    # <base href> applies; RSS/Atom before JSON Feed; duplicates, the comment feed, the
    # WordPress REST API, oEmbed and javascript: are gone.
    assert found == [
        "https://blog.example/feed/",
        "https://blog.example/fr/atom.xml",
        "https://blog.example/fr/feed.json",
    ]


def test_comment_feed_is_kept_when_it_is_the_only_one() -> None:
    assert _discover("comments_only.html", "https://site.example/page") == ["https://site.example/comments.rss"]


def test_spip_guess_when_nothing_is_advertised() -> None:
    assert _discover("spip_nolink.html", "https://rebellyon.example/spip.php?page=sommaire", "iso-8859-1") == [
        "https://rebellyon.example/spip.php?page=backend"
    ]


def test_wordpress_guess_when_nothing_is_advertised() -> None:
    assert _discover("wordpress_nolink.html", "http://wp.example/a/b") == ["http://wp.example/feed/"]


def test_nothing_found_and_no_blind_guesses() -> None:
    assert _discover("plain.html", "https://plain.example/") == []


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00garbage<<<", b"<link rel=alternate type=application/rss+xml href=>", b"<" * 10_000])
def test_broken_pages_do_not_raise(body: bytes) -> None:
    assert isinstance(discover_feeds(body, url="https://x.example/"), list)


def test_corpus_html_page_advertises_its_feed() -> None:
    page = CORPUS / "feeds" / "illformed" / "rome__2.rss"
    if not page.is_file():
        pytest.skip(f"corpus not available at {CORPUS} (../shared/corpus)")
    found = discover_feeds(page.read_bytes(), url="http://web.mac.com/stuartbainbridge/")
    assert found and found[0].startswith("http://web.mac.com/stuartbainbridge/")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<!DOCTYPE html><html><body></body></html>", True),
        (b"\xef\xbb\xbf\n  <!-- hi --><HTML lang=fr>", True),
        (b"<head><title>Moved</title></head>", True),
        (b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x.dtd"><rss version="2.0"/>', False),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><description>&lt;html&gt;</description></channel></rss>', False),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><content type="html">&lt;html&gt;</content></feed>', False),
        (b"{}", False),
        ("<html>".encode("utf-16-le"), True),
    ],
)
def test_looks_like_html(body: bytes, expected: bool) -> None:
    assert looks_like_html(body) is expected
