"""Decide, the pure step: plain data in, a verdict out, the clock handed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aggregator.model import EntryData, ExistingEntry
from aggregator.update.decide import MIN_STORY_TITLE_WORDS, decide, story_key

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def entry(guid: str, title: str = "Grève générale à Lyon ce jeudi", **kw: object) -> EntryData:
    fields: dict[str, object] = {"url": f"https://site.example/{guid}", "content_hash": f"h-{guid}", **kw}
    return EntryData(guid=guid, title=title, **fields)  # type: ignore[arg-type]


def stored(id: int, content_hash: str, *, deleted: bool = False, published: datetime = NOW - DAY) -> ExistingEntry:
    return ExistingEntry(id=id, content_hash=content_hash, deleted=deleted, published=published, first_seen=published)


def run(entries: list[EntryData], existing: dict[str, ExistingEntry] | None = None, *, relay: bool = True,
        backlog: timedelta = DAY):  # type: ignore[no-untyped-def]
    return decide("media", entries, existing or {}, now=NOW, relay=relay, backlog=backlog)


def test_new_entries_with_their_dates() -> None:
    d = run([entry("a", published=NOW - timedelta(hours=2)), entry("b", updated=NOW - timedelta(hours=3))])
    assert [(c.entry.guid, c.published, c.existing_id) for c in d.new] == [
        ("a", NOW - timedelta(hours=2), None), ("b", NOW - timedelta(hours=3), None)]
    assert d.updated == () and d.unchanged == 0


@pytest.mark.parametrize(("published", "expected"), [
    (None, NOW),                              # missing: the first-seen time
    (NOW + timedelta(days=3), NOW),           # in the future: clamped to the fetch time
    (NOW - timedelta(minutes=1), NOW - timedelta(minutes=1)),
])
def test_dates_are_clamped_or_filled(published: datetime | None, expected: datetime) -> None:
    [change] = run([entry("a", published=published)]).new
    assert change.published == expected


def test_unchanged_edited_and_deleted() -> None:
    existing = {"same": stored(1, "h-same"), "edited": stored(2, "old-hash"), "gone": stored(3, "old", deleted=True)}
    d = run([entry("same"), entry("edited"), entry("gone")], existing)
    assert d.new == () and d.unchanged == 2
    [change] = d.updated
    assert change.existing_id == 2 and change.entry.guid == "edited"


def test_an_edit_without_a_date_keeps_the_date_first_known() -> None:
    first = NOW - timedelta(days=4)
    [change] = run([entry("e", published=None)], {"e": stored(9, "old", published=first)}).updated
    assert change.published == first


def test_a_guid_listed_twice_counts_once_and_the_first_wins() -> None:
    d = run([entry("a", title="Premier titre de l'article"), entry("a", title="Second titre de l'article")])
    assert [c.entry.title for c in d.new] == ["Premier titre de l'article"]


@pytest.mark.parametrize(("kw", "relay", "expected"), [
    ({"published": NOW - timedelta(hours=1)}, True, True),
    ({"published": NOW - timedelta(days=2)}, True, False),   # older than the backlog window
    ({"published": NOW - timedelta(hours=1)}, False, False),  # the source is not relayed
    ({"published": NOW - timedelta(hours=1), "kind": "reply"}, True, False),  # replies never are
    ({"published": NOW - timedelta(hours=1), "kind": "post"}, True, True),
    ({}, True, True),  # no date: first seen now, so recent
])
def test_relay_worthiness(kw: dict[str, object], relay: bool, expected: bool) -> None:
    [change] = run([entry("a", **kw)], relay=relay).new
    assert change.relay is expected


def test_updates_are_never_relayed_again() -> None:
    [change] = run([entry("e", published=NOW)], {"e": stored(1, "old")}).updated
    assert change.relay is False


# -- story keys ------------------------------------------------------------------------

def test_copies_of_one_article_share_a_story_whatever_case_accents_and_punctuation() -> None:
    a = entry("1", title="Expulsion du squat de la rue des Lilas ce matin")
    b = entry("2", title="EXPULSION du squat de la rue des lilas ce matin !", url="https://other.example/x")
    c = entry("3", title="Expulsión du squat de la rue des lilas, ce matin")
    assert story_key(a, "paris-luttes") == story_key(b, "rebellyon") == story_key(c, "iaata")


def test_short_titles_fall_back_to_the_link_then_the_guid() -> None:
    assert MIN_STORY_TITLE_WORDS == 4
    short = entry("1", title="Agenda", url="https://site.example/agenda?utm_source=rss")
    same_link = entry("2", title="Communiqué", url="https://site.example/agenda")
    assert story_key(short, "a") == story_key(same_link, "b") and story_key(short, "a").startswith("u:")
    no_link = entry("3", title="Agenda", url=None)
    assert story_key(no_link, "a") != story_key(no_link, "b") and story_key(no_link, "a").startswith("g:")


def test_a_fediverse_post_is_always_its_own_story() -> None:
    post = entry("p", title="Expulsion du squat de la rue des Lilas ce matin", kind="post",
                 native_uri="https://mastodon.example/users/m/statuses/1")
    article = entry("a", title="Expulsion du squat de la rue des Lilas ce matin")
    assert story_key(post, "m").startswith("n:") and story_key(post, "m") != story_key(article, "a")
    assert story_key(post, "m") == story_key(post, "other-source"), "the native URI is the identity"


def test_decide_attaches_the_story_key() -> None:
    [change] = run([entry("a")]).new
    assert change.story_key == story_key(entry("a"), "media")
