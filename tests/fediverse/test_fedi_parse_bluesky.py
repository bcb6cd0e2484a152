"""parse_bluesky_feed on real getAuthorFeed answers (../shared/corpus/bluesky)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from aggregator.errors import ParseError
from aggregator.model import ParsedFeed
from aggregator.parse.bluesky import REPOST, parse_bluesky_feed, post_web_url, text_html
from aggregator.parse.dates import parse_rfc3339

BSKY_APP = "did:plc:z72i7hdynmk6r22z27h6tvur"


def _expected_kinds(feed: list[dict[str, Any]]) -> Counter[str]:
    """What the data says, independently of the parser: reason first, then record.reply."""
    kinds: Counter[str] = Counter()
    for item in feed:
        if (item.get("reason") or {}).get("$type") == REPOST:
            kinds["repost"] += 1
        elif item["post"]["record"].get("reply"):
            kinds["reply"] += 1
        else:
            kinds["post"] += 1
    return kinds


def _sane(parsed: ParsedFeed, feed: list[dict[str, Any]]) -> None:
    guids = [e.guid for e in parsed.entries]
    assert len(guids) == len(set(guids)) == len(feed)
    for e, item in zip(parsed.entries, feed, strict=True):
        assert "<script" not in e.summary.lower() and "javascript:" not in e.summary.lower()
        assert e.published is not None and e.published.utcoffset() is not None
        assert e.native_uri == item["post"]["uri"] and e.native_cid == item["post"]["cid"]
        assert e.url == post_web_url(item["post"]["uri"], item["post"]["author"]["handle"])
        assert e.content_hash


def test_sunbear_author_feed_of_bsky_app(corpus_json) -> None:
    feed = corpus_json("bluesky/sunbear__bluesky_feed.json")  # a bare array: wrap it
    parsed = parse_bluesky_feed({"feed": feed}, did=BSKY_APP, handle="bsky.app")
    _sane(parsed, feed)
    kinds = Counter(e.kind for e in parsed.entries)
    # MANIFEST: 100 items, 35 reposts, 11 replies.
    assert kinds == _expected_kinds(feed) == Counter(post=54, repost=35, reply=11)
    assert parsed.feed.title == "Bluesky" and parsed.feed.link == "https://bsky.app/profile/bsky.app"
    for e, item in zip(parsed.entries, feed, strict=True):
        if e.kind == "repost":
            # Someone else's post, dated when the account reposted it.
            assert item["post"]["author"]["did"] != BSKY_APP
            assert e.guid == item["reason"]["uri"]
            assert e.published == parse_rfc3339(item["reason"]["indexedAt"])
        else:
            assert e.guid == item["post"]["uri"]
            assert e.published == parse_rfc3339(item["post"]["record"]["createdAt"])
            assert e.author == "Bluesky"
        words = " ".join(item["post"]["record"]["text"].split())[:20]
        assert " ".join(e.text.split()).startswith(words)


def test_link_facets_become_anchors_and_hashtags_tags(corpus_json) -> None:
    feed = corpus_json("bluesky/sunbear__bluesky_feed.json")
    parsed = parse_bluesky_feed({"feed": feed}, did=BSKY_APP, handle="bsky.app")
    links = tags = 0
    for e, item in zip(parsed.entries, feed, strict=True):
        for facet in item["post"]["record"].get("facets", []):
            for feature in facet["features"]:
                if feature["$type"] == "app.bsky.richtext.facet#link":
                    assert f'href="{feature["uri"].replace("&", "&amp;")}"' in e.summary
                    links += 1
                if feature["$type"] == "app.bsky.richtext.facet#tag":
                    assert feature["tag"].lower() in e.tags
                    tags += 1
    assert links > 0 and tags > 0


def test_images_and_link_cards(corpus_json) -> None:
    feed = corpus_json("bluesky/sunbear__bluesky_feed.json")
    parsed = parse_bluesky_feed({"feed": feed}, did=BSKY_APP, handle="bsky.app")
    for e, item in zip(parsed.entries, feed, strict=True):
        embed = item["post"].get("embed") or {}
        if embed.get("$type") == "app.bsky.embed.images#view":
            assert e.image == embed["images"][0]["thumb"]
        if embed.get("$type") == "app.bsky.embed.external#view":
            assert e.image == embed["external"].get("thumb")
            assert embed["external"]["uri"].split("?")[0] in e.summary.replace("&amp;", "&")


def test_telsky_author_feed_with_envelope(corpus_json) -> None:
    data = corpus_json("bluesky/telsky__getAuthorFeed.json")
    feed = data["feed"]
    owner = next(i["reason"]["by"] for i in feed if i.get("reason"))
    parsed = parse_bluesky_feed(data, did=owner["did"], handle=owner["handle"])
    _sane(parsed, feed)
    # Reposting somebody's reply is still a repost here.
    assert Counter(e.kind for e in parsed.entries) == _expected_kinds(feed) == Counter(repost=28, post=2)


def test_facets_are_utf8_byte_offsets() -> None:
    text = "Écologie : https://exemple.fr/a #presse"
    data = text.encode()
    start = data.index(b"https")
    html = text_html(text, [
        {"index": {"byteStart": start, "byteEnd": start + len("https://exemple.fr/a")},
         "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://exemple.fr/a"}]},
        {"index": {"byteStart": data.index(b"#"), "byteEnd": len(data)},
         "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "presse"}]},
        {"index": {"byteStart": 1, "byteEnd": 999}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://bad"}]},
        {"index": {"byteStart": 0, "byteEnd": 3}, "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "javascript:alert(1)"}]},
    ])
    assert html == ('<p>Écologie : <a href="https://exemple.fr/a">https://exemple.fr/a</a> '
                    '<a href="https://bsky.app/hashtag/presse">#presse</a></p>')


def test_hostile_feed_items() -> None:
    good = {"post": {"uri": "at://did:plc:abc/app.bsky.feed.post/3k", "cid": "bafy", "author": {"did": "did:plc:abc", "handle": "a.test"},
                     "record": {"text": "<script>alert(1)</script>", "createdAt": "nonsense", "langs": ["FR"],
                                "facets": [{"index": {"byteStart": "0", "byteEnd": None}}, "junk"]}}}
    parsed = parse_bluesky_feed({"feed": [good, None, 1, {"post": {"uri": "https://x"}}, {"post": {}}]}, did="did:plc:abc", handle="a.test")
    (entry,) = parsed.entries
    assert "<script" not in entry.summary and "&lt;script&gt;" in entry.summary
    assert entry.published is None and entry.language == "fr" and entry.kind == "post"
    assert entry.url == "https://bsky.app/profile/a.test/post/3k"
    bad: Any
    for bad in ({"cursor": "x"}, [], {"feed": {}}):
        with pytest.raises(ParseError):
            parse_bluesky_feed(bad, did="did:plc:abc", handle="a.test")  # type: ignore[arg-type]
