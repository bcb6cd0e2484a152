"""Mastodon API statuses -> ``ParsedFeed``: the account's posts, boosts and replies told apart.

Input is the JSON list of ``/api/v1/accounts/{id}/statuses`` (Mastodon 2.x to 4.x shapes).
Statuses have no title, so one is made from the content warning and the first words of
the text (or the link card's title when the status is little more than a link).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

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

TITLE_LIMIT = 100  # characters of text standing in for the missing title
MAX_STATUSES = 400  # a page holds at most 40; anything far above is not a real answer
#: Visibilities never republished: followers-only and direct messages are not public.
HIDDEN_VISIBILITIES = frozenset({"private", "direct", "limited"})
#: Below this many characters of text once URLs are removed, a status "is" its link.
LINK_ONLY_TEXT = 20
_URL = re.compile(r"https?://\S+")


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _dict(obj: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def _author_name(account: Mapping[str, Any] | None) -> str | None:
    if not account:
        return None
    name = plain_title(_str(account, "display_name"))
    acct = _str(account, "acct")
    return (name or (f"@{acct}" if acct else ""))[:MAX_AUTHOR_LENGTH] or None


def _cut(text: str, limit: int = TITLE_LIMIT) -> str:
    """First line of ``text``, cut on a word boundary at ``limit`` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return html_to_text(html.escape(first), limit=limit)


def _media_html(status: Mapping[str, Any], base: str | None) -> str:
    """Attachments as sanitized HTML: images inline, other media as links."""
    parts = []
    for media in _list(status, "media_attachments")[:8]:
        if not isinstance(media, dict):
            continue
        url = absolute_http(_str(media, "url") or _str(media, "remote_url"), base)
        preview = absolute_http(_str(media, "preview_url"), base)
        alt = html.escape(plain_title(_str(media, "description")), quote=True)
        if media.get("type") == "image" and (preview or url):
            parts.append(f'<p><a href="{html.escape(url or preview or "", quote=True)}"><img src="{html.escape(preview or url or "", quote=True)}" alt="{alt}"></a></p>')
        elif url:
            label = alt or html.escape(str(media.get("type") or "media"))
            parts.append(f'<p><a href="{html.escape(url, quote=True)}">{label}</a></p>')
    poll = _dict(status, "poll")
    if poll:
        options = [plain_title(_str(o, "title")) for o in _list(poll, "options")[:20] if isinstance(o, dict)]
        if options:
            parts.append("<ul>" + "".join(f"<li>{html.escape(o)}</li>" for o in options if o) + "</ul>")
    return sanitize_html("".join(parts), base)


def _image(status: Mapping[str, Any], base: str | None) -> str | None:
    """First image attachment (its preview), else a video's preview, else the card image."""
    media = [m for m in _list(status, "media_attachments") if isinstance(m, dict)]
    for wanted in (("image",), ("gifv", "video")):
        for item in media:
            if item.get("type") in wanted:
                found = absolute_http(_str(item, "preview_url") or _str(item, "url"), base)
                if found:
                    return found
    card = _dict(status, "card")
    return absolute_http(_str(card, "image"), base) if card else None


def _title(status: Mapping[str, Any], text: str) -> str:
    """CW first (it is there so readers choose), then the text, or the card for a bare link."""
    card = _dict(status, "card")
    card_title = plain_title(_str(card, "title")) if card else ""
    bare = _URL.sub("", text).strip()
    body = _cut(card_title) if card_title and len(bare) < LINK_ONLY_TEXT else _cut(text)
    if not body:
        for media in _list(status, "media_attachments"):
            if isinstance(media, dict) and _str(media, "description"):
                body = _cut(plain_title(_str(media, "description")))
                break
    spoiler = plain_title(_str(status, "spoiler_text"))
    if spoiler:
        return f"[{_cut(spoiler)}] {body}".strip()
    return body


def _entry(status: Mapping[str, Any]) -> EntryData | None:
    """One status as an entry; None for non-public or unusable statuses."""
    # A status has string content (empty for a boost) and an id: this rejects accounts,
    # status edits and error objects that a confused server might put in the array.
    if not isinstance(status.get("content"), str) or not isinstance(status.get("id"), str | int):
        return None
    if status.get("visibility") in HIDDEN_VISIBILITIES:
        return None
    boosted = _dict(status, "reblog")
    shown: Mapping[str, Any] = boosted if boosted is not None else status
    if boosted is not None and boosted.get("visibility") in HIDDEN_VISIBILITIES:
        return None
    uri = _str(status, "uri")
    url = absolute_http(_str(shown, "url"), None) or absolute_http(_str(shown, "uri"), None)
    guid = uri or url or f"mastodon:{status['id']}"
    kind: EntryKind
    if boosted is not None:
        kind = "repost"
    elif status.get("in_reply_to_id") is not None:
        kind = "reply"
    else:
        kind = "post"
    summary = sanitize_html(_str(shown, "content"), url)
    content = summary + _media_html(shown, url)
    full_text = html_to_text(summary)
    title = _title(shown, full_text)
    edited = _str(shown, "edited_at")
    tags = clean_tags(t.get("name") for t in _list(shown, "tags") if isinstance(t, dict))
    return EntryData(
        guid=guid[:1000],
        url=url,
        title=title,
        author=_author_name(_dict(shown, "account")),
        # A boost is news when it is boosted: its date is the boost's, not the original's.
        published=parse_rfc3339(_str(status, "created_at")),
        updated=parse_rfc3339(edited),
        summary=summary,
        content=content,
        text=html_to_text(summary, limit=TEXT_LIMIT),
        language=normalize_language(shown.get("language")),
        tags=tuple(t.lower() for t in tags),
        image=_image(shown, url),
        kind=kind,
        # The relay boosts by URI (search/resolve), so a boost points at the original status.
        native_uri=_str(shown, "uri"),
        content_hash=content_hash(title, full_text, edited),
    )


def parse_mastodon_statuses(
    statuses: list[dict[str, Any]], *, account: str, profile_url: str | None = None
) -> ParsedFeed:
    """Turn an account's statuses into entries; private and direct statuses are dropped.

    Args:
        statuses: the decoded JSON array of ``/api/v1/accounts/{id}/statuses`` (pages joined).
        account: ``"@user@instance"``, for the feed title when no status names the account.
        profile_url: the account's web page, the feed's link.

    Raises:
        ParseError: when ``statuses`` is not a list of statuses.
    """
    if not isinstance(statuses, list):
        raise ParseError(f"Mastodon statuses for {account}: expected a JSON array, got {type(statuses).__name__}", url=profile_url)
    if len(statuses) > MAX_STATUSES:
        statuses = statuses[:MAX_STATUSES]
    entries = []
    owner: Mapping[str, Any] | None = None
    for status in statuses:
        if not isinstance(status, dict):
            continue
        if owner is None:
            owner = _dict(status, "account")
        entry = _entry(status)
        if entry is not None:
            entries.append(entry)
    title = _author_name(owner) or account
    link = profile_url or (absolute_http(_str(owner, "url"), None) if owner else None)
    description = html_to_text(_str(owner, "note"), limit=TEXT_LIMIT) if owner else None
    return parsed_feed(FeedData(title=title, link=link, description=description or None, version="mastodon-api"), entries)
