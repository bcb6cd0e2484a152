"""Shared last step of every feed parser: raw fields in, one sanitized ``EntryData`` out.

RSS/Atom (feed.py) and JSON Feed (jsonfeed.py) differ in how they find fields, not in
what a stored entry must look like, so identity, titles, summaries and images are decided
here once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urljoin

from aggregator.model import EntryData
from aggregator.parse.identity import content_hash, entry_identity
from aggregator.parse.sanitize import html_to_text, is_http_url, plain_title, sanitize_html

TEXT_LIMIT = 600  # characters of plain text kept as the entry's summary text
TITLE_FROM_TEXT = 80  # characters of text standing in for a missing title (Mastodon RSS)
SHORT_HTML = 2000  # content up to this size doubles as the summary; longer gets a text excerpt
MAX_TAGS = 20
MAX_TAG_LENGTH = 100
MAX_AUTHOR_LENGTH = 200
MAX_URL_LENGTH = 2048

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
    """``fr_FR``/``FR-fr`` -> ``fr-fr``; None for anything that is not a language tag."""
    if not isinstance(value, str):
        return None
    tag = value.strip().replace("_", "-").lower()
    return tag if _LANGUAGE.match(tag) else None


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


def dedupe_entries(entries: Iterable[EntryData]) -> tuple[EntryData, ...]:
    """Keep the first entry of each GUID: feeds repeat items, and the store keys on GUID."""
    seen: set[str] = set()
    kept: list[EntryData] = []
    for entry in entries:
        if entry.guid not in seen:
            seen.add(entry.guid)
            kept.append(entry)
    return tuple(kept)
