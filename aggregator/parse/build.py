"""Shared last step of every feed parser: raw fields in, one sanitized ``EntryData`` out.

RSS/Atom (feed.py) and JSON Feed (jsonfeed.py) differ in how they find fields, not in
what a stored entry must look like, so identity, titles, summaries and images are decided
here once. Every parser (Mastodon and Bluesky too) ends with ``parsed_feed``, which bounds
each field to ``aggregator/limits.py`` and keeps links free of tracking parameters: after
the raw values are read, so the fast path and feedparser still agree field for field.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urljoin

from aggregator import limits
from aggregator.model import EntryData, FeedData, ParsedFeed
from aggregator.parse.identity import content_hash, entry_identity, strip_tracking
from aggregator.parse.sanitize import html_to_text, is_http_url, plain_title, sanitize_html

TEXT_LIMIT = limits.MAX_TEXT_LENGTH  # characters of plain text kept as the entry's summary text
TITLE_FROM_TEXT = 80  # characters of text standing in for a missing title (Mastodon RSS)
SHORT_HTML = 2000  # content up to this size doubles as the summary; longer gets a text excerpt
MAX_TAGS = limits.MAX_TAGS
MAX_TAG_LENGTH = limits.MAX_TAG_LENGTH
MAX_AUTHOR_LENGTH = limits.MAX_AUTHOR_LENGTH
MAX_URL_LENGTH = limits.MAX_URL_LENGTH

_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc=["']([^"']+)["']""", re.IGNORECASE)
_PARAGRAPHS = re.compile(r"\n\s*\n")


def absolute_http(href: str | None, base: str | None) -> str | None:
    """``href`` made absolute against ``base``; None unless it is an http(s) URL."""
    if not isinstance(href, str):
        return None
    href = href.strip()
    if not href or len(href) > MAX_URL_LENGTH:
        return None
    if is_http_url(href):
        return href  # already absolute: urljoin would normalize it (drop an empty "?")
    try:
        absolute = urljoin(base, href) if base else href
    except ValueError:
        return None
    return absolute if is_http_url(absolute) else None


def normalize_language(value: object) -> str | None:
    """``fr_FR``/``FR-fr`` -> ``fr-fr``; None for anything that is not a language tag.

    A tag longer than ``limits.MAX_LANGUAGE_LENGTH`` keeps the subtags that fit.
    """
    if not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-").lower()
    if not _LANGUAGE.match(tag):
        return None
    while len(tag) > limits.MAX_LANGUAGE_LENGTH:
        tag = tag.rsplit("-", 1)[0]
    return tag


def clean_tags(terms: Iterable[object]) -> tuple[str, ...]:
    """Category terms as plain text, case-insensitively deduplicated, at most ``MAX_TAGS``."""
    seen: set[str] = set()
    tags: list[str] = []
    for term in terms:
        if not isinstance(term, str):
            continue
        tag = plain_title(term)[:MAX_TAG_LENGTH].strip()
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
            if len(tags) >= MAX_TAGS:
                break
    return tuple(tags)


def excerpt(text: str, limit: int) -> str:
    """The start of plain text on one line, cut at a word boundary with an ellipsis."""
    line = " ".join(text.split())
    if len(line) <= limit:
        return line
    cut = line.rfind(" ", 0, limit)
    return line[: cut if cut > limit // 2 else limit].rstrip(" ,;:.-") + "…"


def text_to_html(text: str) -> str:
    """Plain text as safe HTML: escaped, paragraphs kept."""
    parts = [p.strip() for p in _PARAGRAPHS.split(text.strip()) if p.strip()]
    return "".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in parts)


def fragment_html(value: str | None, kind: str | None, base: str | None) -> str:
    """Sanitize a feed text construct, escaping it first when the feed says it is plain text."""
    if not value:
        return ""
    if kind and kind.lower() in ("text/plain", "text"):
        return text_to_html(value)
    return sanitize_html(value, base)


def first_image(fragment: str, base: str | None) -> str | None:
    """The first ``<img src>`` of (already sanitized) HTML, absolute."""
    match = _IMG_SRC.search(fragment)
    return absolute_http(html.unescape(match.group(1)), base) if match else None


