"""The fast path's contract: where it accepts a document, the result is feedparser's, field for field.

For every corpus file (``corpus/feeds/**``, ``corpus/mastodon/rss/``), every fixture in
``tests/parse/data``, the crawl benchmark's generated feeds and a few documents written
here, ``parse_feed(engine="fast")`` either declines (``FastPathDeclined``) or returns a
``ParsedFeed`` equal to ``parse_feed(engine="feedparser")``'s: every entry field (guid,
url, title, author, dates, summary, content, text, language, tags, image, kind,
content_hash) and the ``FeedData``. Also: the XML parser configuration never expands
entities nor reads external ones.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from lxml import etree

from aggregator.errors import ParseError
from aggregator.model import ParsedFeed
from aggregator.parse.fast import FastPathDeclined, safe_xml_parser
from aggregator.parse.feed import parse_feed
from bench.crawl import make_feed
from tests.conftest import CORPUS
from tests.parse.test_corpus import _content_type

URL = "https://corpus.example/feed"
DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p for p in DATA.iterdir() if p.is_file() and not p.name.endswith(".expected.json"))
CORPUS_FILES = (
    sorted(p for p in (CORPUS / "feeds").rglob("*") if p.is_file())
    + sorted(p for p in (CORPUS / "mastodon" / "rss").glob("*") if p.is_file())
    if CORPUS.is_dir()
    else []
)
#: Which documents took the fast path, summarized by ``test_fast_path_share``.
TAKEN: collections.Counter[str] = collections.Counter()


def _both(body: bytes, content_type: str | None = None) -> tuple[ParsedFeed | None, ParsedFeed | ParseError]:
    """(fast result or None when declined, reference result or its ParseError)."""
    try:
        reference: ParsedFeed | ParseError = parse_feed(body, url=URL, content_type=content_type, engine="feedparser")
    except ParseError as error:
        reference = error
    try:
        fast = parse_feed(body, url=URL, content_type=content_type, engine="fast")
    except FastPathDeclined as declined:
        assert declined.url == URL
        return None, reference
    except ParseError as error:
        # Not XML at all (JSON, HTML, empty): sniffed before either engine runs.
        assert isinstance(reference, ParseError) and str(reference) == str(error)
        return None, reference
    return fast, reference


def _assert_equal(fast: ParsedFeed, reference: ParsedFeed | ParseError, name: str) -> None:
    assert not isinstance(reference, ParseError), f"{name}: fast path parsed what feedparser refuses: {reference}"
    assert fast.feed == reference.feed, name
    assert len(fast.entries) == len(reference.entries), name
    for mine, theirs in zip(fast.entries, reference.entries, strict=True):
        for field in mine.__dataclass_fields__:
            assert getattr(mine, field) == getattr(theirs, field), f"{name}: {field} of {theirs.guid}"
    assert fast == reference, name


@pytest.mark.skipif(not CORPUS_FILES, reason=f"shared corpus not found at {CORPUS} (../shared/corpus)")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file(path: Path) -> None:
    body = path.read_bytes()
    fast, reference = _both(body, _content_type(body))
    kind = path.parent.name
    if fast is not None:
        _assert_equal(fast, reference, path.name)
    if fast is not None and (fast.feed.version or "").startswith("json"):
        return  # JSON Feed: sniffed before the XML engines, not part of the count
    TAKEN[f"corpus:{kind}:total"] += 1
    if fast is not None:
        TAKEN[f"corpus:{kind}:fast"] += 1


@pytest.mark.parametrize("path", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture(path: Path) -> None:
    fast, reference = _both(path.read_bytes())
    if fast is not None:
        _assert_equal(fast, reference, path.name)


@pytest.mark.parametrize("n", range(12))
def test_generated_feed(n: int) -> None:
    """The crawl benchmark's SPIP-like feeds all take the fast path, with the same result."""
    fast, reference = _both(make_feed(n, 7), "application/rss+xml; charset=utf-8")
    assert fast is not None
    _assert_equal(fast, reference, f"make_feed({n})")


WORDPRESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/" xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
  xmlns:slash="http://purl.org/rss/1.0/modules/slash/" xmlns:media="http://search.yahoo.com/mrss/"
  xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel>
  <title>Rebellyon &#8211; Info</title>
  <atom:link href="https://rebellyon.example/feed/" rel="self" type="application/rss+xml" />
  <link>https://rebellyon.example</link>
  <description>Lutte &amp; sociale</description>
  <lastBuildDate>Tue, 18 Nov 2025 10:00:00 +0000</lastBuildDate>
  <language>fr-FR</language>
  <sy:updatePeriod>hourly</sy:updatePeriod>
  <generator>https://wordpress.org/?v=6.4</generator>
  <image><url>https://rebellyon.example/logo.png</url><title>Rebellyon</title><link>https://rebellyon.example</link><width>32</width></image>
  <ttl>60</ttl>
  <item>
    <title>Gr\xc3\xa8ve &amp; <![CDATA[blocage]]> du d\xc3\xa9p\xc3\xb4t</title>
    <link>https://rebellyon.example/2025/11/greve?a=1&amp;b=2</link>
    <comments>https://rebellyon.example/2025/11/greve#respond</comments>
    <dc:creator><![CDATA[Collectif]]></dc:creator>
    <pubDate>Mon, 17 Nov 2025 08:30:00 +0100</pubDate>
    <category><![CDATA[Luttes]]></category><category domain="https://rebellyon.example/tag">Rail</category>
    <guid isPermaLink="false">https://rebellyon.example/?p=123</guid>
    <description><![CDATA[<p>Le d\xc3\xa9p\xc3\xb4t est bloqu\xc3\xa9&#8230;</p>]]></description>
    <content:encoded><![CDATA[<p>Texte <a href="/luttes/">complet</a> <img src="/img/a.jpg" onerror="x()"></p><script>alert(1)</script>]]></content:encoded>
    <wfw:commentRss>https://rebellyon.example/2025/11/greve/feed/</wfw:commentRss>
    <slash:comments>3</slash:comments>
    <post-id xmlns="com-wordpress:feed-additions:1">123</post-id>
    <media:content url="https://rebellyon.example/img/b.jpg" medium="image"><media:title>Photo</media:title></media:content>
    <enclosure url="https://rebellyon.example/a.mp3" length="1" type="audio/mpeg"/>
  </item>
  <item>
    <title>Sans lien</title>
    <guid>relative/guid</guid>
    <description>Texte brut &lt;b&gt;gras&lt;/b&gt;</description>
    <itunes:image href="https://rebellyon.example/cover.jpg"/>
    <dc:date>2025-11-16T10:00:00Z</dc:date>
  </item>
</channel>
</rss>"""

ATOM_XML_BASE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr" xml:base="https://spip.example/dir/">
  <title type="html">Mon &lt;b&gt;site&lt;/b&gt;</title>
  <link href="./"/>
  <entry xml:base="sub/">
    <title>a &lt; b</title>
    <id>article1</id>
    <link rel="alternate" type="text/html" href="spip.php?article1"/>
    <updated>2025-11-17T10:00:00+01:00</updated>
    <author><name>Caton</name><email>caton@example.org</email></author>
    <author><name>Autre</name></author>
    <category term="luttes" label="Luttes"/>
    <summary type="text">Un &lt;r\xc3\xa9sum\xc3\xa9&gt;</summary>
    <content type="html" xml:lang="en">&lt;p&gt;&lt;a href="../x"&gt;lien&lt;/a&gt;&lt;/p&gt;</content>
  </entry>
  <entry>
    <title type="text">Second</title>
    <link href="http://other.example/2"/>
    <published>2025-11-16T10:00:00Z</published>
    <content type="text">Plain
text</content>
  </entry>
</feed>"""

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://rdf.example/"><title>RDF</title><link>https://rdf.example/</link>
    <description>d</description><dc:language>de</dc:language></channel>
  <item rdf:about="https://rdf.example/1"><title>Eins</title><link>https://rdf.example/1</link>
    <dc:subject>a</dc:subject><dc:date>2025-01-02</dc:date></item>
</rdf:RDF>"""


@pytest.mark.parametrize("body", [WORDPRESS, ATOM_XML_BASE, RDF], ids=["wordpress", "atom-xml-base", "rdf"])
def test_written_documents_take_the_fast_path(body: bytes) -> None:
    fast, reference = _both(body)
    assert fast is not None
    assert fast.entries
    _assert_equal(fast, reference, "written")


DECLINED = {
    "doctype": b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0"><channel><title>&x;</title></channel></rss>',
    "xhtml content": b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></content></entry></feed>',
    "base64": b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>t</title><content type="application/octet-stream">aGk=</content></entry></feed>',
    "not well-formed": b'<rss version="2.0"><channel><title>a & b</title></channel></rss>',
    "undefined entity": b'<rss version="2.0"><channel><title>a &eacute; b</title></channel></rss>',
    "markup in description": b'<rss version="2.0"><channel><item><description><p>raw</p></description></item></channel></rss>',
}


@pytest.mark.parametrize("name", DECLINED)
def test_doubtful_documents_go_to_feedparser(name: str) -> None:
    body = DECLINED[name]
    with pytest.raises(FastPathDeclined):
        parse_feed(body, url=URL, engine="fast")
    try:
        auto = parse_feed(body, url=URL)
    except ParseError as error:
        with pytest.raises(ParseError, match="not a feed"):
            parse_feed(body, url=URL, engine="feedparser")
        assert "not a feed" in str(error)
    else:
        assert auto == parse_feed(body, url=URL, engine="feedparser")


def test_billion_laughs_is_not_expanded(tmp_path: Path) -> None:
    body = (DATA / "billion_laughs.xml").read_bytes()
    with pytest.raises(FastPathDeclined, match="DOCTYPE"):
        parse_feed(body, url=URL, engine="fast")
    # The parser configuration itself never expands them: libxml2 either keeps the
    # references as references or refuses the document outright.
    try:
        root = etree.fromstring(body, safe_xml_parser())
    except etree.XMLSyntaxError as error:
        assert "amplification" in str(error) or "entity" in str(error).lower()
    else:
        assert len(etree.tostring(root)) < 2 * len(body)
        assert "lol" * 100 not in "".join(root.itertext())


def test_external_entities_are_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title>'
        "<link>https://x.example/1</link></item></channel></rss>"
    ).encode()
    root = etree.fromstring(body, safe_xml_parser())
    assert b"TOP-SECRET" not in etree.tostring(root)
    with pytest.raises(FastPathDeclined):
        parse_feed(body, url=URL, engine="fast")
    parsed = parse_feed(body, url=URL)  # feedparser's path
    assert all("TOP-SECRET" not in e.title + e.summary + e.text for e in parsed.entries)
    fixture = (DATA / "external_entity.xml").read_bytes()
    with pytest.raises(FastPathDeclined):
        parse_feed(fixture, url=URL, engine="fast")


def test_fast_path_share() -> None:
    """Prints how many corpus files took the fast path (run with ``-s``); SPIP ones must."""
    if not TAKEN:
        pytest.skip("run together with test_corpus_file")
    kinds = sorted({key.split(":")[1] for key in TAKEN})
    fast = sum(TAKEN[f"corpus:{k}:fast"] for k in kinds)
    total = sum(TAKEN[f"corpus:{k}:total"] for k in kinds)
    detail = ", ".join(f"{k} {TAKEN[f'corpus:{k}:fast']}/{TAKEN[f'corpus:{k}:total']}" for k in kinds)
    print(f"\nfast path: {fast}/{total} corpus files ({detail})")
    if "spip" in kinds:
        assert TAKEN["corpus:spip:fast"] == TAKEN["corpus:spip:total"]


def test_many_and_repeated_categories_give_feedparsers_raw_tags() -> None:
    """The fast path counts tags instead of scanning them (10,000 categories cost feedparser
    seconds: 3,000 here); the raw tags, repeats, schemes and late terms included, stay
    feedparser's."""
    import io

    import feedparser

    from aggregator.parse.fast import parse_raw

    cats = "".join(f"<category>t{n % 2000}</category>" for n in range(3000))
    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>A</title><category domain=\"d\">x</category><category domain=\"d\">x</category>"
        "<category>x</category><category domain=\"e\"></category><category domain=\"d\">y</category>"
        f"<category>x</category>{cats}<guid>a</guid></item></channel></rss>"
    ).encode()
    headers = {"content-location": URL}
    _, _, entries = parse_raw(body, headers)
    reference = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False,
                                 resolve_relative_uris=False)
    assert [dict(t) for t in entries[0]["tags"]] == [dict(t) for t in reference["entries"][0]["tags"]]
    assert len(entries[0]["tags"]) == 2000 + 5  # feedparser keeps the second "x" in "d": its term came late
