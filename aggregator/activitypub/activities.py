"""Collections, the Notes of stories and the activities our actor sends. Pure: no I/O.

Rendering follows Mastodon's rules: stories are ``Note`` (Mastodon shows a Note as a normal
post with a link card, an ``Article`` as a bare title and link), addressed to the public with
the followers in ``cc``; the language goes in ``contentMap``; hashtags are ``Hashtag`` tags
whose ``href`` is our tag page. Ids follow the URL scheme of ``documents.py``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..model import to_iso
from .documents import AS_PUBLIC, CONTEXT, PAGE_SIZE, Document, Urls, token

_TAG_BODY = re.compile(r"\W+", re.UNICODE)


# ---- collections -----------------------------------------------------------------------------


def ordered_collection(
    collection_id: str, total: int, *, first: str | None = None, items: Sequence[Any] | None = None
) -> Document:
    """An OrderedCollection with a true ``totalItems``; ``first`` links paged contents."""
    doc: Document = {"@context": CONTEXT, "id": collection_id, "type": "OrderedCollection", "totalItems": total}
    if first is not None:
        doc["first"] = first
    if items is not None:
        doc["orderedItems"] = list(items)
    return doc


def collection_page(
    page_id: str, part_of: str, items: Sequence[Any], *, total: int,
    next_page: str | None = None, prev_page: str | None = None,
) -> Document:
    doc: Document = {
        "@context": CONTEXT, "id": page_id, "type": "OrderedCollectionPage", "partOf": part_of,
        "totalItems": total, "orderedItems": list(items),
    }
    if next_page is not None:
        doc["next"] = next_page
    if prev_page is not None:
        doc["prev"] = prev_page
    return doc


def outbox(urls: Urls, total: int) -> Document:
    return ordered_collection(urls.outbox, total, first=urls.outbox_page(1) if total else None, items=None if total else [])


def outbox_page(urls: Urls, page: int, activities: Sequence[Document], *, total: int, page_size: int = PAGE_SIZE) -> Document:
    """Page ``page`` (1-based) of the outbox, newest first; activities without their ``@context``."""
    items = [_bare(a) for a in activities]
    return collection_page(
        urls.outbox_page(page), urls.outbox, items, total=total,
        next_page=urls.outbox_page(page + 1) if page * page_size < total else None,
        prev_page=urls.outbox_page(page - 1) if page > 1 else None,
    )


def followers(urls: Urls, total: int) -> Document:
    """The count only: who follows us is the followers' business (privacy)."""
    return ordered_collection(urls.followers, total)


def following(urls: Urls, actors: Sequence[str]) -> Document:
    return ordered_collection(urls.following, len(actors), items=list(actors))


def featured(urls: Urls, notes: Sequence[Document]) -> Document:
    """The latest stories, embedded, so a new follower's server shows them at once."""
    return ordered_collection(urls.featured, len(notes), items=[_bare(n) for n in notes])


def _bare(doc: Mapping[str, Any]) -> Document:
    return {k: v for k, v in doc.items() if k != "@context"}


# ---- stories ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteInput:
    """What a Note of a story says; the relay's formatting decides ``summary`` and ``hashtags``."""

    entry_id: int
    title: str
    url: str | None
    published: datetime
    summary: str = ""  # plain text
    hashtags: tuple[str, ...] = ()  # bodies, without '#'
    language: str | None = None
    source_name: str | None = None
    updated: datetime | None = None
    #: The post as the relay's template rendered it (plain text); when given, the content is
    #: made from it (links and the hashtags made clickable) instead of from the fields above.
    text: str | None = None


def hashtag_body(tag: str) -> str | None:
    """``"gilets jaunes"`` -> ``"GiletsJaunes"``; None when nothing usable is left."""
    words = [w for w in _TAG_BODY.split(tag) if w]
    if not words:
        return None
    body = words[0] if len(words) == 1 else "".join(w[:1].upper() + w[1:] for w in words)
    return None if body.isdigit() else body


