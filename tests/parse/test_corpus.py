"""Acceptance over the shared real-world corpus: parse_feed against feedparser as the reference.

For every file under ``corpus/feeds/**`` and ``corpus/mastodon/rss/``:

* nothing but ``ParseError`` ever escapes ``parse_feed``;
* where feedparser (default settings: its own sanitizer, URI resolution) reads the file
  (``bozo == 0`` or it yields entries), parse_feed yields at least the same entries, with
  the same links and titles; entries repeating an earlier GUID are merged by us on purpose,
  links lose their tracking parameters and titles are cut at ``limits.MAX_TITLE_LENGTH``;
* no stored HTML holds a script, an iframe, an event handler or a ``javascript:`` URL;
* MANIFEST kinds that are not feeds (HTML pages, RSS-in-JSON, invalid JSON) raise ParseError.

The corpus files are read in place (never copied); the module skips when it is absent.
"""

from __future__ import annotations

import collections
import csv
import io
import re
from pathlib import Path

import feedparser
import pytest

from aggregator import limits
from aggregator.errors import ParseError
from aggregator.model import ParsedFeed
from aggregator.parse.build import fit
from aggregator.parse.feed import parse_feed
from aggregator.parse.identity import strip_tracking
from aggregator.parse.sanitize import is_http_url, plain_title
from tests.conftest import CORPUS

URL = "https://corpus.example/feed"
_HEADER = re.compile(rb"^Header:\s*([\w-]+):\s*(.+?)\s*$", re.MULTILINE)
_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"""=\s*["']?\s*(?:javascript|vbscript|data):""", re.IGNORECASE)
NOT_FEEDS = {"html-not-a-feed", "json-feedlike-no-version", "json-invalid"}


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    found = [p for p in (CORPUS / "feeds").rglob("*") if p.is_file()]
    found += [p for p in (CORPUS / "mastodon" / "rss").glob("*") if p.is_file()]
    return sorted(found)


def _kinds() -> dict[str, str]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    with manifest.open(encoding="utf-8", newline="") as handle:
        return {row["file"]: row["kind"] for row in csv.DictReader(handle, delimiter="\t")}


FILES = _files()
KINDS = _kinds()
pytestmark = pytest.mark.skipif(not FILES, reason=f"shared corpus not found at {CORPUS} (../shared/corpus)")
#: Outcomes collected by the per-file tests, summarized by the last test of the module.
OUTCOMES: collections.Counter[str] = collections.Counter()


def _name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


def _content_type(body: bytes) -> str | None:
    """feedparser's test files announce their HTTP headers in a leading XML comment."""
    head = body[:2000]
    if b"<!--" not in head:
        return None
    headers = {k.decode().lower(): v.decode("latin-1") for k, v in _HEADER.findall(head)}
    return headers.get("content-type")


def _assert_safe(parsed: ParsedFeed, name: str) -> None:
    for entry in parsed.entries:
        for field in (entry.summary, entry.content):
            lowered = field.lower()
            assert "<script" not in lowered, name
            assert "<iframe" not in lowered, name
            for tag in _TAG.findall(field):
                assert not _HANDLER.search(tag), (name, tag)
                assert not _JS_URL.search(tag), (name, tag)
        for url in (entry.url, entry.image):
            assert url is None or is_http_url(url), (name, url)


def _reference(body: bytes, content_type: str | None) -> list[dict[str, object]] | None:
    """feedparser's entries with something to show, or None when it cannot read the file."""
    headers = {"content-location": URL}
    if content_type:
        headers["content-type"] = content_type
    result = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if result.get("bozo") and not result.get("entries"):
        return None
    return [
        e
        for e in result.get("entries", [])
        if e.get("title") or is_http_url(e.get("link")) or e.get("summary")
        or any(c.get("value") for c in e.get("content") or ())
    ]


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_corpus_file(path: Path) -> None:
    name = _name(path)
    body = path.read_bytes()
    content_type = _content_type(body)
    kind = KINDS.get(name, "")
    try:
        parsed = parse_feed(body, url=URL, content_type=content_type)
    except ParseError as error:
        assert error.url == URL
        OUTCOMES["parse_error"] += 1
        if kind in NOT_FEEDS or "/illformed/" in f"/{name}":
            return
        reference = _reference(body, content_type) if not name.endswith(".json") else None
        assert not reference, f"{name}: ParseError ({error}) but feedparser reads {len(reference or [])} entries"
        assert kind not in ("jsonfeed-1.0", "jsonfeed-1.1"), f"{name}: {error}"
        return
    OUTCOMES["parsed"] += 1
    assert kind not in NOT_FEEDS, f"{name} is not a feed ({kind}) but parsed"
    _assert_safe(parsed, name)
    if "/illformed/" in f"/{name}" or kind.startswith("json"):
        return
    reference = _reference(body, content_type)
    if reference is None:
        return
    OUTCOMES["compared"] += 1
    ids = collections.Counter(e.get("id") for e in reference)
    expected = len({e.get("id") or e.get("link") or str(n) for n, e in enumerate(reference)})
    assert len(parsed.entries) >= expected, f"{name}: {len(parsed.entries)} entries, feedparser {expected}"
    titles = {" ".join(e.title.split()) for e in parsed.entries}
    links = {e.url for e in parsed.entries}
    for entry in reference:
        if entry.get("id") and ids[entry.get("id")] > 1:
            continue  # a repeated GUID: we keep its first entry only
        title = entry.get("title")
        if title:
            # Atom text titles are literal for us; feedparser's are sanitized HTML.
            candidates = {plain_title(title), " ".join(title.split())}
            assert {fit(t, limits.MAX_TITLE_LENGTH) for t in candidates} & titles, f"{name}: {title!r}"
        link = entry.get("link")
        if is_http_url(link):
            assert strip_tracking(link) in links, f"{name}: {link}"
    OUTCOMES["agree"] += 1


def test_corpus_summary() -> None:
    """Prints the agreement figure (run with ``-s``); every compared file must agree."""
    if not OUTCOMES:
        pytest.skip("run together with test_corpus_file")
    share = 100.0 * OUTCOMES["agree"] / max(OUTCOMES["compared"], 1)
    print(
        f"\ncorpus: {len(FILES)} files, {OUTCOMES['parsed']} parsed, {OUTCOMES['parse_error']} ParseError;"
        f" {OUTCOMES['agree']}/{OUTCOMES['compared']} files read by feedparser give the same entries"
        f" ({share:.1f}%)"
    )
    assert OUTCOMES["agree"] == OUTCOMES["compared"]
