"""The HTML pages on SQLite and PostgreSQL: river, filters, pagination, sources, tags, errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from aggregator.store import Store

from .conftest import HOSTILE_TITLE


class Links(HTMLParser):
    """Every tag with its attributes, to assert on the markup rather than on text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(html: str) -> Links:
    p = Links()
    p.feed(html)
    return p


def assert_inert(html: str, *, frames: tuple[str, ...] = ()) -> None:
    """No active markup in the body: no script/iframe/svg/img, no handlers, no script URLs.

    Args:
        frames: the site's own pages a page shows in an iframe by design (``/share``'s
            preview of ``/embed``, with any query); any other frame is active markup.
    """

    def designed(tag: str, attrs: dict[str, str | None]) -> bool:
        src = attrs.get("src") or ""
        return tag == "iframe" and any(src == f or src.startswith(f + "?") for f in frames)

    tags = parse(html.split("</head>", 1)[1]).tags
    names = {t for t, attrs in tags if not designed(t, attrs)}
    assert not names & {"script", "iframe", "svg", "img", "style", "object", "embed"}
    for _tag, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), attrs
        for key in ("href", "src", "action"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), attrs


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="title" id="title-\d+"[^>]*>\s*(?:<a [^>]*>)?([^<]*)', html)


async def test_river_shows_one_story_with_also_published_by(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    html = await resp.text()
    assert '<html lang="fr">' in html
    shown = titles(html)
    assert sum("Expulsion du squat" in t for t in shown) == 1
    assert "Aussi publié par" in html and 'href="https://rebellyon.info/expulsion"' in html
    # newest first
    assert shown.index("Rent strike spreads across the city") < shown.index("Article numéro 44 sur la grève des loyers à Paris")
    # prominent links straight to the original, rel=noopener, no redirect through us
    read = [a for t, a in parse(html).tags if t == "a" and "read" in (a.get("class") or "")]
    assert read and all(a["href"].startswith("https://") and a["rel"] == "noopener" for a in read)
    # dates: UTC in the attribute, Paris time in the text (UTC+1 in November)
    assert '<time class="dt" datetime="2026-11-20T11:50:00Z">20 nov. 2026 12:50</time>' in html


async def test_river_pages_with_an_opaque_cursor(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    first = await (await client.get("/")).text()
    older = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert older, "a first page of 30 out of 48 stories links to older ones"
    second_resp = await client.get(older.group(1).replace("&amp;", "&"))
    assert second_resp.status == 200
    second = await second_resp.text()
    one, two = titles(first), titles(second)
    assert len(one) == 30 and len(two) == 48 - 30
    assert not set(one) & set(two)
    assert 'rel="next"' not in second and "← Les plus récents" in second
    assert (await client.get("/?cursor=not-a-cursor")).status == 400
    assert (await client.get("/?cursor=" + "A" * 500)).status == 400


async def test_filters_by_source_tag_and_language(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/?source=rebellyon")).text()
    assert titles(html) == ["Expulsion du squat de la rue des lilas ce matin !"]
    html = await (await client.get("/?tag=housing")).text()
    assert titles(html) == ["Rent strike spreads across the city"]
    html = await (await client.get("/?lang=en")).text()
    # the entries state no language: the write path gives them their source's
    assert titles(html) == ["Rent strike spreads across the city"]
    assert '<html lang="fr">' in html, "lang filters content, not the interface language"
    assert (await client.get("/?lang=<script>")).status == 400
    resp = await client.get("/?q=grève")  # redirected to /search, which has no index here
    assert resp.status == 503 and "La recherche n’est pas disponible" in await resp.text()
    resp = await client.get("/?q=grève", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/search?q=")


async def test_tag_page_including_a_tag_with_a_slash(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/tags/logement")).text()
    assert len(titles(html)) == 30 and 'href="/feed.atom?tag=logement"' in html
    html = await (await client.get("/tags/a%2Fb")).text()
    shown = titles(html)
    assert len(shown) == 1 and "Titre piégé" in shown[0]
    assert (await client.get("/tags/nothing-tagged-so")).status == 200


async def test_sources_directory_with_health_in_plain_words(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/sources")).text()
    assert "4 médias indépendants sont suivis ici." in html
    assert "L’adresse du flux n’existe plus (404)" in html and "<code>HTTP 404 Not Found</code>" in html
    assert "Le site n’a pas répondu à temps." in html
    assert 'href="https://mastodon.social/@paris_luttes"' in html
    assert 'href="https://bsky.app/profile/paris-luttes.bsky.social"' in html
    assert "Pas encore récupérée" in html and "Fonctionne" in html
    assert "<script>" not in html.split("</head>")[1]


async def test_source_page_has_its_own_river_and_feed(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/sources/paris-luttes")
    assert resp.status == 200
    html = await resp.text()
    assert "<h1>Paris-luttes.info</h1>" in html and "Site coopératif" in html
    assert '<link rel="alternate" type="application/atom+xml"' in html and 'href="/feed.atom?source=paris-luttes"' in html
    assert len(titles(html)) == 30 and 'rel="next"' in html
    older = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert older and older.group(1).startswith("/sources/paris-luttes?cursor=")
    assert len(titles(await (await client.get(older.group(1))).text())) == 46 - 30
    missing = await client.get("/sources/nope")
    assert missing.status == 404 and "Page introuvable" in await missing.text()


async def test_hostile_content_is_escaped_everywhere(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    for path in ("/", "/sources", "/sources/piege", "/tags/a%2Fb", "/?source=piege"):
        assert_inert(await (await client.get(path)).text())
    html = await (await client.get("/")).text()
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html  # shown as text, escaped
    assert HOSTILE_TITLE not in html


async def test_unknown_page_and_bad_parameters(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    resp = await client.get("/nope")
    assert resp.status == 404 and "Page introuvable" in await resp.text()
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
    resp = await client.get("/?tag=" + "x" * 300)
    assert resp.status == 400 and "too long" in await resp.text()
