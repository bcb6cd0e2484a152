"""Headers every response carries, page caching, and the interface language."""

from __future__ import annotations

from typing import Any

from aggregator.store import Store
from aggregator.webapp.i18n import negotiate, parse_accept_language

PATHS = ("/", "/sources", "/sources/paris-luttes", "/tags/paris", "/search", "/feed.atom", "/feed.json",
         "/sources.opml", "/api/items", "/api/sources", "/healthz", "/metrics", "/nope")


async def test_security_headers_on_every_response(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/")).text()
    static = [part.split('"')[0] for part in html.split('="/static/')[1:]]
    assert static, "the page links its stylesheet, icon and script"
    for path in (*PATHS, *("/static/" + s for s in static)):
        resp = await client.get(path)
        assert resp.status in (200, 404), path
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
        assert "script-src 'self'" in csp and "object-src 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    resp = await client.get("/static/" + static[0])
    assert "immutable" in resp.headers["Cache-Control"]


async def test_pages_have_etag_last_modified_and_answer_304(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    for path in ("/", "/sources", "/sources/paris-luttes", "/tags/paris", "/api/items", "/api/sources", "/sources.opml"):
        resp = await client.get(path)
        etag = resp.headers["ETag"]
        assert resp.headers["Cache-Control"].startswith("public, max-age="), path
        again = await client.get(path, headers={"If-None-Match": f'W/{etag}, "x"'})
        assert again.status == 304 and await again.read() == b"", path
    resp = await client.get("/")
    assert resp.headers["Last-Modified"].endswith(" GMT") and resp.headers["Vary"] == "Accept-Language, Cookie"
    assert (await client.get("/", headers={"If-Modified-Since": resp.headers["Last-Modified"]})).status == 304
    assert (await client.get("/", headers={"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"})).status == 200
    assert (await client.get("/", headers={"If-Modified-Since": "garbage"})).status == 200
    english = await client.get("/", headers={"If-None-Match": resp.headers["ETag"], "Accept-Language": "en"})
    assert english.status == 200, "the English page is another representation"
    head = await client.head("/")
    assert head.status == 200 and head.headers["ETag"] == resp.headers["ETag"]


async def test_french_by_default_english_on_request_and_by_switch(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    html = await (await client.get("/")).text()
    assert '<html lang="fr">' in html and "Fil d’actualité" in html and "Lire sur" in html
    html = await (await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})).text()
    assert '<html lang="en">' in html and "River of news" in html and "Read on example.org" in html
    assert "Nov 20, 2026" in html
    resp = await client.get("/sources?ui=en", headers={"Accept-Language": "fr"})
    assert "Not fetched yet" in await resp.text()
    assert resp.cookies["ui"].value == "en" and resp.headers["Cache-Control"].startswith("private")
    # the cookie is kept by the client session: later pages stay in English
    html = await (await client.get("/", headers={"Accept-Language": "fr"})).text()
    assert '<html lang="en">' in html
    html = await (await client.get("/?ui=fr")).text()
    assert '<html lang="fr">' in html
    assert 'href="/?ui=en"' in html and 'href="/?ui=fr"' in html


def test_accept_language_parsing_is_bounded_and_ordered() -> None:
    assert parse_accept_language("de;q=0.5, en-US, fr;q=0.8") == ["en", "fr", "de"]
    assert parse_accept_language("x" * 5000) == []
    assert parse_accept_language("en;q=0, fr") == ["fr"]
    assert negotiate(None, None, "de, en;q=0.5") == "en"
    assert negotiate(None, None, "de") == "fr"
    assert negotiate("xx", "en", None) == "en"
