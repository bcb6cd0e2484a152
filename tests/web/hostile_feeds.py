"""Hostile feeds for the page-weight tests (issue 10): giant fields, and every field at its limit.

Served by ``tests/feedserver.py`` and crawled by the real crawler. Each kind of source
brings its own attack: an RSS feed and an Atom feed with 1 MiB titles, authors and links,
10,000 tags, multi-megabyte summaries and contents, huge enclosure and thumbnail URLs; a
JSON Feed with the same; a Mastodon account and a Bluesky account whose posts are as big;
and "pire", a JSON Feed of items whose every field sits exactly at its limit, written with
the characters that grow most when escaped, so a page of them is the heaviest page there
can be. Links carry tracking parameters, which must reach no reader.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from aggregator import limits
from aggregator.config import parse_config
from aggregator.model import Config
from tests.feedserver import FeedServer

MIB = 1024 * 1024
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TRACKING = "utm_source=rss&utm_medium=feed&utm_campaign=x&fbclid=IwAR0abc&xtor=RSS-3"
#: Items of "pire": more than a feed page (50) and a river page (30) hold.
WORST_ITEMS = 60
#: Grows most when escaped: &#34; in HTML, &quot; in XML attributes, \" in JSON.
HEAVY = '"'


def _date(hours: float) -> str:
    return (NOW - timedelta(hours=hours)).strftime("%a, %d %b %Y %H:%M:%S +0000")


def giant_rss(base: str, *, tags: int = 10_000) -> bytes:
    """RSS 2.0, one attack per item (feedparser compares each tag with every earlier one:
    ``tags`` makes a document it can read quickly)."""
    big_word = "T" * MIB  # one word: no place to cut, nothing for a browser to wrap
    items = [
        f"<title>{big_word}</title><link>{base}/articles/titre?{escape(TRACKING)}</link>",
        "<title>Un auteur démesuré</title><dc:creator>" + "Nom " * (MIB // 16) + "</dc:creator>"
        f"<link>{base}/articles/auteur?{escape(TRACKING)}</link>",
        "<title>Dix mille étiquettes</title>"
        + "".join(f"<category>étiquette {n}</category>" for n in range(tags))
        + "<category>" + "e" * 100_000 + "</category>"
        + f"<link>{base}/articles/etiquettes?utm_source=x</link>",
        "<title>Un résumé géant</title><description>"
        + escape("<p>" + "Un paragraphe de résumé qui n'en finit pas. " * 40 + "</p>") * 500
        + f"</description><link>{base}/articles/resume</link>",
        "<title>Un contenu géant</title><description>Court.</description><content:encoded>"
        + escape("<div><p>Contenu " + "très long " * 50 + "</p>") * 2000
        + f"</content:encoded><link>{base}/articles/contenu#utm_source=x</link>",
        "<title>Des adresses d'image démesurées</title>"
        f'<enclosure url="{base}/{"i" * (MIB // 4)}.jpg" type="image/jpeg" length="1"/>'
        f'<media:thumbnail url="{base}/{"m" * (MIB // 4)}.jpg"/><link>{base}/articles/image</link>',
        f"<title>Un lien démesuré</title><link>{base}/{'l' * (MIB // 4)}</link>",
    ]
    body = "".join(
        f'<item>{item}<guid isPermaLink="false">geant-{n}</guid><pubDate>{_date(n + 1)}</pubDate></item>'
        for n, item in enumerate(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<channel><title>{'Géant ' * 50_000}</title><link>{base}/</link>"
        f"<description>{'Une description démesurée. ' * 40_000}</description>{body}</channel></rss>"
    ).encode()


def giant_atom(base: str) -> bytes:
    """Atom, with literal text titles full of markup characters and a giant HTML summary."""
    entries = [
        ("<&\"' " * (MIB // 5), "Auteur " * 1000, f"{base}/atom/1?{TRACKING}", "<p>Texte.</p>" * 30_000),
        ("Titre ordinaire d'un article Atom", "X" * (MIB // 4), f"{base}/atom/2?{TRACKING}", "<p>Court.</p>"),
    ]
    body = "".join(
        f"<entry><id>urn:atome:{n}</id><title type=\"text\">{escape(title)}</title>"
        f"<author><name>{escape(author)}</name></author><link href={quoteattr(link)}/>"
        f"<updated>{(NOW - timedelta(hours=n + 2)).isoformat()}</updated>"
        + "".join(f'<category term="atome-{k}"/>' for k in range(10_000))
        + f'<summary type="html">{escape(summary)}</summary></entry>'
        for n, (title, author, link, summary) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">'
        f"<title>Atome</title><id>urn:atome</id><updated>{NOW.isoformat()}</updated>{body}</feed>"
    ).encode()


def giant_json_feed(base: str) -> bytes:
    item = {
        "id": "json-1", "url": f"{base}/json/1?{TRACKING}", "title": "J" * MIB,
        "authors": [{"name": f"Auteur {n}"} for n in range(10_000)], "tags": [f"tag{n}" for n in range(10_000)],
        "summary": "Résumé. " * (MIB // 32), "content_html": "<p>Contenu.</p>" * 30_000,
        "image": f"{base}/{'j' * 65_536}.png", "language": "fr-" + "abcdefgh-" * 1000 + "x",
        "date_published": (NOW - timedelta(hours=3)).isoformat(),
    }
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Jason", "items": [item]}).encode()


def worst_json_feed(base: str) -> bytes:
    """Items whose every field is exactly at its limit, in the heaviest characters."""
    url_path = HEAVY * (limits.MAX_URL_LENGTH - len(base) - 20)
    items = [
        {
            "id": f"pire-{n}",
            "url": f"{base}/p{n:04d}/{url_path}"[: limits.MAX_URL_LENGTH],
            "title": (f"{n:04d}" + HEAVY * limits.MAX_TITLE_LENGTH)[: limits.MAX_TITLE_LENGTH],
            "authors": [{"name": HEAVY * limits.MAX_AUTHOR_LENGTH}],
            "tags": [f"{k:02d}" + HEAVY * (limits.MAX_TAG_LENGTH - 2) for k in range(limits.MAX_TAGS)],
            # Plain text: escaped to &quot; it just fits the summary's HTML limit.
            "summary": HEAVY * ((limits.MAX_SUMMARY_HTML - 7) // 6),
            "content_html": "<p>" + "&quot;" * ((limits.MAX_SUMMARY_HTML - 7) // 6) + "</p>",
            "language": "fr",
            "date_published": (NOW - timedelta(minutes=n + 1)).isoformat(),
        }
        for n in range(WORST_ITEMS)
    ]
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "Pire", "items": items}).encode()


def mastodon_account() -> dict[str, object]:
    return {"id": "666", "acct": "geant", "username": "geant", "display_name": "D" * (MIB // 4),
            "url": "https://masto.example/@geant", "note": "<p>" + "Note. " * 5_000 + "</p>"}


def mastodon_statuses(base: str) -> list[dict[str, object]]:
    account = mastodon_account()
    return [
        {
            "id": str(900 + n), "uri": f"https://masto.example/users/geant/statuses/{900 + n}",
            "url": f"https://masto.example/@geant/{900 + n}?{TRACKING}", "created_at": (NOW - timedelta(hours=4 + n)).isoformat(),
            "visibility": "public", "language": "fr", "in_reply_to_id": None, "reblog": None,
            "spoiler_text": "Avertissement " * 2_000, "content": "<p>" + "Pouet " * (MIB // 24) + "</p>",
            "account": account, "tags": [{"name": f"pouet{k}"} for k in range(10_000)],
            "media_attachments": [{"type": "image", "url": f"{base}/{'u' * 65_536}.png",
                                   "preview_url": f"{base}/{'p' * 65_536}.png", "description": "Alt " * 5_000}],
            "card": {"url": f"{base}/carte?{TRACKING}", "title": "Carte " * 5_000, "image": f"{base}/{'c' * 65_536}.png"},
        }
        for n in range(2)
    ]


def bluesky_feed(base: str) -> dict[str, object]:
    did = "did:plc:geantgeantgeant"
    return {"feed": [
        {"post": {
            "uri": f"at://{did}/app.bsky.feed.post/3kgeant{n}", "cid": "bafy" + "c" * 10_000,
            "author": {"did": did, "handle": "geant.bsky.social", "displayName": "B" * (MIB // 4)},
            "record": {"text": "Bavard " * 50_000, "createdAt": (NOW - timedelta(hours=6 + n)).isoformat(),
                       "langs": ["fr"], "tags": [f"ciel{k}" for k in range(10_000)]},
            "embed": {"$type": "app.bsky.embed.external#view", "external": {
                "uri": f"{base}/bsky?{TRACKING}", "title": "Carte " * 5_000, "description": "Desc " * 5_000,
                "thumb": f"{base}/{'t' * 65_536}.jpg"}},
        }}
        for n in range(2)
    ]}


def serve(server: FeedServer) -> None:
    """Put every hostile feed and fediverse answer on the feed server."""
    base = server.base_url
    server.add("/geant.xml", giant_rss(base), content_type="application/rss+xml")
    server.add("/atome.xml", giant_atom(base), content_type="application/atom+xml")
    server.add("/jason.json", giant_json_feed(base), content_type="application/feed+json")
    server.add("/pire.json", worst_json_feed(base), content_type="application/feed+json")
    server.add_json("/api/v1/accounts/lookup", mastodon_account())
    server.add_json("/api/v1/accounts/666/statuses", mastodon_statuses(base))
    server.add_json("/xrpc/com.atproto.identity.resolveHandle", {"did": "did:plc:geantgeantgeant"})
    server.add_json("/xrpc/app.bsky.feed.getAuthorFeed", bluesky_feed(base))


SLUGS = ("geant", "atome", "jason", "pire", "pouet", "ciel")


def config(server: FeedServer) -> Config:
    host = f"{server.host}:{server.port}"
    return parse_config(
        "sources:\n"
        f"  - name: Géant\n    slug: geant\n    url: {server.url('/geant.xml')}\n    language: fr\n"
        f"  - name: Atome\n    slug: atome\n    url: {server.url('/atome.xml')}\n"
        f"  - name: Jason\n    slug: jason\n    url: {server.url('/jason.json')}\n"
        f"  - name: Pire\n    slug: pire\n    url: {server.url('/pire.json')}\n    tags: [pire]\n"
        f"  - name: Pouet\n    slug: pouet\n    kind: mastodon\n    account: \"@geant@{host}\"\n"
        f"    url: {server.url('/@geant')}\n"
        "  - name: Ciel\n    slug: ciel\n    kind: bluesky\n    handle: geant.bsky.social\n"
        f"settings:\n  bluesky_appview: {server.base_url}\n",
        "hostile-sources.yaml",
    )
