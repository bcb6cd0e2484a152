"""An install whose sources fail must not look empty: the river and /sources say what is going on."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aggregator.store import Store

from .conftest import SOURCES
from .test_pages import parse


def fail_all(store: Store, clock: Any) -> None:
    store.sources.sync(SOURCES)
    now = clock()
    for i, source in enumerate(SOURCES):
        store.sources.record_failure(source.slug, now=now, error="connection refused",
                                     next_fetch=now + timedelta(minutes=10 + i))


def card_order(html: str) -> list[str]:
    return re.findall(r'<li class="source-card" id="source-([^"]+)"', html)


async def test_every_source_failing_is_said_on_the_river_with_a_link(store: Store, clock: Any, make_client: Any) -> None:
    fail_all(store, clock)
    client = await make_client(store)
    html = await (await client.get("/")).text()
    notice = re.search(r'<p class="notice sources-health error" role="status">(.*?)</p>', html, re.S)
    assert notice, html
    words = " ".join(notice.group(1).split())
    assert "4 sources, 4 en panne" in words and "Aucune ne peut être récupérée" in words
    assert ("a", {"href": "/sources"}) in parse(notice.group(0)).tags
    html = await (await client.get("/?ui=en")).text()
    assert "4 sources, 4 failing" in " ".join(html.split()) and "see Sources" in html
    # a filtered view says only that it is empty: the notice belongs to the front page
    html = await (await client.get("/?source=rebellyon")).text()
    assert "sources-health" not in html and 'class="empty"' in html


async def test_sources_page_sums_up_and_lists_failing_first_with_next_try(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/sources?ui=en")).text()
    summary = re.search(r'<ul class="health-summary"[^>]*>(.*?)</ul>', html, re.S)
    assert summary, html
    counts = dict(re.findall(r'<span class="badge">([^<]+)</span>\s*(\d+)', summary.group(1)))
    # fill(): paris-luttes fetched, rebellyon and english-zine failing, piege never fetched
    assert counts == {"Working": "1", "Failing": "2", "Disabled": "0", "Not fetched yet": "1"}
    order = card_order(html)
    assert set(order[:2]) == {"rebellyon", "english-zine"} and len(order) == 4
    failing_card = html.split('id="source-rebellyon"', 1)[1].split("</li>", 1)[0]
    assert "next try" in failing_card and 'datetime="' in failing_card
    working_card = html.split('id="source-paris-luttes"', 1)[1].split("</li>", 1)[0]
    assert "next try" not in working_card
    # the river has items and some sources work: no notice there
    assert "sources-health" not in await (await client.get("/")).text()


async def test_river_before_the_first_fetch_says_it_is_under_way(store: Store, clock: Any, make_client: Any) -> None:
    store.sources.sync(SOURCES)
    client = await make_client(store)
    html = " ".join((await (await client.get("/?ui=en")).text()).split())
    assert "4 sources, 4 not fetched yet" in html and "The first fetch is under way" in html


async def test_river_with_items_but_every_source_failing_still_says_so(filled: Store, clock: Any, make_client: Any) -> None:
    fail_all(filled, clock)
    client = await make_client(filled)
    html = " ".join((await (await client.get("/")).text()).split())
    assert "4 sources, 4 en panne" in html and len(re.findall(r'<article class="item', html)) == 30
