"""Absolute URLs come from AGGREGATOR_BASE_URL only; without it, relative links and stable ids."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import pytest

from aggregator.store import Store
from aggregator.webapp.urls import PublicUrls

from .test_feeds_api import assert_valid_json_feed

ATOM = "{http://www.w3.org/2005/Atom}"
#: How URLs are built does not depend on the database: these run on SQLite only.
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
FORGED = {"Host": "forged.example", "X-Forwarded-Host": "forged.example", "X-Forwarded-Proto": "https",
          "Forwarded": "host=forged.example;proto=https"}


def atom_urls(body: bytes) -> dict[str, list[str]]:
    root = ET.fromstring(body)
    return {
        "id": [root.findtext(f"{ATOM}id") or ""],
        "links": [link.get("href") or "" for link in root.iter(f"{ATOM}link")],
        "entry ids": [e.findtext(f"{ATOM}id") or "" for e in root.iter(f"{ATOM}entry")],
    }


@sqlite_only
async def test_with_a_base_url_every_absolute_url_is_under_it(filled: Store, make_client: Any) -> None:
    base = "https://medias.example.org/actu"  # a path prefix is kept
    client = await make_client(filled, base_url=base)
    body = await (await client.get("/feed.atom?tag=logement&lang=fr", headers=FORGED)).read()
    urls = atom_urls(body)
    assert urls["id"] == [f"{base}/feed.atom?tag=logement&lang=fr"]
    assert f"{base}/feed.atom?tag=logement&lang=fr" in urls["links"]  # self
    assert f"{base}/tags/logement?lang=fr" in urls["links"]  # alternate
    ours = [u for u in urls["links"] if not u.startswith(("https://example.org/", "https://rebellyon.info/"))]
    assert ours and all(u.startswith(base + "/") for u in ours), ours  # feed links and each source's page
    assert b"forged" not in body and b"127.0.0.1" not in body

    doc = json.loads(await (await client.get("/feed.json?source=paris-luttes", headers=FORGED)).read())
    assert_valid_json_feed(doc)
    assert (doc["home_page_url"], doc["feed_url"]) == (f"{base}/sources/paris-luttes", f"{base}/feed.json?source=paris-luttes")

    data = await (await client.get("/api/items?limit=5", headers=FORGED)).json()
    assert data["next"].startswith(f"{base}/api/items?limit=5&cursor=")


@sqlite_only
async def test_without_a_base_url_links_are_relative_and_ids_stable(filled: Store, make_client: Any) -> None:
    client = await make_client(filled)
    body = await (await client.get("/feed.atom?tag=logement", headers=FORGED)).read()
    urls = atom_urls(body)
    [feed_id] = urls["id"]
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", feed_id)
    assert urls["links"][:2] == ["/feed.atom?tag=logement", "/tags/logement"]  # self, alternate
    assert b"forged" not in body and b"127.0.0.1" not in body and b"http://" not in body.replace(b"http://www.w3.org", b"")
    again = atom_urls(await (await client.get("/feed.atom?tag=logement", headers={"Host": "other.example"})).read())
    assert again["id"] == [feed_id], "the id does not depend on the request"
    assert atom_urls(await (await client.get("/feed.atom?tag=paris")).read())["id"] != [feed_id]
    feed = feedparser.parse(body, response_headers={"content-location": "https://reader.example/feed.atom",
                                                    "content-type": "application/atom+xml"})
    assert not feed.bozo and feed.feed.link == "https://reader.example/tags/logement"  # resolved by readers

    resp = await client.get("/feed.json", headers=FORGED)
    doc = json.loads(await resp.read())
    assert_valid_json_feed(doc)
    assert not {"home_page_url", "feed_url", "next_url"} & set(doc), "optional URLs are left out"
    assert b"forged" not in await resp.read()

    data = await (await client.get("/api/items?limit=5", headers=FORGED)).json()
    assert data["next"].startswith("/api/items?limit=5&cursor=")


def test_public_urls_refuse_what_is_not_a_path_from_the_root() -> None:
    urls = PublicUrls("https://medias.example.org")
    for bad in ("//evil.example/x", "https://evil.example/", "feed.atom"):
        with pytest.raises(ValueError):
            urls.link(bad)
    assert PublicUrls(None).iri("/x") == PublicUrls(None).iri("/x") != PublicUrls(None).iri("/y")
    assert PublicUrls(None).absolute("/x") is None and PublicUrls(None).link("/x?a=1") == "/x?a=1"


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_out_of_range_cursors_malformed_hosts_and_controls_are_400(filled: Store, make_client: Any) -> None:
    # on both databases: their integers overflow differently, and PostgreSQL refuses NUL
    client = await make_client(filled)
    for path in ("/api/items", "/", "/feed.atom", "/feed.json", "/sources/paris-luttes", "/tags/logement"):
        for text in ("k1.9223372036854775808", "k1.18446744073709551616", "k999999999999999999.1", "o99999999999999999"):
            resp = await client.get(path, params={"cursor": _cursor(text)})
            assert resp.status == 400 and "cursor" in await resp.text(), (path, text, resp.status)
        for host in ("forged.example:99999", "forged.example:-1", "[::1", "a b"):
            resp = await client.get(path, headers={"Host": host})
            assert resp.status == 400 and "Host" in await resp.text(), (path, host)
        resp = await client.get(path, headers={"Host": "forged.example:8080"})
        assert resp.status == 200 and b"forged.example" not in await resp.read()
        resp = await client.get(path, params={"source": "a\x00b"})
        assert resp.status == 400 and "control characters" in await resp.text()
