"""An ActivityPub object pushed by an actor we follow (``Note``, ``Article``…) -> ``EntryData``.

The counterpart of ``parse/mastodon.py`` for posts that arrive in our inbox instead of being
fetched. Everything is hostile: HTML goes through the one sanitizer, URLs must be http(s),
lengths are capped. Only public posts become items: an object addressed neither ``to`` nor
``cc`` the public collection (followers-only, direct) is refused, because a follower must not
republish what was shown to followers only. A post has no title unless it is an ``Article``
or a ``Page``: its first line stands in (the content warning first, in brackets), as for
Mastodon statuses. Replies are "reply" items (never relayed); a boost is a "repost" item
whose ``native_uri`` is the boosted object, so the relay boosts it rather than copying it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..model import EntryData, EntryKind
from ..text import html_to_text, plain_title
from .build import MAX_AUTHOR_LENGTH, TEXT_LIMIT, absolute_http, clean_tags, normalize_language
from .dates import parse_rfc3339
from .identity import content_hash
from .sanitize import sanitize_html

PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
#: Object types shown as items; anything else (a Person, a Tombstone, a ChatMessage…) is not a post.
POST_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Video", "Audio", "Image"})
#: Types whose ``name`` is a title (a Note's ``name`` is rare and usually a poll option).
TITLED_TYPES = frozenset({"Article", "Page", "Event", "Video", "Audio", "Image"})
TITLE_LIMIT = 100
MAX_ID = 1000
MAX_CONTENT = 200_000  # characters of HTML kept from one object
_URL_IN_TEXT = re.compile(r"https?://\S+")
LINK_ONLY_TEXT = 20


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id") or value.get("href")
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= MAX_ID else None


def is_public(*docs: Mapping[str, Any]) -> bool:
    """True when one of ``docs`` addresses the public collection (``to`` or ``cc``)."""
    for doc in docs:
        for key in ("to", "cc"):
            for audience in _as_list(doc.get(key)):
                if isinstance(audience, Mapping):
                    audience = audience.get("id")
                if isinstance(audience, str) and audience in PUBLIC:
                    return True
    return False


def _link(value: Any) -> str | None:
    """``url`` may be a string, a Link, or a list of either: the text/html one first."""
    fallback = None
    for item in _as_list(value):
        if isinstance(item, str):
            fallback = fallback or absolute_http(item, None)
        elif isinstance(item, Mapping):
            href = absolute_http(item.get("href") if isinstance(item.get("href"), str) else None, None)
            if href and str(item.get("mediaType") or "text/html").startswith("text/html"):
                return href
            fallback = fallback or href
    return fallback


def _text_field(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if not isinstance(value, str):
        mapped = obj.get(key + "Map")
        if isinstance(mapped, Mapping):
            value = next((v for v in mapped.values() if isinstance(v, str)), None)
    return value[:MAX_CONTENT] if isinstance(value, str) and value.strip() else None


def _language(obj: Mapping[str, Any]) -> str | None:
    for key in ("contentMap", "nameMap", "summaryMap"):
        mapped = obj.get(key)
        if isinstance(mapped, Mapping):
            for tag in mapped:
                language = normalize_language(tag)
                if language and language != "und":
                    return language
    return None


def _attachments_html(obj: Mapping[str, Any], base: str | None) -> tuple[str, str | None]:
    """Attached images and media as sanitized HTML, and the first image."""
    parts, image = [], None
    for item in _as_list(obj.get("attachment"))[:8]:
        if not isinstance(item, Mapping):
            continue
        url = absolute_http(_link(item.get("url")), base)
        if not url:
            continue
        media = str(item.get("mediaType") or "")
        alt = html.escape(plain_title(item.get("name") if isinstance(item.get("name"), str) else None), quote=True)
        if item.get("type") == "Image" or media.startswith("image/"):
            image = image or url
            parts.append(f'<p><a href="{html.escape(url, quote=True)}"><img src="{html.escape(url, quote=True)}" alt="{alt}"></a></p>')
        elif item.get("type") in ("Document", "Video", "Audio"):
            parts.append(f'<p><a href="{html.escape(url, quote=True)}">{alt or html.escape(media or "media")}</a></p>')
    return sanitize_html("".join(parts), base), image


def _cut(text: str, limit: int = TITLE_LIMIT) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return html_to_text(html.escape(first), limit=limit)


def parse_activitypub_object(
    obj: Mapping[str, Any], *, boost: Mapping[str, Any] | None = None, author: str | None = None,
) -> EntryData | None:
    """One post as an entry; None when it is not public or not a post.

    Args:
        obj: the object (a Note, an Article…), embedded in the activity or fetched.
        boost: the ``Announce`` when ``obj`` is what a followed actor boosted: the entry is
            then a "repost" dated by the boost, identified by the boost's id. Both the object
            and (when it is addressed) the boost must be public.
        author: a display name for the author, when the caller knows one.
    """
    object_id = _id(obj.get("id"))
    kind_name = obj.get("type")
    if object_id is None or not isinstance(kind_name, str) or kind_name not in POST_TYPES:
        return None
    if not is_public(obj) or (boost is not None and ("to" in boost or "cc" in boost) and not is_public(boost)):
        return None
    url = _link(obj.get("url")) or object_id
    content = _text_field(obj, "content") or ""
    summary_html = sanitize_html(content, url)
    media, image = _attachments_html(obj, url)
    full_text = html_to_text(summary_html)
    kind: EntryKind = "repost" if boost is not None else ("reply" if _id(obj.get("inReplyTo")) else "post")
    name = plain_title(_text_field(obj, "name"))
    warning = plain_title(_text_field(obj, "summary")) if obj.get("type") == "Note" else ""
    if name and obj.get("type") in TITLED_TYPES:
        title = _cut(name, 300)
        if not full_text and obj.get("type") != "Note":
            full_text = html_to_text(sanitize_html(_text_field(obj, "summary"), url))
    else:
        bare = _URL_IN_TEXT.sub("", full_text).strip()
        title = _cut(full_text) if len(bare) >= LINK_ONLY_TEXT or not name else _cut(name)
        if warning:
            title = f"[{_cut(warning)}] {title}".strip()
    if not title and not full_text and not media:
        return None
    tags = clean_tags(
        t["name"].lstrip("#") for t in _as_list(obj.get("tag"))
        if isinstance(t, Mapping) and t.get("type") == "Hashtag" and isinstance(t.get("name"), str)
    )
    updated = parse_rfc3339(obj.get("updated") if isinstance(obj.get("updated"), str) else None)
    published: datetime | None
    if boost is not None:
        published = parse_rfc3339(boost.get("published") if isinstance(boost.get("published"), str) else None)
    else:
        published = parse_rfc3339(obj.get("published") if isinstance(obj.get("published"), str) else None)
    guid = (_id(boost.get("id")) if boost is not None else None) or object_id
    return EntryData(
        guid=guid,
        url=url,
        title=title or url,
        author=(author or _id(obj.get("attributedTo")) or "")[:MAX_AUTHOR_LENGTH] or None,
        published=published,
        updated=updated,
        summary=summary_html,
        content=summary_html + media,
        text=html_to_text(summary_html, limit=TEXT_LIMIT) or title,
        language=_language(obj),
        tags=tuple(t.lower() for t in tags),
        image=image,
        kind=kind,
        native_uri=object_id,
        content_hash=content_hash(title, full_text, obj.get("updated") if isinstance(obj.get("updated"), str) else None),
    )