def build_entry(
    *,
    guid: str | None,
    url: str | None,
    title: str,
    summary: str,
    content: str,
    author: str | None = None,
    published: datetime | None = None,
    updated: datetime | None = None,
    language: str | None = None,
    tags: tuple[str, ...] = (),
    image: str | None = None,
    base: str | None = None,
) -> EntryData:
    """Assemble the entry from sanitized HTML and plain fields; fills identity and fallbacks.

    Args:
        title: plain text already (the caller knows whether the feed's title was HTML).
        summary, content: sanitized HTML (either may be empty).
        base: where relative image URLs found in the content resolve against.
    """
    text = html_to_text(summary or content, limit=TEXT_LIMIT)
    if not summary and content:
        summary = content if len(content) <= SHORT_HTML else text_to_html(text)
    if not title:
        title = excerpt(text, TITLE_FROM_TEXT)
    if image is None:
        image = first_image(content, base) or first_image(summary, base)
    author = plain_title(author)[:MAX_AUTHOR_LENGTH] or None if author else None
    return EntryData(
        guid=entry_identity(guid, url, title, text),
        url=url,
        title=title,
        author=author,
        published=published,
        updated=updated,
        summary=summary,
        content=content,
        text=text,
        language=language,
        tags=tags,
        image=image,
        kind="article",
        content_hash=content_hash(title, text, url),
    )


def fit(text: str, limit: int) -> str:
    """Text within ``limit`` characters (and an ellipsis), cut at a word when it is longer."""
    return text if len(text) <= limit + 1 else excerpt(text, limit)


def _url(value: str | None) -> str | None:
    """A URL within the limit, or none at all (a cut URL would lead somewhere else)."""
    return value if value is None or len(value) <= limits.MAX_URL_LENGTH else None


#: Room left when long HTML is cut, for the closing tags re-cleaning adds.
_CLOSING_ROOM = 4096


def _bounded_html(fragment: str, limit: int, text: str) -> str:
    """Sanitized HTML within ``limit``: cut before a tag and re-cleaned (which closes
    what the cut left open), else the plain-text excerpt as paragraphs."""
    if len(fragment) <= limit:
        return fragment
    cut = fragment.rfind("<", 0, max(limit - _CLOSING_ROOM, limit // 2))
    shortened = sanitize_html(fragment[: cut if cut > 0 else limit], None)
    return shortened if len(shortened) <= limit else text_to_html(text)


def bound_entry(entry: EntryData) -> EntryData:
    """The entry with every field within ``aggregator/limits.py`` and a clean link.

    Identity and the content hash were computed from the raw values, so entries stored
    before keep their GUID and are not seen as edited. The link loses its tracking
    parameters (``utm_*``, ``fbclid``…; the rest of it byte for byte): readers, feeds, the
    API and the relay all show what is stored.
    """
    url = _url(strip_tracking(entry.url)) if entry.url else None
    text = fit(entry.text, limits.MAX_TEXT_LENGTH)
    summary, content = entry.summary, entry.content
    if len(summary) > limits.MAX_SUMMARY_HTML:
        # A whole article in <description>: it is the content, the excerpt its summary.
        content = content or summary
        summary = text_to_html(text)
    changes = {
        "guid": entry.guid[: limits.MAX_GUID_LENGTH],
        "url": url,
        "title": fit(entry.title, limits.MAX_TITLE_LENGTH),
        "author": fit(entry.author, limits.MAX_AUTHOR_LENGTH) if entry.author else entry.author,
        "summary": summary,
        "content": _bounded_html(content, limits.MAX_CONTENT_HTML, text),
        "text": text,
        "language": normalize_language(entry.language) if entry.language else None,
        "tags": tuple(dict.fromkeys(t[: limits.MAX_TAG_LENGTH] for t in entry.tags))[: limits.MAX_TAGS],
        "image": _url(entry.image),
        "native_uri": _url(entry.native_uri),
        "native_cid": entry.native_cid if entry.native_cid and len(entry.native_cid) <= limits.MAX_CID_LENGTH else None,
    }
    if all(getattr(entry, name) == value for name, value in changes.items()):
        return entry
    return dataclasses.replace(entry, **changes)  # type: ignore[arg-type]


def bound_feed(feed: FeedData) -> FeedData:
    """The feed's own title, description and link within the limits."""
    title = fit(feed.title, limits.MAX_FEED_TITLE_LENGTH) if feed.title else feed.title
    description = feed.description
    if description:
        description = fit(description, limits.MAX_FEED_DESCRIPTION_LENGTH)
    link = _url(feed.link)
    if (title, description, link) == (feed.title, feed.description, feed.link):
        return feed
    return dataclasses.replace(feed, title=title, description=description, link=link)


def parsed_feed(feed: FeedData, entries: Iterable[EntryData]) -> ParsedFeed:
    """What every parser returns: the feed and its entries bounded, GUIDs kept once."""
    return ParsedFeed(feed=bound_feed(feed), entries=dedupe_entries(bound_entry(e) for e in entries))


def dedupe_entries(entries: Iterable[EntryData]) -> tuple[EntryData, ...]:
    """Keep the first entry of each GUID: feeds repeat items, and the store keys on GUID."""
    seen: set[str] = set()
    kept: list[EntryData] = []
    for entry in entries:
        if entry.guid not in seen:
            seen.add(entry.guid)
            kept.append(entry)
    return tuple(kept)
