"""parse_mastodon_statuses on real Mastodon API answers (../shared/corpus/mastodon)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator.errors import FetchError, ParseError
from aggregator.fetch.mastodon import mastodon_api_base, mastodon_rss_url, next_link
from aggregator.model import ParsedFeed
from aggregator.parse.mastodon import parse_mastodon_statuses

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
API_JSON = CORPUS / "mastodon" / "api-json"
STATUS_FILES = sorted(p.name for p in API_JSON.glob("*.json")) if API_JSON.is_dir() else []


def _statuses(data: object) -> list[dict]:
    items = data if isinstance(data, list) else [data]
    return [s for s in items if isinstance(s, dict)]


def _sane(parsed: ParsedFeed) -> None:
    guids = [e.guid for e in parsed.entries]
    assert len(guids) == len(set(guids))
    for e in parsed.entries:
        for html in (e.summary, e.content):
            assert "<script" not in html.lower() and "javascript:" not in html.lower()
        assert e.published is not None and e.published.tzinfo is not None
        assert e.updated is None or e.updated.utcoffset() is not None
        assert e.native_uri and e.url and e.url.startswith("http")
        assert e.kind in ("post", "repost", "reply")
        assert e.content_hash


@pytest.mark.parametrize("name", STATUS_FILES or ["(absent)"])
def test_every_recorded_status_list_parses(name: str, corpus_json) -> None:
    data = corpus_json(f"mastodon/api-json/{name}")
    statuses = _statuses(data)
    parsed = parse_mastodon_statuses(statuses, account="@someone@localhost:3000")
    _sane(parsed)
    # Status edits (/history) and accounts have no uri/visibility: not statuses, dropped.
    public = [s for s in statuses if "uri" in s and "content" in s and s.get("visibility") in ("public", "unlisted")]
    assert len(parsed.entries) == len(public)
    assert [e.guid for e in parsed.entries] == [s["uri"] for s in public]


def test_status_with_content_warning_media_edit_and_hashtag(corpus_json) -> None:
    status = corpus_json("mastodon/api-json/mastodonpy__live_v1_statuses_110446223051565765.json")
    (entry,) = parse_mastodon_statuses([status], account="@halcy@icosahedron.website").entries
    assert entry.kind == "post"
    assert entry.guid == entry.native_uri == status["uri"]
    assert entry.url == status["url"]
    # The content warning stays in front of the text it hides.
    assert entry.title.startswith("[test post for mastodon.py stuff] ")
    assert entry.updated == datetime(2023, 5, 28, 12, 9, 44, tzinfo=UTC)
    assert entry.published == datetime(2023, 5, 28, 12, 6, 50, tzinfo=UTC)
    assert entry.tags == ("thisisahashtag",)
    assert entry.language == "de"
    assert entry.image == status["media_attachments"][0]["preview_url"]
    assert status["media_attachments"][0]["type"] == "gifv"  # linked from the content, preview as image
    assert status["media_attachments"][0]["url"] in entry.content
    assert entry.author == "halcy\u200b :icosahedron:"


def test_edit_changes_the_content_hash(corpus_json) -> None:
    status = corpus_json("mastodon/api-json/mastodonpy__live_v1_statuses_110446223051565765.json")
    edited = copy.deepcopy(status)
    edited["edited_at"] = "2023-05-29T08:00:00.000Z"
    before = parse_mastodon_statuses([status], account="@halcy@icosahedron.website").entries[0]
    after = parse_mastodon_statuses([edited], account="@halcy@icosahedron.website").entries[0]
    assert before.guid == after.guid and before.content_hash != after.content_hash


def test_a_bare_link_takes_the_card_title(corpus_json) -> None:
    status = corpus_json("mastodon/api-json/mastodonpy__v1_statuses_117020609135389699.json")
    (entry,) = parse_mastodon_statuses([status], account="@mastodonpy_test@localhost:3000").entries
    assert entry.title == "Example Domain"
    assert '<a href="http://example.org/"' in entry.summary


def test_boost_points_at_the_boosted_status() -> None:
    cassette = CORPUS / "mastodon" / "api-cassettes" / "mastodonpy__test_status_reblog_unreblog.yaml"
    if not cassette.is_file():
        pytest.skip(f"shared corpus file not found: {cassette}")
    recorded = yaml.safe_load(cassette.read_text(encoding="utf-8"))["interactions"][1]
    assert recorded["request"]["uri"].endswith("/reblog")
    boost = json.loads(recorded["response"]["body"]["string"])
    original = boost["reblog"]
    (entry,) = parse_mastodon_statuses([boost], account="@mastodonpy_test@localhost:3000").entries
    assert entry.kind == "repost"
    assert entry.guid == boost["uri"] != original["uri"]
    assert entry.native_uri == original["uri"]
    assert entry.url == original["url"]
    assert entry.author in (original["account"]["display_name"], "@" + original["account"]["acct"])
    assert entry.published == datetime.fromisoformat(boost["created_at"].replace("Z", "+00:00"))


def test_private_statuses_are_dropped_and_replies_told_apart(corpus_json) -> None:
    context = corpus_json("mastodon/api-json/mastodonpy__live_v1_statuses_110446983926957470_context.json")
    thread = context["ancestors"] + context["descendants"]
    assert {s["visibility"] for s in thread} == {"private"}
    assert parse_mastodon_statuses(thread, account="@a@mastodon.social").entries == ()
    # The same recorded thread, as if it had been posted publicly.
    public = [dict(s, visibility="public") for s in thread]
    kinds = [e.kind for e in parse_mastodon_statuses(public, account="@a@mastodon.social").entries]
    assert kinds == ["post", "reply"]


def test_hostile_statuses(corpus_json) -> None:
    status = corpus_json("mastodon/api-json/mastodonpy__v1_timelines_tag_hoot.json")[0]
    evil = dict(status, content='<p onclick="x()">hi<script>alert(1)</script><a href="javascript:alert(1)">x</a></p>', created_at="not a date", language=42, tags="nope")
    junk: list[Any] = [evil, "junk", 3, None, {"uri": None}]
    parsed = parse_mastodon_statuses(junk, account="@a@b.example")
    (entry,) = parsed.entries
    assert "script" not in entry.summary and "onclick" not in entry.summary and "javascript" not in entry.summary
    assert entry.published is None and entry.language is None and entry.tags == ()
    with pytest.raises(ParseError):
        parse_mastodon_statuses({"error": "nope"}, account="@a@b.example")  # type: ignore[arg-type]


def test_url_helpers() -> None:
    assert mastodon_api_base("@user@mastodon.social") == "https://mastodon.social"
    assert mastodon_api_base("user@Mastodon.Social") == "https://mastodon.social"
    assert mastodon_api_base("@user@example.org", "http://127.0.0.1:3000/@user") == "http://127.0.0.1:3000"
    assert mastodon_rss_url("@user@mastodon.social") == "https://mastodon.social/@user.rss"
    assert mastodon_rss_url("@user@example.org", "http://127.0.0.1:3000/@user") == "http://127.0.0.1:3000/@user.rss"
    with pytest.raises(FetchError):
        mastodon_api_base("not an account")
    header = '<http://h/api/v1/accounts/1/statuses?limit=5&max_id=9>; rel="next", <http://h/x?min_id=10>; rel="prev"'
    assert next_link(header) == "http://h/api/v1/accounts/1/statuses?limit=5&max_id=9"
    assert next_link('<http://h/x?min_id=10>; rel="prev"') is None
    assert next_link(None) is None

