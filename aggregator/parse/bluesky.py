"""Bluesky ``app.bsky.feed.getAuthorFeed`` -> ``ParsedFeed``: posts, reposts and replies apart.

Posts are plain text plus "facets" (links, mentions, hashtags) addressed by UTF-8 byte
offsets; they are turned into anchors here so the river shows real links.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aggregator.errors import ParseError
from aggregator.model import EntryData, EntryKind, FeedData, ParsedFeed
from aggregator.parse.build import (
    MAX_AUTHOR_LENGTH,
    TEXT_LIMIT,
    absolute_http,
    clean_tags,
    normalize_language,
    parsed_feed,
)
from aggregator.parse.dates import parse_rfc3339
from aggregator.parse.identity import content_hash
from aggregator.parse.sanitize import html_to_text, plain_title, sanitize_html

TITLE_LIMIT = 100
MAX_ITEMS = 200  # getAuthorFeed pages hold at most 100 items
MAX_TEXT_BYTES = 30_000  # a post is 300 graphemes; far more is not a real post
MAX_FACETS = 100
WEB = "https://bsky.app"
REPOST = "app.bsky.feed.defs#reasonRepost"
#: Below this many characters of text besides the link, a post "is" its link card.
LINK_ONLY_TEXT = 20


def _str(obj: Mapping[str, Any] | None, key: str) -> str | None:
    if not obj:
        return None
    value = obj.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _dict(obj: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    value = obj.get(key) if obj else None
    return value if isinstance(value, dict) else None


def _list(obj: Mapping[str, Any] | None, key: str) -> list[Any]:
    value = obj.get(key) if obj else None
    return value if isinstance(value, list) else []


def _rkey(uri: str) -> str:
    """The record key: last segment of ``at://did/collection/rkey``."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def post_web_url(uri: str, handle: str | None) -> str:
    """``https://bsky.app/profile/{handle}/post/{rkey}``; the DID stands in for a bad handle."""
    actor = handle if handle and handle != "handle.invalid" else uri.removeprefix("at://").split("/", 1)[0]
    return f"{WEB}/profile/{quote(actor, safe=':.')}/post/{quote(_rkey(uri), safe='')}"


def _feature_href(feature: Mapping[str, Any]) -> tuple[str, str | None]:
    """(kind, href) of one facet feature; href None when it is not safe to link."""
    kind = str(feature.get("$type") or "")
    if kind.endswith("#link"):
        return "link", absolute_http(_str(feature, "uri"), None)
    if kind.endswith("#mention"):
        did = _str(feature, "did")
        return "mention", f"{WEB}/profile/{quote(did, safe=':')}" if did and did.startswith("did:") else None
    if kind.endswith("#tag"):
        tag = _str(feature, "tag")
        return "tag", f"{WEB}/hashtag/{quote(tag, safe='')}" if tag else None
    return kind, None


def text_html(text: str, facets: list[Any]) -> str:
    """Post text as HTML with facets made into links (offsets are UTF-8 bytes, end exclusive)."""
    data = text.encode("utf-8")[:MAX_TEXT_BYTES]
    spans: list[tuple[int, int, str]] = []
    for facet in facets[:MAX_FACETS]:
        index = _dict(facet, "index") if isinstance(facet, dict) else None
        start, end = (index or {}).get("byteStart"), (index or {}).get("byteEnd")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(data)):
            continue
        for feature in _list(facet, "features"):
            if isinstance(feature, dict):
                href = _feature_href(feature)[1]
                if href:
                    spans.append((start, end, href))
                    break
    spans.sort()
    out: list[str] = []
    pos = 0

    def piece(raw: bytes) -> str:
        # A facet cutting a character in two is malformed input: replace, never crash.
        return html.escape(raw.decode("utf-8", "replace")).replace("\n", "<br>")

    for start, end, href in spans:
        if start < pos:  # overlapping facets: keep the first
            continue
        out.append(piece(data[pos:start]))
        out.append(f'<a href="{html.escape(href, quote=True)}">{piece(data[start:end])}</a>')
        pos = end
    out.append(piece(data[pos:]))
    return "<p>" + "".join(out) + "</p>" if data.strip() else ""


