"""A local feed server and a real crawl of it, for the browser tests and the benchmark.

The feeds are the project's own fixtures, written here: a busy SPIP-like RSS feed, an
Atom feed republishing one of its stories, a hostile feed, and a feed that is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from aggregator.model import Config, SourceConfig

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

HOSTILE_ITEM = (
    "<item><title>&lt;script&gt;alert('titre')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; Un titre piégé</title>"
    "<link>javascript:alert('lien')</link><guid isPermaLink=\"false\">evil-1</guid>"
    "<author>x@example.org (&lt;svg onload=alert(2)&gt;)</author>"
    "<description>" + escape(
        '<p onmouseover="alert(3)">Texte <a href="javascript:alert(4)">lien</a></p>'
        '<script>alert(5)</script><iframe src="http://evil.example/frame"></iframe>'
        '<svg><script>alert(6)</script></svg><img src="http://evil.example/pixel.png" onerror="alert(7)">'
        '<style>body{display:none}</style><form action="http://evil.example/"><input name=x></form>'
        '<a href="http://evil.example/ok">un lien vers ailleurs</a>'
    ) + "</description><pubDate>" + format_datetime(START - timedelta(days=4), usegmt=True) + "</pubDate></item>"
)


def rss(title: str, base: str, items: list[str]) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>{base}/</link><description>{escape(title)}</description>{''.join(items)}</channel></rss>")


def rss_item(guid: str, title: str, text: str, published: datetime, link: str, tags: tuple[str, ...] = ()) -> str:
    cats = "".join(f"<category>{escape(t)}</category>" for t in tags)
    return (f"<item><title>{escape(title)}</title><link>{escape(link)}</link><guid isPermaLink=\"false\">{guid}</guid>"
            f"<description>{escape('<p>' + escape(text) + '</p>')}</description>{cats}"
            f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate></item>")


def feeds(base: str) -> dict[str, tuple[str, str]]:
    """path -> (content type, body)."""
    busy = [
        rss_item(f"pl-{i}", f"Grève des loyers : assemblée numéro {i} dans le quartier",
                 f"Compte rendu {i} de l'assemblée des locataires en grève, rue des Lilas.",
                 START - timedelta(hours=3 * i), f"https://paris-luttes.example/article{i}", ("logement",))
        for i in range(40)
    ]
    busy.append(rss_item("pl-shared", "Expulsion du squat de la rue des Lilas ce matin",
                         "Les habitants ont été expulsés à l'aube.", START + timedelta(minutes=30),
                         "https://paris-luttes.example/expulsion"))
    atom_entries = [
        f"<entry><id>urn:rl:{i}</id><title>Manifestation lyonnaise pour le climat, épisode {i}</title>"
        f"<link href=\"https://rebellyon.example/m{i}\"/><updated>{(START - timedelta(hours=5 * i)).isoformat()}</updated>"
        f"<summary type=\"html\">{escape('<p>Rendez-vous place Bellecour, <em>épisode</em> ' + str(i) + '.</p>')}</summary></entry>"
        for i in range(5)
    ]
    atom_entries.append(
        "<entry><id>urn:rl:shared</id><title>Expulsion du squat de la rue des lilas ce matin !</title>"
        f"<link href=\"https://rebellyon.example/expulsion\"/><updated>{(START + timedelta(minutes=50)).isoformat()}</updated>"
        "<summary>Repris de Paris-luttes.</summary></entry>")
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">'
            f"<title>Rebellyon</title><id>urn:rl</id><updated>{START.isoformat()}</updated>"
            f'<link href="{base}/"/>' + "".join(atom_entries) + "</feed>")
    return {
        "/paris-luttes.xml": ("application/rss+xml", rss("Paris-luttes.info", base, busy)),
        "/rebellyon.atom": ("application/atom+xml", atom),
        "/piege.xml": ("application/rss+xml", rss("Piège", base, [HOSTILE_ITEM])),
    }


def config(base: str) -> Config:
    return Config(sources=(
        SourceConfig(slug="paris-luttes", name="Paris-luttes.info", kind="feed", url=f"{base}/paris-luttes.xml",
                     language="fr", tags=("paris",), website="https://paris-luttes.example/",
                     description="Site coopératif d'infos et de luttes Paris banlieue",
                     mastodon="@paris_luttes@mastodon.example", bluesky="paris-luttes.bsky.social"),
        SourceConfig(slug="rebellyon", name="Rebellyon", kind="feed", url=f"{base}/rebellyon.atom", language="fr",
                     tags=("lyon",), website="https://rebellyon.example/"),
        SourceConfig(slug="piege", name="Source piégée", kind="feed", url=f"{base}/piege.xml", language="fr"),
        SourceConfig(slug="disparu", name="Un média disparu", kind="feed", url=f"{base}/gone.xml", language="fr",
                     description="Son flux a disparu : la page des sources le dit en clair."),
    ))


def feed_app(base_holder: list[str]) -> web.Application:
    """Serves ``feeds(base)``; anything else is a 404 (the ``disparu`` source)."""

    async def handle(request: web.Request) -> web.Response:
        served = feeds(base_holder[0])
        if request.path not in served:
            raise web.HTTPNotFound()
        ctype, body = served[request.path]
        return web.Response(text=body, content_type=ctype)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    return app


async def crawl(store, cfg: Config) -> dict[str, float | int]:  # type: ignore[no-untyped-def]
    """One real crawl pass over the loopback feeds (the lead's crawler, fetch and parse)."""
    from aggregator.fetch.client import HttpClient
    from aggregator.update.crawler import Crawler
    from aggregator.update.readers import FeedParser, SourceReader

    store.sources.sync(cfg.sources)
    async with HttpClient(user_agent="aggregator-tests", allow_private=True, per_host_delay=0) as http:
        report = await Crawler(store, cfg, SourceReader(http, FeedParser(None), cfg.settings)).crawl(every=True)
    return report.as_json()
