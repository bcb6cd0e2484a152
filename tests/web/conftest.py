"""Fixtures for the web tests: a store filled through decide + save, hostile content included."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from aggregator.index import SearchRequest
from aggregator.model import Config, EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.parse.sanitize import html_to_text, sanitize_html
from aggregator.store import Store
from aggregator.webapp import create_app
from tests.building import store_entries

#: Written into titles, authors and URLs: none of it may reach the page unescaped.
HOSTILE_TITLE = '<script>alert("t")</script><img src=x onerror=alert(1)><svg onload=alert(2)>Titre piégé'
HOSTILE_AUTHOR = '"><iframe src="javascript:alert(3)"></iframe>'
HOSTILE_URL = "javascript:alert(4)"
#: Raw summary HTML from a hostile feed; the crawler sanitizes it before storing.
HOSTILE_SUMMARY = (
    '<p onclick="alert(5)">Texte <a href="javascript:alert(6)">lien</a> '
    '<a href="https://exemple.org/ok">bon lien</a></p><script>alert(7)</script>'
    '<iframe src="https://evil.example/"></iframe><svg><script>alert(8)</script></svg>'
    '<img src="https://evil.example/pixel.png" onerror="alert(9)"><style>body{display:none}</style>'
)

SOURCES = (
    SourceConfig(
        slug="paris-luttes", name="Paris-luttes.info", kind="feed", url="https://paris-luttes.info/home/backend.xml",
        language="fr", tags=("paris", "luttes"), website="https://paris-luttes.info/",
        description="Site coopératif d'infos et de luttes Paris banlieue", mastodon="@paris_luttes@mastodon.social",
        bluesky="paris-luttes.bsky.social",
    ),
    SourceConfig(
        slug="rebellyon", name="Rebellyon", kind="feed", url="https://rebellyon.info/backend.xml",
        language="fr", tags=("lyon",), website="https://rebellyon.info/", relay=False,
    ),
    SourceConfig(
        slug="english-zine", name="An English zine", kind="feed", url="https://zine.example/feed.xml",
        language="en", tags=("world",),
    ),
    SourceConfig(slug="piege", name="Source <b>piégée</b>", kind="feed", url="https://piege.example/rss",
                 description='<script>alert("desc")</script>', language="fr"),
)


def make_entry(guid: str, title: str, text: str = "", *, url: str | None = None, summary: str | None = None,
               **kw: Any) -> EntryData:
    raw = summary if summary is not None else f"<p>{text or title}</p>"
    clean = sanitize_html(raw, "https://example.org/")
    plain = html_to_text(clean)
    return EntryData(guid=guid, url=url if url is not None else f"https://example.org/{guid}", title=title,
                     summary=clean, text=plain, content_hash=content_hash(title, plain), **kw)


def save(store: Store, source: str, entries: list[EntryData]) -> int:
    config = next(s for s in SOURCES if s.slug == source)
    return store_entries(store, config, entries, targets=("mastodon",)).new


def fill(store: Store, clock: Any, *, river_size: int = 45) -> None:
    """Sources with a shared story, many items (two pages), a failing source and hostile input."""
    store.sources.sync(SOURCES)
    base = clock()
    for i in range(river_size):
        clock.now = base - timedelta(hours=river_size - i)
        save(store, "paris-luttes", [make_entry(
            f"pl-{i}", f"Article numéro {i} sur la grève des loyers à Paris", f"Texte {i} grève",
            published=clock.now, tags=("logement",))])
    clock.now = base - timedelta(minutes=30)
    save(store, "paris-luttes", [make_entry("shared-pl", "Expulsion du squat de la rue des Lilas ce matin",
                                            "Un texte commun", published=clock.now)])
    clock.now = base - timedelta(minutes=20)
    save(store, "rebellyon", [make_entry("shared-rl", "Expulsion du squat de la rue des lilas ce matin !",
                                         "Un texte commun", url="https://rebellyon.info/expulsion", published=clock.now)])
    clock.now = base - timedelta(minutes=10)
    save(store, "english-zine", [make_entry("en-1", "Rent strike spreads across the city", "Tenants organise",
                                            published=clock.now, tags=("housing",))])
    clock.now = base - timedelta(minutes=5)
    save(store, "piege", [make_entry("evil", HOSTILE_TITLE, url=HOSTILE_URL, summary=HOSTILE_SUMMARY,
                                     author=HOSTILE_AUTHOR, published=clock.now, tags=("<b>tag</b>", "a/b"))])
    clock.now = base
    store.sources.record_success("paris-luttes", now=base, next_fetch=base + timedelta(minutes=30))
    store.sources.record_failure("rebellyon", now=base, error="HTTP 404 Not Found", next_fetch=base + timedelta(hours=1))
    store.sources.record_failure("english-zine", now=base, error="connect timeout after 10 s",
                                 next_fetch=base + timedelta(hours=1))
    store.sources.refresh_item_counts()


class FakeIndex:
    """A stand-in with the shape of ``aggregator.index.SearchReader`` (a seam, for unit tests).

    It matches words against titles and texts of the store, and raises the real
    ``SearchQueryError`` on an unbalanced quote, as the real query parser does.
    """

    def __init__(self, store: Store):
        self.store = store
        self.calls: list[dict[str, Any]] = []

    def ping(self) -> bool:
        return True

    def search(self, request: SearchRequest) -> Any:
        from types import SimpleNamespace

        from aggregator.errors import SearchQueryError

        self.calls.append(dataclasses.asdict(request))
        query, source, tag, lang = request.query, request.source, request.tag, request.lang
        offset, limit = request.offset, request.limit
        if query.count('"') % 2:
            raise SearchQueryError("unbalanced quote in the query")
        words = query.lower().split()
        hits = []
        for e in self.store.entries.newest(source=source, tag=tag, language=lang, limit=10_000, exclude=request.exclude):
            hay = f"{e.title} {e.text}".lower()
            if all(w in hay for w in words):
                snippet = e.text.replace(words[0], f"<b>{words[0]}</b>") if words else e.text
                hits.append(SimpleNamespace(id=e.id, source=e.source, url=e.url, title=e.title,
                                            published=e.published, score=1.0, snippet=snippet))
        return SimpleNamespace(hits=hits[offset:offset + limit], total=len(hits), query=query, total_capped=False)


@pytest.fixture
def config() -> Config:
    return Config(sources=SOURCES)


@pytest.fixture
def filled(store: Store, clock: Any) -> Store:
    fill(store, clock)
    return store


@pytest.fixture
def make_client(aiohttp_client: Any, config: Config, clock: Any) -> Callable[..., Any]:
    async def make(store: Store, index: Any = None, *, base_url: str | None = None) -> Any:
        return await aiohttp_client(create_app(store=store, config=config, index=index, clock=clock, base_url=base_url))

    return make


@pytest.fixture
def free_port_url() -> str:
    """A PostgreSQL URL where nothing listens: a database that is down."""
    from tests.conftest import free_port

    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone?connect_timeout=2"