def _tags(record: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[Any] = list(_list(record, "tags"))
    for facet in _list(record, "facets")[:MAX_FACETS]:
        for feature in _list(facet, "features") if isinstance(facet, dict) else []:
            if isinstance(feature, dict) and _feature_href(feature)[0] == "tag":
                found.append(feature.get("tag"))
    return tuple(t.lower().lstrip("#") for t in clean_tags(found))


def _media(embed: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The media part of an embed view (``recordWithMedia`` nests it)."""
    if embed and str(embed.get("$type", "")).startswith("app.bsky.embed.recordWithMedia"):
        return _dict(embed, "media")
    return embed


def _image(embed: Mapping[str, Any] | None) -> str | None:
    media = _media(embed)
    for image in _list(media, "images"):
        if isinstance(image, dict):
            found = absolute_http(_str(image, "thumb") or _str(image, "fullsize"), None)
            if found:
                return found
    external = _dict(media, "external")
    if external:
        return absolute_http(_str(external, "thumb"), None)
    return absolute_http(_str(media, "thumbnail"), None)


def _external(embed: Mapping[str, Any] | None) -> tuple[str | None, str, str]:
    """(uri, title, description) of a link card, or (None, "", "")."""
    external = _dict(_media(embed), "external")
    if not external:
        return None, "", ""
    return (
        absolute_http(_str(external, "uri"), None),
        plain_title(_str(external, "title")),
        plain_title(_str(external, "description")),
    )


def _cut(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return html_to_text(html.escape(first), limit=TITLE_LIMIT)


def _author_name(author: Mapping[str, Any] | None) -> str | None:
    name = plain_title(_str(author, "displayName"))
    handle = _str(author, "handle")
    return (name or (f"@{handle}" if handle else ""))[:MAX_AUTHOR_LENGTH] or None


def _entry(item: Mapping[str, Any], did: str) -> EntryData | None:
    post = _dict(item, "post")
    record = _dict(post, "record")
    uri, cid = _str(post, "uri"), _str(post, "cid")
    if post is None or record is None or uri is None or not uri.startswith("at://"):
        return None
    author = _dict(post, "author")
    reason = _dict(item, "reason")
    kind: EntryKind
    # A repost is someone else's post shown in this feed; reposting one's own post also
    # counts as a repost so that the relay does not post it twice.
    if reason is not None and reason.get("$type") == REPOST:
        kind = "repost"
        guid = _str(reason, "uri") or f"{uri}#repost-by-{did}"
        published = parse_rfc3339(_str(reason, "indexedAt")) or parse_rfc3339(_str(record, "createdAt"))
    else:
        kind = "reply" if _dict(record, "reply") is not None else "post"
        guid = uri
        published = parse_rfc3339(_str(record, "createdAt"))
    raw_text = record.get("text")
    text = raw_text if isinstance(raw_text, str) else ""
    embed = _dict(post, "embed")
    card_uri, card_title, card_description = _external(embed)
    body = text_html(text, _list(record, "facets"))
    if card_uri and card_uri not in text:
        body += f'<p><a href="{html.escape(card_uri, quote=True)}">{html.escape(card_title or card_uri)}</a></p>'
    if card_description:
        body += f"<blockquote>{html.escape(card_description)}</blockquote>"
    url = post_web_url(uri, _str(author, "handle"))
    summary = sanitize_html(body, url)
    plain = html_to_text(text_html(text, []))
    title = _cut(card_title) if card_title and len(plain.replace(card_uri or "", "").strip()) < LINK_ONLY_TEXT else _cut(plain)
    if not title:
        title = _cut(card_title) or _cut(next((plain_title(_str(i, "alt")) for i in _list(_media(embed), "images") if isinstance(i, dict) and _str(i, "alt")), ""))
    langs = _list(record, "langs")
    return EntryData(
        guid=guid[:1000],
        url=url,
        title=title,
        author=_author_name(author),
        published=published,
        summary=summary,
        content=summary,
        text=html_to_text(summary, limit=TEXT_LIMIT),
        language=normalize_language(langs[0]) if langs else None,
        tags=_tags(record),
        image=_image(embed),
        kind=kind,
        native_uri=uri,
        native_cid=cid,
        content_hash=content_hash(title, plain, card_uri),
    )


def parse_bluesky_feed(data: dict[str, Any], *, did: str, handle: str) -> ParsedFeed:
    """Turn a ``getAuthorFeed`` answer (``{"feed": [feedViewPost...], "cursor": ...}``) into entries.

    Raises:
        ParseError: when ``data`` is not a feed answer.
    """
    feed = data.get("feed") if isinstance(data, dict) else None
    if not isinstance(feed, list):
        raise ParseError(f"Bluesky feed of {handle}: expected an object with a feed array", url=f"{WEB}/profile/{handle}")
    entries = []
    owner: Mapping[str, Any] | None = None
    for item in feed[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        author = _dict(_dict(item, "post"), "author")
        if owner is None and author and author.get("did") == did:
            owner = author
        owner = owner or _dict(_dict(item, "reason"), "by")
        entry = _entry(item, did)
        if entry is not None:
            entries.append(entry)
    return parsed_feed(
        FeedData(
            title=_author_name(owner) or handle,
            link=f"{WEB}/profile/{handle}",
            description=plain_title(_str(owner, "description")) or None,
            version="bluesky-api",
        ),
        entries,
    )
