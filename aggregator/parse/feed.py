"""The parse step: feed bytes in, ``ParsedFeed`` out (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed).

The format is sniffed from the bytes, never taken from the URL or the content type: JSON
goes to ``jsonfeed``, web pages are refused, everything else is XML. XML is read by the
fast path (``fast.py``: lxml and a port of feedparser's field logic) when it is certain to
read the document as feedparser does, else by feedparser itself, the reference. Both yield
feedparser's raw dictionaries, mapped to entries here by the same code. feedparser runs
with its sanitizer and URI resolver off (two thirds of its time, measured); every HTML
field is sanitized by nh3 in ``sanitize_html`` with the field's own base URL.
"""

from __future__ import annotations

import io
from typing import Any, Literal

import feedparser

from aggregator.errors import ParseError
from aggregator.model import EntryData, FeedData, ParsedFeed
from aggregator.parse.build import (
    absolute_http,
    build_entry,
    clean_tags,
    fragment_html,
    normalize_language,
    parsed_feed,
)
from aggregator.parse.dates import from_struct_time
from aggregator.parse.discovery import looks_like_html
from aggregator.parse.encoding import wide_to_utf8
from aggregator.parse.fast import FastPathDeclined, parse_raw
from aggregator.parse.jsonfeed import looks_like_json, parse_json_feed
from aggregator.parse.sanitize import html_to_text, is_http_url, plain_title

#: Entries kept per document: a feed with more is an archive or an attack.
MAX_ENTRIES = 10_000
#: RSS <ttl> is in minutes; more than a week is a typo, and the scheduler clamps anyway.
MAX_TTL_MINUTES = 7 * 24 * 60
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")
#: ``auto``: the fast path when it is sure, else feedparser; the others force one engine.
Engine = Literal["auto", "fast", "feedparser"]


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    charset: str | None = None,
    engine: Engine = "auto",
) -> ParsedFeed:
    """Parse a feed document.

    Args:
        body: the response body, as received (after content decoding).
        url: the URL finally answered; base of relative links and ``Content-Location``.
        content_type: the HTTP ``Content-Type`` (its charset parameter counts).
        charset: the HTTP charset when the caller extracted it separately.
        engine: how XML is read; ``fast`` and ``feedparser`` exist for tests and benchmarks.

    Raises:
        ParseError: empty, not a feed (an HTML page, garbage, JSON that is not JSON Feed),
            or a feed parser failure. Nothing else, whatever the input. With
            ``engine="fast"``, ``FastPathDeclined`` (a ParseError) when the fast path
            does not take the document.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ParseError("document is not bytes", url=url)
    body = bytes(body)
    if not body.strip(b" \t\r\n\x00\xef\xbb\xbf\xfe\xff"):
        raise ParseError("empty document", url=url)
    try:
        if looks_like_json(body):
            return parse_json_feed(body, url=url, charset=charset)
        if looks_like_html(body):
            raise ParseError("not a feed: the document is an HTML page", url=url)
        return _parse_xml(body, url=url, content_type=content_type, charset=charset, engine=engine)
    except ParseError:
        raise
    except Exception as error:  # feedparser/expat/nh3 on hostile input (RecursionError too): wrapped here
        raise ParseError(f"feed could not be parsed: {type(error).__name__}: {error}", url=url) from error


def _headers(url: str, content_type: str | None, charset: str | None) -> dict[str, str]:
    headers = {"content-location": url}
    if content_type:
        if charset and "charset=" not in content_type.lower():
            content_type = f"{content_type}; charset={charset}"
        headers["content-type"] = content_type
    elif charset:
        # An XML media type, so that feedparser lets the HTTP charset win (RFC 3023 rules).
        headers["content-type"] = f"application/xml; charset={charset}"
    return headers


def _parse_xml(body: bytes, *, url: str, content_type: str | None, charset: str | None, engine: Engine) -> ParsedFeed:
    wide = wide_to_utf8(body)
    if wide is not None:
        body, content_type, charset = wide, "application/xml; charset=utf-8", None
    headers = _headers(url, content_type, charset)
    if engine != "feedparser":
        try:
            version, feed_raw, raw_entries = parse_raw(body, headers)
            if not version and not raw_entries:
                # Not a feed: feedparser words the error (and reads what libxml2 may not).
                raise FastPathDeclined("no RSS, Atom or RDF document found", url=url)
            return _build(version, feed_raw, raw_entries, url=url)
        except FastPathDeclined as declined:
            if engine == "fast":
                declined.url = url
                raise
    # BytesIO, never the bytes themselves: feedparser opens a string that looks like a URL
    # or a file path (b"/etc/passwd" is a valid path).
    result = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    version = result.get("version") or ""
    raw_entries = result.get("entries") or []
    if not version and not raw_entries:
        reason = result.get("bozo_exception")
        detail = f" ({type(reason).__name__}: {reason})" if reason else ""
        raise ParseError(f"not a feed: no RSS, Atom or RDF document found{detail}"[:500], url=url)
    return _build(version, result.get("feed") or {}, raw_entries, url=url)


def _build(version: str, feed_raw: Any, raw_entries: Any, *, url: str) -> ParsedFeed:
    """feedparser's raw dictionaries (from either engine) to the typed result."""
    feed = _feed_data(feed_raw, url=url, version=version or None)
    entries = (_entry(raw, url=url, feed_language=feed.language, atom=version.startswith("atom")) for raw in raw_entries[:MAX_ENTRIES])
    return parsed_feed(feed, (e for e in entries if e is not None))


