"""Acceptance: crawl every real-world feed of ../shared/corpus served from loopback.

For each well-formed file, the entries feedparser itself finds must be stored (at least
95 % over the corpus, duplicates within one feed counted once by us); no stored HTML may
carry script; ill-formed files fail cleanly or parse, and never stop the pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import feedparser
import pytest

from aggregator.model import Config, SourceConfig
from aggregator.store import Store
from tests.conftest import CORPUS, FrozenClock
from tests.feedserver import FeedServer

from .helpers import crawler

FOLDERS = [CORPUS / "feeds", CORPUS / "mastodon" / "rss"]
HEADER = re.compile(rb"^\s*Header:\s*([A-Za-z-]+):\s*(.+?)\s*$", re.MULTILINE)
TAG = re.compile(r"<[^>]*>")
#: What must never survive sanitizing, looked for inside tags (the text may *mention* it).
DANGER = re.compile(r"^<(script|iframe|object|embed|form|style|svg)\b|\son\w+\s*=|javascript:|vbscript:|data:text/html", re.I)


def corpus_files() -> list[Path]:
    return sorted(p for folder in FOLDERS if folder.is_dir() for p in folder.rglob("*") if p.is_file())


def served_headers(body: bytes) -> dict[str, str]:
    """feedparser's test files carry the HTTP headers they expect in a leading comment."""
    head = body[:2000]
    headers = {}
    if b"<!--" in head:
        for name, value in HEADER.findall(head.split(b"-->")[0]):
            headers[name.decode().title()] = value.decode("latin-1")
    return headers


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "feeds").is_dir(), reason=f"the shared corpus is absent ({CORPUS / 'feeds'})")
async def test_crawl_the_whole_corpus(tmp_path: Path, clock: FrozenClock) -> None:
    # SQLite only: storage is covered on both backends elsewhere; this is about parsing
    store = Store(f"sqlite:///{tmp_path / 'corpus.sqlite3'}", clock=clock)
    store.upgrade()
    files = corpus_files()
    assert len(files) > 200
    expected: dict[str, int] = {}
    sources = []
    async with FeedServer() as server:
        for n, path in enumerate(files):
            body = path.read_bytes()
            headers = served_headers(body)
            content_type = headers.pop("Content-Type", "application/xml")
            headers = {k: v for k, v in headers.items() if k in ("Etag", "Last-Modified", "Content-Location")}
            route = f"/f{n}"
            server.add(route, body, content_type=content_type, headers=headers)
            slug = f"f{n}"
            sources.append(SourceConfig(slug=slug, name=path.name, kind="feed", url=server.url(route)))
            parsed = feedparser.parse(body, response_headers={"content-type": content_type})
            if not parsed.bozo:
                # an entry with no title, link or text has nothing to show a reader: not stored
                expected[slug] = sum(1 for e in parsed.entries if e.get("title") or str(e.get("link", "")).startswith("http") or e.get("summary") or e.get("content"))
        config = Config(sources=tuple(sources))
        async with crawler(store, config) as c:
            report = await c.crawl(every=True)

    assert report.as_json()["sources"] == len(files)
    states = {s.slug: s for s in store.sources.states()}
    stored = {slug: store.entries.count(source=slug) for slug in states}
    short = {files[int(slug[1:])].name: (stored[slug], want) for slug, want in expected.items() if stored[slug] < want}
    total_expected = sum(expected.values())
    total_stored = sum(min(stored[slug], want) for slug, want in expected.items())
    ratio = total_stored / total_expected
    print(f"corpus: {len(files)} files, {len(expected)} well-formed, {total_stored}/{total_expected} entries stored ({ratio:.1%})")
    assert ratio >= 0.95, f"stored {ratio:.1%} of feedparser's entries; short: {short}"
    # every well-formed file with entries gave us something
    # (a feed wrapped inside an XHTML page is refused as an HTML page, in words)
    empty = [files[int(s[1:])].name for s, want in expected.items()
             if want and not stored[s] and "HTML page" not in (states[s].last_error or "")]
    assert not empty, empty
    for entry in store.entries.newest(limit=100_000):
        for tag in TAG.findall(entry.summary + entry.content):
            assert not DANGER.search(tag), (files[int(entry.source[1:])].name, tag)
    # every failure is recorded in words where the operator sees it
    for slug, state in states.items():
        if state.status == "failing":
            assert state.last_error, slug
