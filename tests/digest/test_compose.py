"""compose: pure, with plain data and an injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aggregator.digest.compose import (
    SUMMARY_LIMIT,
    Story,
    clean_link,
    compose,
    due_day,
    local_day,
    send_instant,
    window,
)
from aggregator.model import DigestFilters, StoredEntry

from .conftest import SOURCES

PARIS = ZoneInfo("Europe/Paris")
BY_SLUG = {s.slug: s for s in SOURCES}
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 19, 6, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
_ids = iter(range(1, 10_000))


def entry(source: str, title: str, *, url: str | None = None, minute: int = 0, tags: tuple[str, ...] = (),
          language: str | None = None, summary: str = "<p>Résumé.</p>", story: int | None = None,
          deleted: bool = False) -> StoredEntry:
    i = next(_ids)
    when = START + timedelta(hours=1, minutes=minute)
    return StoredEntry(
        id=i, source=source, guid=str(i), url=url if url is not None else f"https://{source}.example/{i}",
        title=title, author=None, published=when, updated=None, first_seen=when, language=language, summary=summary,
        content="", text="", tags=tags, image=None, kind="article", native_uri=None, native_cid=None,
        story_id=story if story is not None else i, deleted=deleted,
    )


def run(stories: list[Story], **kw: object) -> object:
    return compose(stories, day=DAY, window_start=START, window_end=END, sources=BY_SLUG, **kw)  # type: ignore[arg-type]


def test_groups_by_source_in_name_order_items_newest_first() -> None:
    a1 = entry("rebellyon", "Premier", minute=1)
    a2 = entry("rebellyon", "Second", minute=30)
    b = entry("paris-luttes", "Parisien", minute=10)
    d = run([Story(a1), Story(b), Story(a2)])
    assert [g.label for g in d.groups] == ["Paris-luttes.info", "Rebellyon"]
    assert [i.title for i in d.groups[1].items] == ["Second", "Premier"]
    assert d.count == 3 and not d.empty
    # stable: the input order does not matter
    again = run([Story(a2), Story(b), Story(a1)])
    assert again.groups == d.groups


def test_each_story_once_with_also_published_by() -> None:
    first = entry("paris-luttes", "Expulsion rue des Lilas", url="https://paris-luttes.example/a?utm_source=rss&x=1",
                  story=900)
    copy = entry("rebellyon", "Expulsion rue des lilas", url="https://rebellyon.example/b?fbclid=abc", story=900)
    copy2 = entry("rebellyon", "Expulsion (copie)", story=900)
    d = run([Story(first, (copy, copy2))])
    items = d.items()
    assert len(items) == 1
    item = items[0]
    assert item.source == "paris-luttes" and item.url == "https://paris-luttes.example/a?x=1"
    assert [(a.source_name, a.url) for a in item.also] == [("Rebellyon", "https://rebellyon.example/b")]


def test_filters_sources_tags_languages() -> None:
    lyon = entry("rebellyon", "À Lyon", tags=("lyon", "logement"))
    paris = entry("paris-luttes", "À Paris", tags=("paris",))
    english = entry("crimethinc", "In English")
    stories = [Story(lyon), Story(paris), Story(english)]
    assert {i.title for i in run(stories).items()} == {"À Lyon", "À Paris", "In English"}
    assert [i.title for i in run(stories, filters=DigestFilters(sources=("rebellyon",))).items()] == ["À Lyon"]
    assert [i.title for i in run(stories, filters=DigestFilters(tags=("logement",))).items()] == ["À Lyon"]
    assert [i.title for i in run(stories, filters=DigestFilters(languages=("en",))).items()] == ["In English"]
    both = DigestFilters(sources=("rebellyon", "paris-luttes"), languages=("fr",))
    assert {i.title for i in run(stories, filters=both).items()} == {"À Lyon", "À Paris"}
    assert run(stories, filters=DigestFilters(tags=("nothing",))).empty


def test_filter_on_a_republishing_source_shows_its_own_copy() -> None:
    first = entry("paris-luttes", "Article", story=901)
    copy = entry("rebellyon", "Article (repris)", story=901)
    d = run([Story(first, (copy,))], filters=DigestFilters(sources=("rebellyon",)))
    [item] = d.items()
    assert item.source == "rebellyon" and item.title == "Article (repris)"
    assert [a.source for a in item.also] == ["paris-luttes"]


def test_language_prefix_and_source_language() -> None:
    canada = entry("crimethinc", "Québec", language="fr-CA")
    unknown = entry("reporterre", "Sans langue")  # the source says fr
    d = run([Story(canada), Story(unknown)], filters=DigestFilters(languages=("fr",)))
    assert {i.title for i in d.items()} == {"Québec", "Sans langue"}


def test_group_by_tag_each_story_once_untagged_last() -> None:
    both = entry("rebellyon", "Deux étiquettes", tags=("lyon", "logement"))
    none = entry("reporterre", "Sans étiquette")
    paris = entry("paris-luttes", "Paris", tags=("paris",))
    d = run([Story(both), Story(none), Story(paris)], group_by="tag")
    assert [g.key for g in d.groups] == ["lyon", "paris", ""]
    assert d.count == 3
    # with a tag filter, the story goes to the wanted tag's group
    d = run([Story(both)], group_by="tag", filters=DigestFilters(tags=("logement",)))
    assert [g.key for g in d.groups] == ["logement"]


def test_tracking_parameters_removed_and_unsafe_links_dropped() -> None:
    assert clean_link("https://a.example/x?utm_medium=social&id=3&mtm_campaign=z#xtor=RSS-1") == "https://a.example/x?id=3"
    assert clean_link("https://a.example/spip.php?article42") == "https://a.example/spip.php?article42"
    assert clean_link("https://a.example/x#section-2") == "https://a.example/x#section-2"
    assert clean_link("javascript:alert(1)") is None
    assert clean_link("https://a.example/x\r\nBcc: y") is None
    assert clean_link(None) is None
    bad = entry("rebellyon", "Lien piégé", url="javascript:alert(1)")
    [item] = run([Story(bad)]).items()
    assert item.url is None


def test_summary_is_short_plain_text() -> None:
    long = "<p>" + " ".join(["mot<b>gras</b> &amp; texte"] * 200) + "</p>"
    [item] = run([Story(entry("rebellyon", "Long", summary=long))]).items()
    assert len(item.summary) <= SUMMARY_LIMIT and item.summary.endswith("…")
    assert "<" not in item.summary and "&amp;" not in item.summary and "& texte" in item.summary


def test_deleted_entries_are_left_out() -> None:
    gone = entry("rebellyon", "Supprimé", deleted=True)
    assert run([Story(gone)]).empty


def test_empty_day_means_no_mail() -> None:
    d = run([])
    assert d.empty and d.count == 0 and d.groups == ()


def test_window_rule() -> None:
    end = datetime(2026, 11, 20, 6, tzinfo=UTC)
    assert window(None, end) == (end - timedelta(hours=24), end)  # the first digest: 24 hours
    prev = datetime(2026, 11, 17, 6, tzinfo=UTC)  # three days without a digest: nothing lost
    assert window(prev, end) == (prev, end)
    assert window(end + timedelta(hours=1), end) == (end, end)  # never a negative window


def test_day_and_send_time_in_paris_across_dst() -> None:
    # Winter: 07:00 in Paris is 06:00 UTC; summer: 05:00 UTC.
    assert send_instant(date(2026, 1, 15), time(7), PARIS) == datetime(2026, 1, 15, 6, tzinfo=UTC)
    assert send_instant(date(2026, 7, 15), time(7), PARIS) == datetime(2026, 7, 15, 5, tzinfo=UTC)
    # Spring forward (29 March 2026): the window from the 28th's digest is 23 hours long.
    before, after = send_instant(date(2026, 3, 28), time(7), PARIS), send_instant(date(2026, 3, 29), time(7), PARIS)
    assert after - before == timedelta(hours=23)
    # Fall back (25 October 2026): 25 hours.
    before, after = send_instant(date(2026, 10, 24), time(7), PARIS), send_instant(date(2026, 10, 25), time(7), PARIS)
    assert after - before == timedelta(hours=25)
    # 02:30 does not exist on the spring-forward day: it is taken as 03:30 CEST (01:30 UTC).
    assert send_instant(date(2026, 3, 29), time(2, 30), PARIS) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # The day is Paris's: 23:30 UTC on the 28th of March is already the 29th there.
    assert local_day(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), PARIS) == date(2026, 3, 29)
    # Due only once the send time has passed, in local time.
    assert due_day(datetime(2026, 3, 29, 4, 59, tzinfo=UTC), time(7), PARIS) is None
    assert due_day(datetime(2026, 3, 29, 5, 0, tzinfo=UTC), time(7), PARIS) == date(2026, 3, 29)
    assert due_day(datetime(2026, 3, 28, 5, 30, tzinfo=UTC), time(7), PARIS) is None  # 06:30 CET
