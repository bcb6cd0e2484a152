"""``parse/activitypub.py``: pushed objects as entries; only public posts; everything sanitized."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aggregator.parse.activitypub import parse_activitypub_object

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def note(**fields: Any) -> dict[str, Any]:
    return {"id": "https://social.example/notes/1", "type": "Note", "attributedTo": "https://social.example/users/a",
            "to": [PUBLIC], "content": "<p>Bonjour</p>", "published": "2026-11-20T10:00:00Z", **fields}


def test_a_public_note_becomes_a_post() -> None:
    entry = parse_activitypub_object(note(
        content='<p>Grève au port <script>alert(1)</script><a href="https://site.example/a" onclick="x()">lire</a></p><p>suite</p>',
        url=[{"type": "Link", "mediaType": "text/html", "href": "https://social.example/@a/1"}],
        tag=[{"type": "Hashtag", "name": "#Grève"}, {"type": "Mention", "name": "@b"}],
        contentMap={"fr": "…"}, attachment=[{"type": "Document", "mediaType": "image/jpeg", "url": "https://media.example/p.jpg", "name": "Une photo"}],
    ))
    assert entry is not None
    assert (entry.guid, entry.url, entry.kind, entry.native_uri) == (
        "https://social.example/notes/1", "https://social.example/@a/1", "post", "https://social.example/notes/1")
    assert entry.title == "Grève au port lire" and entry.language == "fr" and entry.tags == ("grève",)
    assert "script" not in entry.content and "onclick" not in entry.content and 'rel="noopener noreferrer nofollow"' in entry.content
    assert entry.image == "https://media.example/p.jpg" and 'alt="Une photo"' in entry.content
    assert entry.published == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("addressing", [
    {"to": ["https://social.example/users/a/followers"]},  # followers only
    {"to": ["https://other.example/users/b"], "cc": []},  # direct
    {},
])
def test_posts_that_are_not_public_are_refused(addressing: dict[str, Any]) -> None:
    obj = {k: v for k, v in note().items() if k not in ("to", "cc")}
    assert parse_activitypub_object({**obj, **addressing}) is None


def test_unlisted_posts_articles_replies_and_boosts() -> None:
    unlisted = parse_activitypub_object(note(to=["https://social.example/users/a/followers"], cc=["as:Public"]))
    assert unlisted is not None
    article = parse_activitypub_object(note(type="Article", name="Un long titre", content="<p>Le texte.</p>",
                                            url="https://blog.example/long"))
    assert article is not None and (article.title, article.url) == ("Un long titre", "https://blog.example/long")
    reply = parse_activitypub_object(note(inReplyTo="https://social.example/notes/0"))
    assert reply is not None and reply.kind == "reply"
    warned = parse_activitypub_object(note(summary="politique", content="<p>Le fond</p>"))
    assert warned is not None and warned.title == "[politique] Le fond"
    boost = parse_activitypub_object(note(), boost={"id": "https://social.example/announces/9", "published": "2026-11-21T08:00:00Z"})
    assert boost is not None and (boost.guid, boost.kind, boost.native_uri) == (
        "https://social.example/announces/9", "repost", "https://social.example/notes/1")
    assert boost.published == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    followers_only_boost = {"id": "https://social.example/announces/10", "to": ["https://social.example/users/a/followers"]}
    assert parse_activitypub_object(note(), boost=followers_only_boost) is None


@pytest.mark.parametrize("obj", [
    {"id": "https://social.example/users/a", "type": "Person", "to": [PUBLIC]},
    {"id": "javascript:alert(1)", "type": "Note", "to": [PUBLIC], "content": "x"},
    {"id": "https://social.example/notes/2", "type": "Note", "to": [PUBLIC], "content": ""},
    {"id": "https://social.example/notes/3", "type": ["Note"], "to": [PUBLIC], "content": "x"},
    {"id": "https://social.example/notes/4", "type": "Note", "to": [{"id": PUBLIC}], "content": 42},
])
def test_hostile_or_useless_objects_are_refused(obj: dict[str, Any]) -> None:
    assert parse_activitypub_object(obj) is None


def test_edits_change_the_content_hash() -> None:
    first = parse_activitypub_object(note())
    edited = parse_activitypub_object(note(content="<p>Bonjour, corrigé</p>", updated="2026-11-20T11:00:00Z"))
    assert first is not None and edited is not None and first.guid == edited.guid
    assert first.content_hash != edited.content_hash and edited.updated is not None