def _feed_data(raw: Any, *, url: str, version: str | None) -> FeedData:
    ttl: float | None = None
    try:
        minutes = int(str(raw.get("ttl", "")).strip())
        if 0 < minutes <= MAX_TTL_MINUTES:
            ttl = minutes * 60.0
    except ValueError:
        pass
    return FeedData(
        title=plain_title(raw.get("title")) or None,
        link=_alternate(raw, url),
        description=html_to_text(raw.get("subtitle")) or None,
        language=normalize_language(raw.get("language")),
        ttl=ttl,
        version=version,
    )


def _alternate(raw: Any, base: str) -> str | None:
    """The ``alternate`` HTML link, which feedparser puts in ``link`` (absolute, http only)."""
    detail = raw.get("title_detail") or {}
    return absolute_http(raw.get("link"), detail.get("base") or base)


def _base(detail: Any, url: str) -> str:
    """The xml:base in force for a text construct, when it is a usable http(s) URL."""
    base = detail.get("base") if detail else None
    if isinstance(base, str) and is_http_url(base):
        return base
    return url


def _pick_content(raw: Any) -> Any:
    """The first HTML content block, else a text one (Atom allows several).

    A text block next to a summary is ignored: feedparser files a second description
    (Mastodon's ``media:description``, an image's alt text) as text/plain content.
    """
    blocks = [dict(b) for b in raw.get("content") or () if b.get("value")]
    for block in blocks:
        if (block.get("type") or "").lower() in _HTML_TYPES:
            return block
    if blocks and not raw.get("summary"):
        return blocks[0]
    return None


def _title(raw: Any, atom: bool) -> str:
    """Titles are stored as plain text.

    Atom says exactly what a title is (``type="text"``: literal, ``<`` included); RSS titles
    are nominally text, but in practice carry HTML and double-escaped entities, so markup
    is stripped from them.
    """
    value = raw.get("title")
    if not isinstance(value, str):
        return ""
    kind = (raw.get("title_detail") or {}).get("type") or ""
    if atom and kind == "text/plain":
        return " ".join(value.split())
    return plain_title(value)


def _entry(raw: Any, *, url: str, feed_language: str | None, atom: bool) -> EntryData | None:
    # Plain dicts: FeedParserDict.get goes through a key-alias table on every access
    # (10% of the parse time in profiles); the keys read here are the real ones.
    raw = dict(raw)
    summary_detail = dict(raw.get("summary_detail") or {})
    block = _pick_content(raw)
    content = fragment_html(block.get("value"), block.get("type"), _base(block, url)) if block else ""
    raw_summary = raw.get("summary")
    if block and raw_summary == block.get("value"):
        # feedparser copies an Atom entry's lone <content> into summary (with the wrong
        # base); feeds also repeat the body in both. build_entry derives a short one.
        raw_summary = None
    summary = fragment_html(raw_summary, summary_detail.get("type"), _base(summary_detail, url))
    link = absolute_http(raw.get("link"), url)
    title = _title(raw, atom)
    if not (title or link or summary or content):
        return None  # an empty <item/>: nothing a reader could see or follow
    base = _base(block, url) if block else _base(summary_detail, url)
    details = (raw.get("title_detail"), summary_detail, block)
    language = next((normalize_language(d.get("language")) for d in details if d and d.get("language")), None)
    return build_entry(
        guid=raw.get("id") if isinstance(raw.get("id"), str) else None,
        url=link,
        title=title,
        summary=summary,
        content=content,
        author=(raw.get("author_detail") or {}).get("name") or raw.get("author"),
        published=from_struct_time(raw.get("published_parsed")),
        updated=from_struct_time(raw.get("updated_parsed")),
        language=language or normalize_language(raw.get("language")) or feed_language,
        tags=clean_tags(t.get("term") for t in raw.get("tags") or ()),
        image=_image(raw, base),
        base=base,
    )


def _image(raw: Any, base: str) -> str | None:
    """An illustration from the feed's media fields, before looking inside the content."""
    for thumb in raw.get("media_thumbnail") or ():
        found = absolute_http(thumb.get("url"), base)
        if found:
            return found
    for media in raw.get("media_content") or ():
        kind = (media.get("type") or "").lower()
        if media.get("medium") == "image" or kind.startswith("image/"):
            found = absolute_http(media.get("url"), base)
            if found:
                return found
    for link in raw.get("links") or ():
        if link.get("rel") == "enclosure" and (link.get("type") or "").lower().startswith("image/"):
            found = absolute_http(link.get("href"), base)
            if found:
                return found
    image = raw.get("image")
    if isinstance(image, dict):
        return absolute_http(image.get("href"), base)
    return None
