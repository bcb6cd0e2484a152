"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read defensively.

feedparser 6.0 does not read JSON, and the format is small: a version URL, feed fields,
an ``items`` list. Every field is type-checked on its own, so one ill-typed field drops
that field, not the feed.
"""

from __future__ import annotations

import json
from typing import Any

from aggregator.errors import ParseError
from aggregator.model import EntryData, FeedData, ParsedFeed
from aggregator.parse.build import (
    absolute_http,
    build_entry,
    clean_tags,
    fragment_html,
    normalize_language,
    parsed_feed,
    text_to_html,
)
from aggregator.parse.dates import parse_rfc3339
from aggregator.parse.encoding import codec_name, strip_bom
from aggregator.parse.sanitize import html_to_text, plain_title

#: Both schemes occur in the wild; the spec's identifier is the https one.
VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
MAX_ITEMS = 10_000


def looks_like_json(body: bytes) -> bool:
    """A JSON document starts with ``{`` or ``[`` after an optional BOM and white space."""
    head, _ = strip_bom(body[:1024])
    head = head.replace(b"\x00", b"").lstrip()  # UTF-16/32 without BOM still sniff right
    return head[:1] in (b"{", b"[")


def _load(body: bytes, charset: str | None, url: str) -> Any:
    # RFC 8259: JSON is UTF-8 (json.loads also detects UTF-16/32 and a BOM); a server's
    # charset is only a fallback for feeds that are not UTF-8 after all.
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        pass
    except RecursionError as error:  # deeply nested arrays: hostile, not a feed
        raise ParseError("JSON document nested too deeply", url=url) from error
    except ValueError as error:
        raise ParseError(f"invalid JSON: {error}", url=url) from error
    encoding = codec_name(charset) or "windows-1252"
    try:
        return json.loads(strip_bom(body)[0].decode(encoding, "replace"))
    except RecursionError as error:
        raise ParseError("JSON document nested too deeply", url=url) from error
    except ValueError as error:
        raise ParseError(f"invalid JSON: {error}", url=url) from error


def _str(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and key == "id":
        return str(value)  # 1.0 feeds in the wild use numeric ids; the spec says string
    return value if isinstance(value, str) and value.strip() else None


def _version(version: str) -> str:
    number = version.split("/version/", 1)[1].strip("/")
    return {"1": "json10", "1.0": "json10", "1.1": "json11"}.get(number, "json")


def parse_json_feed(body: bytes, *, url: str, charset: str | None = None) -> ParsedFeed:
    """Parse a JSON Feed document.

    Raises:
        ParseError: not JSON, or JSON that is not a JSON Feed (no jsonfeed.org version:
            e.g. Dave Winer's RSS-in-JSON, an API answer, an error object).
    """
    document = _load(body, charset, url)
    if not isinstance(document, dict):
        raise ParseError("JSON document is not a JSON Feed (not an object)", url=url)
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIXES):
        raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)", url=url)
    items = document.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an items list", url=url)
    home = absolute_http(_str(document, "home_page_url"), url)
    language = normalize_language(document.get("language"))
    feed = FeedData(
        title=plain_title(_str(document, "title")) or None,
        link=home,
        description=html_to_text(_str(document, "description")) or None,
        language=language,
        version=_version(version),
    )
    feed_author = _author(document)
    entries = [
        _entry(item, url=url, language=language, feed_author=feed_author)
        for item in items[:MAX_ITEMS]
        if isinstance(item, dict)
    ]
    return parsed_feed(feed, (e for e in entries if e is not None))


def _author(mapping: dict[str, Any]) -> str | None:
    # 1.1 has "authors" (a list); 1.0 had "author" (one object). Both are seen.
    authors = mapping.get("authors")
    candidates = authors if isinstance(authors, list) else [mapping.get("author")]
    names = [a["name"].strip() for a in candidates if isinstance(a, dict) and isinstance(a.get("name"), str) and a["name"].strip()]
    return ", ".join(names) or None


def _entry(item: dict[str, Any], *, url: str, language: str | None, feed_author: str | None) -> EntryData | None:
    link = absolute_http(_str(item, "url"), url) or absolute_http(_str(item, "external_url"), url)
    # JSON Feed does not say what relative URLs in content_html are relative to; the item's
    # own URL is what a browser showing the article would use.
    base = link or url
    content = fragment_html(_str(item, "content_html"), "html", base)
    if not content and _str(item, "content_text"):
        content = text_to_html(_str(item, "content_text") or "")
    summary_text = _str(item, "summary")
    summary = text_to_html(summary_text) if summary_text else ""  # spec: summary is plain text
    title = plain_title(_str(item, "title"))
    if not (content or summary or title or link):
        return None
    image = absolute_http(_str(item, "image"), base) or absolute_http(_str(item, "banner_image"), base)
    if image is None and isinstance(item.get("attachments"), list):
        for attachment in item["attachments"]:
            if isinstance(attachment, dict) and str(attachment.get("mime_type", "")).startswith("image/"):
                image = absolute_http(_str(attachment, "url"), base)
                if image:
                    break
    tags = item.get("tags")
    return build_entry(
        guid=_str(item, "id"),
        url=link,
        title=title,
        summary=summary,
        content=content,
        author=_author(item) or feed_author,
        published=parse_rfc3339(_str(item, "date_published")),
        updated=parse_rfc3339(_str(item, "date_modified")),
        language=normalize_language(item.get("language")) or language,
        tags=clean_tags(tags) if isinstance(tags, list) else (),
        image=image,
        base=base,
    )
