"""Fuzzing: whatever the bytes, parse_feed returns a ParsedFeed or raises ParseError."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import ParseError
from aggregator.model import ParsedFeed
from aggregator.parse.discovery import discover_feeds
from aggregator.parse.feed import parse_feed

DATA = Path(__file__).parent / "data"
SEEDS = [p.read_bytes() for p in sorted(DATA.glob("*.xml")) + sorted(DATA.glob("*.json")) if not p.name.endswith(".expected.json")]
FUZZ = settings(max_examples=int(os.environ.get("PARSE_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse(body: bytes, content_type: str | None = None) -> None:
    try:
        result = parse_feed(body, url="https://fuzz.example/feed", content_type=content_type)
    except ParseError:
        return
    assert isinstance(result, ParsedFeed)
    for entry in result.entries:
        assert "<script" not in entry.summary.lower() and "<script" not in entry.content.lower()


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([None, "application/rss+xml", "text/xml; charset=utf-16", "text/plain; charset=bogus"]))
def test_random_bytes(body: bytes, content_type: str | None) -> None:
    _parse(body, content_type)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A real fixture with slices deleted, bytes flipped or markup spliced in."""
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["delete", "flip", "insert", "truncate"]))
        if action == "delete":
            del body[at : at + draw(st.integers(1, 50))]
        elif action == "flip":
            body[at] = draw(st.integers(0, 255))
        elif action == "insert":
            body[at:at] = draw(st.sampled_from([b"<", b"]]>", b"&bogus;", b"<![CDATA[", b"\x00", b"\xff\xfe", b"<script>", b'"', b"<item>", b"</channel>", b"{", b"&#0;", b"&#xD800;"]))
        else:
            del body[at:]
    return bytes(body)


@FUZZ
@given(_mutated())
def test_mutated_feeds(body: bytes) -> None:
    _parse(body)


@FUZZ
@given(st.text(max_size=500))
def test_discovery_never_raises(text: str) -> None:
    assert isinstance(discover_feeds(("<html><head>" + text).encode("utf-8", "surrogatepass"), url="https://fuzz.example/"), list)
