"""Parse throughput: ``parse_feed`` against plain ``feedparser.parse`` on the corpus' big feeds.

Run: ``.venv/bin/python bench/parse.py [--files N] [--rounds R]``. Prints one JSON line per
parser: feeds/s, MB/s and entries/s over the same files, so the figures sit side by side.
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import feedparser

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
sys.path.insert(0, str(ROOT))

from aggregator.parse.feed import parse_feed  # noqa: E402


def _biggest(count: int) -> list[Path]:
    files = [p for d in ("rss", "atom", "rdf", "spip") for p in (CORPUS / d).glob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:count]


def _measure(name: str, parse: Callable[[bytes], int], bodies: list[bytes], rounds: int) -> dict[str, object]:
    entries = 0
    start = time.perf_counter()
    for _ in range(rounds):
        for body in bodies:
            entries += parse(body)
    seconds = time.perf_counter() - start
    feeds = len(bodies) * rounds
    size = sum(len(b) for b in bodies) * rounds
    return {
        "bench": "parse",
        "parser": name,
        "feeds": feeds,
        "avg_kb": round(size / feeds / 1024, 1),
        "seconds": round(seconds, 3),
        "feeds_per_s": round(feeds / seconds, 2),
        "mb_per_s": round(size / seconds / 1e6, 2),
        "entries_per_s": round(entries / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=8, help="how many of the biggest corpus feeds")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS}")
    bodies = [p.read_bytes() for p in _biggest(args.files)]
    url = "https://example.org/feed"

    def plain(body: bytes) -> int:
        return len(feedparser.parse(io.BytesIO(body), response_headers={"content-location": url}).entries)

    def unsanitized(body: bytes) -> int:
        return len(
            feedparser.parse(
                io.BytesIO(body), response_headers={"content-location": url},
                sanitize_html=False, resolve_relative_uris=False,
            ).entries
        )

    def ours(body: bytes) -> int:
        return len(parse_feed(body, url=url).entries)

    for name, parse in (("feedparser-default", plain), ("feedparser-no-sanitize", unsanitized), ("parse_feed", ours)):
        print(json.dumps(_measure(name, parse, bodies, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
