"""/search and the ``q`` filter of feeds and API, over the real index (tantivy or PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest

from aggregator.index import SearchIndex, open_index
from aggregator.store import Store

from .conftest import FakeIndex
from .test_pages import assert_inert


@pytest.fixture
def index(filled: Store, tmp_path: Path, clock: Any) -> Iterator[SearchIndex]:
    idx = open_index(filled, tmp_path, clock=clock)
    idx.sync()
    try:
        yield idx
    finally:
        idx.close()


async def test_search_page_with_highlights_count_and_subscribe_link(filled: Store, index: SearchIndex, make_client: Any) -> None:
    client = await make_client(filled, index)
    resp = await client.get("/search?q=grève")
    assert resp.status == 200
    html = await resp.text()
    assert "45 résultats" in html
    assert "<mark>grève</mark>" in html
    assert 'href="/feed.atom?q=gr%C3%A8ve"' in html and 'type="application/atom+xml"' in html
    assert 'value="grève"' in html
    older = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert older, "20 results per page, 45 in all"
    page2 = await (await client.get(older.group(1).replace("&amp;", "&"))).text()
    assert "← Les plus récents" in page2 and page2.count('class="item"') == 20


async def test_search_filters_and_sort(filled: Store, index: SearchIndex, make_client: Any) -> None:
    client = await make_client(filled, index)
    html = await (await client.get("/search?q=expulsion&source=rebellyon")).text()
    assert "1 résultat" in html and "rebellyon.info/expulsion" in html
    html = await (await client.get("/search?q=grève&sort=date")).text()
    numbers = [int(n) for n in re.findall(r"Article numéro (\d+) sur", html)]
    assert numbers and numbers == sorted(numbers, reverse=True)
    assert (await client.get("/search?q=grève&sort=sideways")).status == 400


async def test_malformed_query_gets_a_readable_message(filled: Store, index: SearchIndex, make_client: Any) -> None:
    client = await make_client(filled, index)
    resp = await client.get('/search?q="grève')
    assert resp.status == 400
    html = await resp.text()
    assert "Cette recherche n’a pas pu être comprise" in html and "Guillemet non fermé" in html
    assert 'aria-invalid="true"' in html
    resp = await client.get('/api/items?q=before:xx')
    assert resp.status == 400 and "Date invalide" in (await resp.json())["error"]


async def test_search_results_escape_hostile_entries(filled: Store, index: SearchIndex, make_client: Any) -> None:
    client = await make_client(filled, index)
    html = await (await client.get("/search?q=piégé")).text()
    assert_inert(html)
    assert "Titre piégé" in html


async def test_feeds_and_api_take_q(filled: Store, index: SearchIndex, make_client: Any) -> None:
    client = await make_client(filled, index)
    feed = feedparser.parse(await (await client.get("/feed.atom?q=grève")).read())
    assert not feed.bozo and len(feed.entries) == 45
    published = [e.published for e in feed.entries]
    assert published == sorted(published, reverse=True), "a search feed is by date"
    assert "recherche : grève" in feed.feed.title
    data = await (await client.get("/api/items?q=grève&limit=40")).json()
    assert data["total"] == 45 and len(data["items"]) == 40 and "<mark>" in data["items"][0]["snippet"]
    rest = await (await client.get("/api/items?q=grève&limit=40&cursor=" + data["next_cursor"])).json()
    assert len(rest["items"]) == 5 and rest["next_cursor"] is None
    assert (await client.get("/api/items?cursor=" + data["next_cursor"])).status == 400, "a search cursor is not a river cursor"
    assert (await client.get("/healthz")).status == 200


async def test_view_passes_filters_to_the_index(filled: Store, make_client: Any) -> None:
    """The seam itself: what the web layer asks the index (a fake records the calls)."""
    fake = FakeIndex(filled)
    client = await make_client(filled, fake)
    await client.get("/search?q=grève&source=paris-luttes&tag=logement&lang=fr&sort=date&exclude=rebellyon,piege")
    assert fake.calls[-1] == {"query": "grève", "source": "paris-luttes", "tag": "logement", "lang": "fr",
                              "limit": 20, "offset": 0, "sort": "date", "exclude": ("piege", "rebellyon")}
    fake_hostile = FakeIndex(filled)
    fake_hostile.search = lambda *a, **k: type("R", (), {"hits": [type("H", (), {  # type: ignore[method-assign]
        "id": 1, "source": "paris-luttes", "url": None, "title": "t", "published": None, "score": 1.0,
        "snippet": '<img src=x onerror=alert(1)><mark>ok</mark><script>alert(2)</script>'})()], "total": 1, "query": "x", "total_capped": False})()
    client = await make_client(filled, fake_hostile)
    html = await (await client.get("/search?q=x")).text()
    assert "<mark>ok</mark>" in html and "onerror" not in html and "<script>alert(2)" not in html


async def test_search_without_index_is_503(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/search?q=grève")
    assert resp.status == 503 and "La recherche n’est pas disponible" in await resp.text()
    resp = await client.get("/search")
    assert resp.status == 200 and 'id="q"' in await resp.text()


async def test_a_capped_count_says_more_than_and_pages_go_on(
    filled: Store, index: SearchIndex, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL stops counting at ``COUNT_CAP``: the page then says "Plus de N résultats"
    (never a wrong number), the API flags ``total_capped`` and the next page is offered.
    The embedded engine counts exactly and never flags it."""
    from aggregator.index import postgres

    monkeypatch.setattr(postgres, "COUNT_CAP", 25)
    client = await make_client(filled, index)
    html = await (await client.get("/search?q=grève")).text()
    api = await (await client.get("/api/items?q=grève&limit=20")).json()
    if isinstance(index, postgres.PostgresIndex):
        assert "Plus de 25 résultats" in html and "45 résultats" not in html
        assert api["total"] == 25 and api["total_capped"] is True
        html_en = await (await client.get("/search?q=grève&ui=en")).text()
        assert "More than 25 results" in html_en
    else:
        assert "45 résultats" in html
        assert api["total"] == 45 and "total_capped" not in api
    assert re.search(r'<a rel="next" href="', html) and api["next_cursor"]
