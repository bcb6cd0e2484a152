"""Our own fixture feeds against the expected results written beside them (``NAME.expected.json``).

Each expectation lists only the fields it cares about; ``absent`` strings must not occur in
any entry's summary or content (hostile markup), ``*_contains`` must occur.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aggregator.errors import ParseError
from aggregator.model import EntryData, ParsedFeed, to_iso
from aggregator.parse.feed import parse_feed

DATA = Path(__file__).parent / "data"
CASES = sorted(p for p in DATA.iterdir() if p.is_file() and not p.name.endswith(".expected.json"))
ENTRY_FIELDS = ("guid", "url", "title", "author", "text", "language", "image", "summary", "content", "kind")


def _expected(path: Path) -> dict[str, Any]:
    return json.loads((DATA / (path.stem + ".expected.json")).read_text(encoding="utf-8"))


def _check_entry(entry: EntryData, expected: dict[str, Any]) -> None:
    for name in ENTRY_FIELDS:
        if name in expected:
            assert getattr(entry, name) == expected[name], name
    for name in ("published", "updated"):
        if name in expected:
            assert to_iso(getattr(entry, name)) == expected[name], name
    if "tags" in expected:
        assert list(entry.tags) == expected["tags"]
    for needle in expected.get("summary_contains", ()):
        assert needle in entry.summary
    for needle in expected.get("content_contains", ()):
        assert needle in entry.content
    for needle in expected.get("absent", ()):
        assert needle not in entry.summary and needle not in entry.content, needle
    # Invariants of every entry, whatever the fixture.
    assert entry.kind == "article"
    assert entry.content_hash and len(entry.content_hash) == 32
    for date in (entry.published, entry.updated):
        assert date is None or date.utcoffset() is not None


def test_every_fixture_has_an_expectation() -> None:
    assert CASES, "no fixtures found"
    for path in CASES:
        assert (DATA / (path.stem + ".expected.json")).is_file(), path.name


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_fixture(path: Path) -> None:
    expected = _expected(path)
    body = path.read_bytes()
    kwargs = {"url": expected["url"], "content_type": expected.get("content_type")}
    if "error" in expected:
        with pytest.raises(ParseError) as caught:
            parse_feed(body, **kwargs)
        assert expected["message_contains"] in str(caught.value)
        assert caught.value.url == expected["url"]
        return
    parsed = parse_feed(body, **kwargs)
    assert isinstance(parsed, ParsedFeed)
    for name, value in expected.get("feed", {}).items():
        assert getattr(parsed.feed, name) == value, f"feed.{name}"
    assert len(parsed.entries) == len(expected["entries"])
    assert len({e.guid for e in parsed.entries}) == len(parsed.entries)
    for entry, wanted in zip(parsed.entries, expected["entries"], strict=True):
        _check_entry(entry, {**wanted, "absent": [*wanted.get("absent", ()), *expected.get("absent", ())]})
    for needle in expected.get("absent", ()):
        assert needle not in (parsed.feed.title or "") + (parsed.feed.description or "")
