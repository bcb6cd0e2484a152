"""Every field a feed gives is bounded at parse time, whatever the format (issue 10).

The hostile documents of ``tests/web/hostile_feeds.py`` (1 MiB titles, authors and links, 10,000
tags, multi-megabyte summaries and contents, giant image URLs) through each parser; both
XML engines bound the same way (the bounds apply after the raw values are read).
"""

from __future__ import annotations

import json

import pytest

from aggregator import limits
from aggregator.model import EntryData, FeedData
from aggregator.parse.bluesky import parse_bluesky_feed
from aggregator.parse.build import bound_entry
from aggregator.parse.feed import parse_feed
from aggregator.parse.identity import content_hash
from aggregator.parse.mastodon import parse_mastodon_statuses
from tests.web import hostile_feeds as hostile

BASE = "https://hostile.example"


def assert_bounded(feed: FeedData, entries: tuple[EntryData, ...]) -> None:
    assert len(feed.title or "") <= limits.MAX_FEED_TITLE_LENGTH + 1
    assert len(feed.description or "") <= limits.MAX_FEED_DESCRIPTION_LENGTH + 1
    assert len(feed.link or "") <= limits.MAX_URL_LENGTH
    assert entries
    for e in entries:
        assert len(e.title) <= limits.MAX_TITLE_LENGTH + 1, e.guid
        assert len(e.author or "") <= limits.MAX_AUTHOR_LENGTH + 1, e.guid
        assert len(e.summary) <= limits.MAX_SUMMARY_HTML, e.guid
        assert len(e.content) <= limits.MAX_CONTENT_HTML, e.guid
        assert len(e.text) <= limits.MAX_TEXT_LENGTH + 1, e.guid
        assert len(e.tags) <= limits.MAX_TAGS and all(len(t) <= limits.MAX_TAG_LENGTH for t in e.tags), e.guid
        for url in (e.url, e.image, e.native_uri):
            assert url is None or len(url) <= limits.MAX_URL_LENGTH, e.guid
        assert e.url is None or not any(t in e.url for t in ("utm_", "fbclid", "xtor")), e.url
        assert len(e.guid) <= limits.MAX_GUID_LENGTH and len(e.native_cid or "") <= limits.MAX_CID_LENGTH
        assert len(e.language or "") <= limits.MAX_LANGUAGE_LENGTH


@pytest.mark.parametrize("make", [hostile.giant_rss, hostile.giant_atom, hostile.giant_json_feed, hostile.worst_json_feed])
def test_feed_documents_are_bounded(make) -> None:  # type: ignore[no-untyped-def]
    parsed = parse_feed(make(BASE), url=BASE + "/feed")
    assert_bounded(parsed.feed, parsed.entries)


def test_the_engines_agree_on_a_hostile_feed() -> None:
    body = hostile.giant_rss(BASE, tags=500)  # feedparser takes seconds over 10,000 tags
    assert parse_feed(body, url=BASE + "/feed", engine="fast") == parse_feed(body, url=BASE + "/feed", engine="feedparser")


def test_giant_rss_items_are_cut_not_dropped() -> None:
    parsed = parse_feed(hostile.giant_rss(BASE), url=BASE + "/feed")
    by_guid = {e.guid: e for e in parsed.entries}
    assert len(by_guid) == 7  # every item stays, each bounded
    assert by_guid["geant-0"].title == "T" * limits.MAX_TITLE_LENGTH + "…"
    assert by_guid["geant-0"].url == BASE + "/articles/titre"  # tracking parameters gone
    assert len(by_guid["geant-2"].tags) == limits.MAX_TAGS
    resume = by_guid["geant-3"]  # a whole book in <description>: moved to the content
    assert resume.summary.startswith("<p>Un paragraphe") and len(resume.summary) < 1000
    assert resume.content.startswith("<p>Un paragraphe") and len(resume.content) > 200_000
    assert by_guid["geant-4"].url == BASE + "/articles/contenu"  # a tracking fragment too
    assert by_guid["geant-5"].image is None  # enclosure and thumbnail URLs over the limit
    assert by_guid["geant-6"].url is None and by_guid["geant-6"].title == "Un lien démesuré"


def test_mastodon_statuses_are_bounded() -> None:
    statuses = json.loads(json.dumps(hostile.mastodon_statuses(BASE)))
    parsed = parse_mastodon_statuses(statuses, account="@geant@masto.example")
    assert_bounded(parsed.feed, parsed.entries)
    assert [e.url for e in parsed.entries] == ["https://masto.example/@geant/900", "https://masto.example/@geant/901"]


def test_bluesky_posts_are_bounded() -> None:
    parsed = parse_bluesky_feed(hostile.bluesky_feed(BASE), did="did:plc:geantgeantgeant", handle="geant.bsky.social")
    assert_bounded(parsed.feed, parsed.entries)
    assert all(e.native_cid is None for e in parsed.entries)  # a 10,000-character CID is no CID


def test_an_entry_within_its_limits_is_returned_as_is() -> None:
    entry = parse_feed(hostile.worst_json_feed(BASE), url=BASE + "/feed").entries[0]
    assert bound_entry(entry) is entry


def test_bounds_keep_identity_and_content_hash() -> None:
    """Identity and the content hash are those of the raw values: entries stored before
    keep their GUID and are not seen as edited."""
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>'
        + "Mot " * 200 + f"</title><link>{BASE}/a?utm_source=rss&amp;id=3</link></item></channel></rss>"
    ).encode()
    [entry] = parse_feed(rss, url=BASE + "/feed").entries
    assert entry.guid == BASE + "/a?id=3" and entry.url == BASE + "/a?id=3"
    assert len(entry.title) <= limits.MAX_TITLE_LENGTH + 1
    assert entry.content_hash == content_hash(" ".join(["Mot"] * 200), "", BASE + "/a?utm_source=rss&id=3")
