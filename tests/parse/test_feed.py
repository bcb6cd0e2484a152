"""parse_feed behaviours not tied to one fixture: encodings, sniffing, limits, safety."""

from __future__ import annotations

import codecs

import pytest

from aggregator.errors import ParseError
from aggregator.parse.feed import parse_feed

URL = "https://feed.example/rss"


def _rss(title: str, items: str = "", prolog: str = '<?xml version="1.0"?>') -> str:
    return f'{prolog}<rss version="2.0"><channel><title>{title}</title><link>https://feed.example/</link>{items}</channel></rss>'


def _item(guid: str, title: str = "t", link: str = "https://feed.example/a") -> str:
    return f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link></item>"


def test_http_charset_decodes_a_document_without_declaration() -> None:
    body = _rss("Été à Montreuil").encode("iso-8859-1")
    parsed = parse_feed(body, url=URL, content_type="application/rss+xml; charset=ISO-8859-1")
    assert parsed.feed.title == "Été à Montreuil"
    parsed = parse_feed(body, url=URL, content_type="application/rss+xml", charset="iso-8859-1")
    assert parsed.feed.title == "Été à Montreuil"
    parsed = parse_feed(body, url=URL, charset="iso-8859-1")
    assert parsed.feed.title == "Été à Montreuil"


def test_xml_declaration_decodes_when_no_header() -> None:
    body = _rss("Crème brûlée", prolog='<?xml version="1.0" encoding="windows-1252"?>').encode("cp1252")
    assert parse_feed(body, url=URL).feed.title == "Crème brûlée"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_byte_order_marks_and_wide_encodings(codec: str) -> None:
    text = _rss("Grève générale", _item("g1", "Ça bouge"))
    body = text.encode(codec)
    if codec in ("utf-16-le", "utf-16-be"):
        assert not body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))  # no BOM on purpose
    parsed = parse_feed(body, url=URL)
    assert parsed.feed.title == "Grève générale"
    assert [e.title for e in parsed.entries] == ["Ça bouge"]


def test_duplicate_guids_keep_the_first_entry() -> None:
    items = _item("same", "first") + _item("same", "second") + _item("other", "third")
    parsed = parse_feed(_rss("t", items).encode(), url=URL)
    assert [e.title for e in parsed.entries] == ["first", "third"]


def test_ttl_minutes_become_seconds_and_nonsense_is_ignored() -> None:
    body = _rss("t").replace("<title>", "<ttl>60</ttl><title>", 1).encode()
    assert parse_feed(body, url=URL).feed.ttl == 3600.0
    body = _rss("t").replace("<title>", "<ttl>soon</ttl><title>", 1).encode()
    assert parse_feed(body, url=URL).feed.ttl is None


def test_relative_links_resolve_against_the_feed_url_and_bad_schemes_drop() -> None:
    items = _item("a", "rel", "/articles/1") + _item("b", "js", "javascript:alert(1)") + _item("c", "ftp", "ftp://x.example/f")
    parsed = parse_feed(_rss("t", items).encode(), url=URL)
    assert [e.url for e in parsed.entries] == ["https://feed.example/articles/1", None, None]


def test_entry_without_guid_or_link_gets_a_content_hash_identity() -> None:
    items = "<item><title>Only a title</title><description>Body</description></item>"
    entry = parse_feed(_rss("t", items).encode(), url=URL).entries[0]
    assert entry.guid.startswith("sha256:")
    again = parse_feed(_rss("t", items).encode(), url=URL).entries[0]
    assert again.guid == entry.guid


def test_empty_but_valid_feed_parses_to_no_entries() -> None:
    parsed = parse_feed(_rss("Nothing yet").encode(), url=URL)
    assert parsed.entries == ()
    assert parsed.feed.version == "rss20"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"/etc/passwd",  # feedparser would open a path given as a string
        b"file:///etc/passwd",
        b"http://127.0.0.1:9/feed",  # ... or fetch a URL
        b"<html><body>Not found</body></html>",
        b"<?xml version='1.0'?><note><to>x</to></note>",
        b"\x00\x01\x02\x03garbage",
        b"[1, 2, 3]",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": {"not": "a list"}}',
        b"[" * 100_000,
    ],
)
def test_not_a_feed_raises_parse_error_only(body: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, url=URL)
    assert caught.value.url == URL


def test_json_feed_is_sniffed_whatever_the_content_type() -> None:
    body = b'\xef\xbb\xbf {"version": "https://jsonfeed.org/version/1", "title": "J", "items": [{"id": "1", "content_text": "hi"}]}'
    parsed = parse_feed(body, url=URL, content_type="text/html")
    assert parsed.feed.version == "json10"
    assert [e.text for e in parsed.entries] == ["hi"]


def test_feed_served_as_html_content_type_still_parses() -> None:
    # The bytes decide, not the header: servers label feeds text/html all the time.
    parsed = parse_feed(_rss("t", _item("g")).encode(), url=URL, content_type="text/html; charset=utf-8")
    assert len(parsed.entries) == 1


def test_summary_text_is_bounded() -> None:
    long = "mot " * 2000
    items = f"<item><guid>g</guid><title>t</title><description>{long}</description></item>"
    entry = parse_feed(_rss("t", items).encode(), url=URL).entries[0]
    assert len(entry.text) <= 601
    assert entry.text.endswith("…")