def _hashtags(note: NoteInput) -> list[str]:
    seen: dict[str, str] = {}
    for tag in note.hashtags:
        body = hashtag_body(tag)
        if body and body.lower() not in seen:
            seen[body.lower()] = body
    return list(seen.values())


_TOKENS = re.compile(r"(https?://[^\s<>\"]+)|#(\w+)", re.UNICODE)


def _text_html(urls: Urls, text: str, tags: Sequence[str]) -> str:
    """Plain text as Mastodon renders a status: paragraphs, line breaks, links, hashtag links."""
    known = {t.casefold(): t for t in tags}

    def inline(line: str) -> str:
        out, pos = [], 0
        for match in _TOKENS.finditer(line):
            out.append(html.escape(line[pos : match.start()]))
            if match.group(1):
                href = html.escape(match.group(1), quote=True)
                out.append(f'<a href="{href}" rel="nofollow noopener" target="_blank">{html.escape(match.group(1))}</a>')
            elif match.group(2).casefold() in known:
                tag = known[match.group(2).casefold()]
                out.append(f'<a href="{html.escape(urls.tag(tag), quote=True)}" class="mention hashtag" rel="tag">'
                           f"#<span>{html.escape(match.group(2))}</span></a>")
            else:
                out.append(html.escape(match.group(0)))
            pos = match.end()
        out.append(html.escape(line[pos:]))
        return "".join(out)

    paragraphs = [p.strip("\n") for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join("<p>" + "<br>".join(inline(line) for line in p.split("\n")) + "</p>" for p in paragraphs)


def note_content(urls: Urls, note: NoteInput) -> str:
    """The Note's HTML: the rendered post text, or title (and source), summary, the link, hashtags."""
    if note.text is not None:
        return _text_html(urls, note.text, _hashtags(note))
    title = html.escape(note.title)
    if note.source_name:
        title += f" — {html.escape(note.source_name)}"
    parts = [f"<p>{title}</p>"]
    if note.summary.strip():
        parts.append(f"<p>{html.escape(note.summary.strip())}</p>")
    if note.url:
        href = html.escape(note.url, quote=True)
        parts.append(f'<p><a href="{href}" rel="nofollow noopener" target="_blank">{html.escape(note.url)}</a></p>')
    tags = _hashtags(note)
    if tags:
        links = " ".join(
            f'<a href="{html.escape(urls.tag(t), quote=True)}" class="mention hashtag" rel="tag">#<span>{html.escape(t)}</span></a>'
            for t in tags
        )
        parts.append(f"<p>{links}</p>")
    return "".join(parts)


def note(urls: Urls, story: NoteInput) -> Document:
    """The Note of a story, addressed to the public and our followers."""
    content = note_content(urls, story)
    doc: Document = {
        "@context": CONTEXT,
        "id": urls.note(story.entry_id),
        "type": "Note",
        "attributedTo": urls.actor,
        "to": [AS_PUBLIC],
        "cc": [urls.followers],
        "published": to_iso(story.published),
        "content": content,
        "sensitive": False,
        "tag": [{"type": "Hashtag", "href": urls.tag(t), "name": f"#{t}"} for t in _hashtags(story)],
    }
    if story.language:
        doc["contentMap"] = {story.language: content}
    if story.url:
        doc["url"] = story.url
    if story.updated is not None:
        doc["updated"] = to_iso(story.updated)
    return doc


def create(urls: Urls, story: NoteInput) -> Document:
    obj = _bare(note(urls, story))
    return {
        "@context": CONTEXT, "id": urls.activity("create", story.entry_id), "type": "Create",
        "actor": urls.actor, "published": obj["published"], "to": obj["to"], "cc": obj["cc"], "object": obj,
    }


def update(urls: Urls, story: NoteInput) -> Document:
    """An edit: ``story.updated`` is required; it versions the activity id."""
    if story.updated is None:
        raise ValueError("an Update needs the time of the edit (NoteInput.updated)")
    obj = _bare(note(urls, story))
    return {
        "@context": CONTEXT, "id": urls.activity("update", story.entry_id, int(story.updated.timestamp())),
        "type": "Update", "actor": urls.actor, "published": obj["updated"], "to": obj["to"], "cc": obj["cc"],
        "object": obj,
    }


def delete(urls: Urls, entry_id: int, *, deleted: datetime | None = None) -> Document:
    tombstone: Document = {"id": urls.note(entry_id), "type": "Tombstone", "formerType": "Note"}
    if deleted is not None:
        tombstone["deleted"] = to_iso(deleted)
    return {
        "@context": CONTEXT, "id": urls.activity("delete", entry_id), "type": "Delete", "actor": urls.actor,
        "to": [AS_PUBLIC], "cc": [urls.followers], "object": tombstone,
    }


def tombstone(urls: Urls, entry_id: int, *, deleted: datetime | None = None) -> Document:
    """What ``/ap/notes/{id}`` serves (with 410 Gone) once the story is deleted."""
    doc: Document = {"@context": CONTEXT, "id": urls.note(entry_id), "type": "Tombstone", "formerType": "Note"}
    if deleted is not None:
        doc["deleted"] = to_iso(deleted)
    return doc


def announce(urls: Urls, entry_id: int, object_uri: str, *, published: datetime, author: str | None = None) -> Document:
    """A boost of a source's own fediverse post (never a copy of it)."""
    cc = [urls.followers] + ([author] if author else [])
    return {
        "@context": CONTEXT, "id": urls.activity("announce", entry_id), "type": "Announce", "actor": urls.actor,
        "published": to_iso(published), "to": [AS_PUBLIC], "cc": cc, "object": object_uri,
    }


def undo_announce(urls: Urls, entry_id: int, object_uri: str) -> Document:
    """Withdraw our boost of a post whose item was deleted."""
    inner: Document = {"id": urls.activity("announce", entry_id), "type": "Announce", "actor": urls.actor,
                       "object": object_uri}
    return {
        "@context": CONTEXT, "id": urls.activity("undo", token(inner["id"])), "type": "Undo", "actor": urls.actor,
        "to": [AS_PUBLIC], "cc": [urls.followers], "object": inner,
    }


# ---- follows ---------------------------------------------------------------------------------


def accept(urls: Urls, follow_activity: Mapping[str, Any]) -> Document:
    """Our Accept of a remote Follow; the Follow is embedded as its id, actor and object."""
    follow_id = str(follow_activity.get("id", ""))
    follower = _id_of(follow_activity.get("actor"))
    embedded: Document = {"id": follow_id, "type": "Follow", "actor": follower, "object": _id_of(follow_activity.get("object"))}
    return {
        "@context": CONTEXT, "id": urls.activity("accept", token(follow_id)), "type": "Accept",
        "actor": urls.actor, "to": [follower], "object": embedded,
    }


def follow(urls: Urls, target: str, *, nonce: str = "") -> Document:
    """Our Follow of ``target``; its id is stable, so a repeated Follow is the same one.

    ``nonce`` makes a new id for a follow that comes after an Undo (receivers may remember
    activity ids and ignore a second Follow with the first one's id).
    """
    return {
        "@context": CONTEXT, "id": urls.activity("follow", token(target + nonce)), "type": "Follow",
        "actor": urls.actor, "to": [target], "object": target,
    }


def undo_follow(urls: Urls, target: str, follow_id: str) -> Document:
    """The Undo of our Follow ``follow_id`` of ``target``."""
    inner: Document = {"id": follow_id, "type": "Follow", "actor": urls.actor, "object": target}
    return {
        "@context": CONTEXT, "id": urls.activity("undo", token(follow_id)), "type": "Undo",
        "actor": urls.actor, "to": [target], "object": inner,
    }


def _id_of(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else ""
