"""Benchmark of the Bluesky feed generator: getFeedSkeleton latency and requests/s beside a ceiling.

Fills a store (default 200,000 posts from 300 sources, through the one write path,
``ingest``): a third of the sources are Bluesky accounts (posts, reposts, replies), the
others sites whose articles the relay posted (their outbox rows marked ``posted`` with an
at:// URI, a tenth left pending or failed), with republished copies sharing stories.
Serves the real app in its own process as ``serve`` builds it (the factory, its 5-second
micro-cache on), and again with the cache off so that every request runs the query, and
drives ``getFeedSkeleton`` with concurrent clients: first pages of four feeds (the network,
a tag, a language, a few sources) and deep pages (cursors 1,000 to 100,000 posts down, the
same few cursors over and over, as many readers paging one feed ask for them). The ceiling
is an aiohttp handler answering a constant 50-post skeleton. Prints ONE JSON line. Not a test.

    .venv/bin/python bench/bluesky_feed.py [--posts 200000] [--sources 300] [--concurrency 8]
                                          [--seconds 5] [--database-url URL] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, web  # noqa: E402
from sqlalchemy import bindparam, select, update  # noqa: E402

from aggregator.factory import Tuning, make_aggregator  # noqa: E402
from aggregator.model import (  # noqa: E402
    BlueskyFeedConfig,
    BlueskyFeedDef,
    BlueskyPublished,
    Config,
    EntryData,
    FeedSelection,
    SourceConfig,
)
from aggregator.settings import Settings  # noqa: E402
from aggregator.store import Store, schema  # noqa: E402
from aggregator.update.ingest import RelayPolicy, ingest  # noqa: E402
from bench.web import drive, free_port, wait_ready  # noqa: E402

RELAY = "did:plc:benchrelaybenchrelaybench"
WORDS = ["grève", "logement", "loyers", "manifestation", "climat", "squat", "expulsion", "assemblée", "quartier",
         "police", "justice", "retraites", "école", "hôpital", "migrants", "frontière", "agriculture", "eau"]


def sources(n: int) -> tuple[SourceConfig, ...]:
    out = []
    for i in range(n):
        common: dict[str, Any] = {"language": "fr" if i % 5 else "en", "tags": (f"region-{i % 12}",)}
        if i % 3 == 0:
            out.append(SourceConfig(slug=f"ciel-{i}", name=f"Média Bluesky {i}", kind="bluesky",
                                    handle=f"media{i}.bsky.social", **common))
        else:
            out.append(SourceConfig(slug=f"site-{i}", name=f"Média {i}", kind="feed", url=f"https://media{i}.example/feed",
                                    bluesky=f"media{i}.bsky.social", **common))
    return tuple(out)


def feed_config(configs: tuple[SourceConfig, ...]) -> BlueskyFeedConfig:
    return BlueskyFeedConfig(feeds=(
        BlueskyFeedDef("reseau", "Réseau"),
        BlueskyFeedDef("region", "Région 3", selection=FeedSelection(tags=("region-3",))),
        BlueskyFeedDef("english", "English", selection=FeedSelection(languages=("en",))),
        BlueskyFeedDef("quelques", "Quelques médias", selection=FeedSelection(sources=tuple(c.slug for c in configs[:10]))),
    ))


def fill(store: Store, configs: tuple[SourceConfig, ...], total: int) -> float:
    started = time.perf_counter()
    rng = random.Random(7)
    store.sources.sync(configs)
    per_source = max(1, total // len(configs))
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    policy = RelayPolicy(("bluesky",), timedelta(days=800))  # every item relay-worthy
    titles: list[str] = []
    for s_index, source in enumerate(configs):
        did = f"did:plc:src{s_index:021d}"
        batch = []
        for j in range(per_source):
            when = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
            if source.kind == "bluesky":
                uri = f"at://{did}/app.bsky.feed.post/{j:013d}"
                roll = rng.random()
                if roll < 0.1:  # a repost of someone's post; a few reposted by several sources
                    target = f"at://did:plc:other{rng.randrange(3000):020d}/app.bsky.feed.post/x"
                    batch.append(EntryData(guid=f"at://{did}/app.bsky.feed.repost/{j:013d}", url="https://bsky.app/x",
                                           title=f"Repost {s_index}-{j}", text="repost", published=when, kind="repost",
                                           native_uri=target, native_cid="bafy", content_hash=str(j)))
                else:
                    batch.append(EntryData(guid=uri, url=f"https://bsky.app/profile/{did}/post/{j}", title=f"Post {s_index}-{j}",
                                           text="post", published=when, kind="reply" if roll > 0.95 else "post",
                                           native_uri=uri, native_cid="bafy", content_hash=str(j)))
            else:
                if titles and rng.random() < 0.1:
                    title = rng.choice(titles)  # a republished article: the same story
                else:
                    title = f"{' '.join(rng.sample(WORDS, 5)).capitalize()} n°{s_index}-{j}"
                    titles.append(title)
                batch.append(EntryData(guid=f"{source.slug}-{j}", url=f"https://media{s_index}.example/a/{j}", title=title,
                                       text=title, published=when, tags=(rng.choice(WORDS),), content_hash=str(j)))
        for start in range(0, len(batch), 1000):
            ingest(store, source, batch[start:start + 1000], now=now, policy=policy)
    mark_relayed(store, rng)
    return time.perf_counter() - started


def mark_relayed(store: Store, rng: random.Random) -> None:
    """What the relay would have done: 90 % posted (an at:// URI), the rest pending or failed."""
    ob, e = schema.outbox, schema.entries
    with store.db.engine.begin() as conn:
        rows = conn.execute(select(ob.c.id, e.c.kind).join(e, e.c.id == ob.c.entry_id)).all()
        posted, failed = [], []
        for row in rows:
            roll = rng.random()
            collection = "app.bsky.feed.repost" if row.kind in ("post", "repost") else "app.bsky.feed.post"
            if roll < 0.9:
                posted.append({"oid": row.id, "rid": f"at://{RELAY}/{collection}/{row.id:013d}"})
            elif roll < 0.95:
                failed.append({"oid": row.id})
        stmt = update(ob).where(ob.c.id == bindparam("oid"))
        conn.execute(stmt.values(state="posted", remote_id=bindparam("rid")), posted)
        conn.execute(stmt.values(state="failed"), failed)


def serve_app(url: str, data_dir: str, n_sources: int, port: int, cache_seconds: float) -> None:
    configs = sources(n_sources)
    settings = Settings(config_path=Path("bench-sources.yaml"), data_dir=Path(data_dir), database_url=url,
                        config=Config(sources=configs, bluesky_feed=feed_config(configs)),
                        base_url=f"http://localhost:{port}")

    async def main() -> None:
        async with make_aggregator(settings, tuning=Tuning(page_cache_seconds=cache_seconds), migrate=False,
                                   mirror_config=False) as agg:
            runner = web.AppRunner(agg.web_app(with_index=False), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await asyncio.Event().wait()

    asyncio.run(main())


def serve_ceiling(port: int) -> None:
    body = json.dumps({"feed": [{"post": f"at://{RELAY}/app.bsky.feed.post/{i:013d}"} for i in range(50)],
                       "cursor": "MToxNzYzNjQwMDAwMDAwMDAwOjEyMzQ1"}).encode()

    async def skeleton(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/xrpc/app.bsky.feed.getFeedSkeleton", skeleton)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def drive_many(urls: list[str], concurrency: int, seconds: float) -> dict[str, float]:
    """Like bench/web.py's ``drive``, cycling through ``urls`` (one stream of requests)."""
    import itertools
    import statistics

    from aiohttp import TCPConnector

    latencies: list[float] = []
    bad = 0
    cycle = itertools.cycle(urls)
    async with ClientSession(connector=TCPConnector(limit=concurrency)) as session:
        for url in urls[:3]:
            async with session.get(url) as resp:
                await resp.read()
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            nonlocal bad
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(next(cycle)) as resp:
                    await resp.read()
                    bad += resp.status != 200
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": round(len(latencies) / elapsed, 1), "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2), "requests": len(latencies), "non_200": bad}


async def deep_cursors(base: str, feed: str, depths: list[int]) -> dict[int, str]:
    """Cursors found by paging the feed 100 at a time, at (about) these depths."""
    found: dict[int, str] = {}
    cursor = None
    seen = 0
    async with ClientSession() as session:
        while depths and seen < max(depths):
            params = {"feed": feed, "limit": "100", **({"cursor": cursor} if cursor else {})}
            async with session.get(f"{base}/xrpc/app.bsky.feed.getFeedSkeleton", params=params) as resp:
                page = await resp.json()
            seen += len(page["feed"])
            cursor = page.get("cursor")
            if not cursor:
                break
            for depth in depths:
                if seen >= depth and depth not in found:
                    found[depth] = cursor
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--sources", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--database-url", default=None, help="default: SQLite in the data dir")
    ap.add_argument("--data-dir", default=None, help="reuse a filled store here (default: a temporary dir)")
    args = ap.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-bsky-feed-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    configs = sources(args.sources)
    store = Store(url)
    store.upgrade()
    fill_seconds = 0.0
    if store.entries.count() < args.posts * 0.9:
        fill_seconds = fill(store, configs, args.posts)
    store.bluesky_feed.save_published(BlueskyPublished(
        did=RELAY, handle="relais.example",
        feeds=tuple((f.short_name, f"at://{RELAY}/app.bsky.feed.generator/{f.short_name}") for f in feed_config(configs).feeds)))
    posts = store.entries.count()
    store.close()

    from aggregator.webapp import PAGE_CACHE_SECONDS

    ctx = multiprocessing.get_context("spawn")
    app_port, raw_port, ceiling_port = free_port(), free_port(), free_port()
    procs = [ctx.Process(target=serve_app, args=(url, str(data_dir), args.sources, app_port, PAGE_CACHE_SECONDS), daemon=True),
             ctx.Process(target=serve_app, args=(url, str(data_dir), args.sources, raw_port, 0.0), daemon=True),
             ctx.Process(target=serve_ceiling, args=(ceiling_port,), daemon=True)]
    for p in procs:
        p.start()

    def feed(name: str) -> str:
        return f"at://{RELAY}/app.bsky.feed.generator/{name}"

    async def measure(port: int, cursors: dict[int, str]) -> dict[str, Any]:
        endpoint = f"http://127.0.0.1:{port}/xrpc/app.bsky.feed.getFeedSkeleton"
        first = [f"{endpoint}?feed={feed(name)}" for name in ("reseau", "region", "english", "quelques")]
        deep = [f"{endpoint}?feed={feed('reseau')}&cursor={c}" for c in cursors.values()]
        return {
            "first_page_network": await drive(first[0], args.concurrency, args.seconds),
            "first_pages_all_feeds": await drive_many(first, args.concurrency, args.seconds),
            "deep_pages": await drive_many(deep, args.concurrency, args.seconds),
            "one_client_first_pages": await drive_many(first, 1, args.seconds),
            "one_client_deep_pages": await drive_many(deep, 1, args.seconds),
        }

    async def run() -> dict[str, Any]:
        for port in (app_port, raw_port):
            await wait_ready(f"http://127.0.0.1:{port}/healthz")
        await wait_ready(f"http://127.0.0.1:{ceiling_port}/xrpc/app.bsky.feed.getFeedSkeleton")
        cursors = await deep_cursors(f"http://127.0.0.1:{raw_port}", feed("reseau"), [1_000, 10_000, 50_000, 100_000])
        return {
            "deep_depths": sorted(cursors),
            "ceiling": await drive(f"http://127.0.0.1:{ceiling_port}/xrpc/app.bsky.feed.getFeedSkeleton",
                                   args.concurrency, args.seconds),
            "served": await measure(app_port, cursors),
            "uncached": await measure(raw_port, cursors),
        }

    try:
        results = asyncio.run(run())
    finally:
        for p in procs:
            p.terminate()
            p.join(10)
    ceiling = results["ceiling"]["rps"]
    loaded = ("first_page_network", "first_pages_all_feeds", "deep_pages")

    def verdict(runs: dict[str, Any]) -> dict[str, Any]:
        p95 = max(runs[k]["p95_ms"] for k in loaded)
        share = min(runs[k]["rps"] for k in loaded) / ceiling if ceiling else 0.0
        return {"worst_p95_ms": p95, "worst_share_of_ceiling": round(share, 3), "met": p95 < 20 and share >= 0.25}

    print(json.dumps({
        "bench": "bluesky_feed", "backend": url.split(":", 1)[0], "posts": posts, "sources": args.sources,
        "concurrency": args.concurrency, "seconds_per_run": args.seconds, "fill_s": round(fill_seconds, 1),
        "limit": 50, "page_cache_seconds": PAGE_CACHE_SECONDS, **results,
        "targets": {"p95_ms_below": 20, "share_of_ceiling_at_least": 0.25},
        "served_verdict": verdict(results["served"]), "uncached_verdict": verdict(results["uncached"]),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
