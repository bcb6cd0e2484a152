"""Parse throughput: ``parse_feed`` against plain ``feedparser.parse``, side by side.

Run: ``.venv/bin/python bench/parse.py [--files N] [--generated N] [--rounds R]``. Two sets
of documents: the corpus' biggest RSS/Atom/RDF/SPIP feeds, and the crawl benchmark's
generated SPIP-like feeds (``bench.crawl.make_feed``). For each set, one JSON line per
parser: feeds/s, MB/s and entries/s over the same documents. ``parse_feed`` runs with
``engine="auto"`` (the lxml fast path when it is sure, else feedparser) and with
``engine="feedparser"`` (the reference path); ``fast_share`` is the share of documents the
fast path took. Not a test: timings depend on the machine.
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

from aggregator.parse.fast import FastPathDeclined  # noqa: E402
from aggregator.parse.feed import parse_feed  # noqa: E402
from bench.crawl import make_feed  # noqa: E402


def _biggest(count: int) -> list[Path]:
    files = [p for d in ("rss", "atom", "rdf", "spip") for p in (CORPUS / d).glob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_size, reverse=True)[:count]


def _measure(name: str, parse: Callable[[bytes], int], bodies: list[bytes], rounds: int, documents: str) -> dict[str, object]:
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
        "documents": documents,
        "parser": name,
        "feeds": feeds,
        "avg_kb": round(size / feeds / 1024, 1),
        "seconds": round(seconds, 3),
        "feeds_per_s": round(feeds / seconds, 2),
        "mb_per_s": round(size / seconds / 1e6, 2),
        "entries_per_s": round(entries / seconds, 1),
    }


def _fast_share(bodies: list[bytes], url: str) -> float:
    taken = 0
    for body in bodies:
        try:
            parse_feed(body, url=url, engine="fast")
            taken += 1
        except FastPathDeclined:
            pass
    return round(taken / len(bodies), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=8, help="how many of the biggest corpus feeds")
    parser.add_argument("--generated", type=int, default=40, help="how many make_feed() documents")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = "https://example.org/feed"
    sets = {"make_feed": [make_feed(n, 1) for n in range(args.generated)]}
    if CORPUS.is_dir():
        sets["corpus_biggest"] = [p.read_bytes() for p in _biggest(args.files)]
    else:
        print(f"corpus not found at {CORPUS}: generated feeds only", file=sys.stderr)

    def plain(body: bytes) -> int:
        return len(feedparser.parse(io.BytesIO(body), response_headers={"content-location": url}).entries)

    def unsanitized(body: bytes) -> int:
        return len(
            feedparser.parse(
                io.BytesIO(body), response_headers={"content-location": url},
                sanitize_html=False, resolve_relative_uris=False,
            ).entries
        )

    def reference(body: bytes) -> int:
        return len(parse_feed(body, url=url, engine="feedparser").entries)

    def auto(body: bytes) -> int:
        return len(parse_feed(body, url=url).entries)

    parsers = (
        ("feedparser-default", plain),
        ("feedparser-no-sanitize", unsanitized),
        ("parse_feed-feedparser", reference),
        ("parse_feed-auto", auto),
    )
    for documents, bodies in sets.items():
        for name, parse in parsers:
            line = _measure(name, parse, bodies, args.rounds, documents)
            if name == "parse_feed-auto":
                line["fast_share"] = _fast_share(bodies, url)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
