"""Benchmark of the readers' web front end: requests/s and p95 per route, beside a ceiling.

Fills a store (default 200,000 entries from 300 sources, through the one write path,
``ingest``), indexes it, serves the real app in its own process, and drives it with
concurrent aiohttp clients; a trivial aiohttp handler served the same way is the
ceiling. Prints ONE JSON line. Not a test: figures depend on the machine.

    .venv/bin/python bench/web.py [--entries 200000] [--sources 300] [--concurrency 16]
                                  [--seconds 5] [--database-url URL] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, TCPConnector, web  # noqa: E402

from aggregator.factory import Tuning, make_aggregator  # noqa: E402
from aggregator.model import Config, EntryData, SourceConfig  # noqa: E402
from aggregator.parse.identity import content_hash  # noqa: E402
from aggregator.settings import Settings  # noqa: E402
from aggregator.store import Store  # noqa: E402
from aggregator.update.ingest import RelayPolicy, ingest  # noqa: E402

WORDS = ["grève", "logement", "loyers", "manifestation", "climat", "squat", "expulsion", "assemblée", "quartier", "police", "justice", "retraites", "école", "hôpital", "migrants", "frontière", "agriculture", "eau", "énergie", "syndicat", "précarité", "féminisme", "antifascisme", "répression", "solidarité", "cantine", "réquisition"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sources(n: int) -> tuple[SourceConfig, ...]:
    return tuple(
        SourceConfig(slug=f"media-{i}", name=f"Média indépendant {i}", kind="feed", url=f"https://media{i}.example/feed",
                     language="fr" if i % 5 else "en", tags=(f"region-{i % 12}",), website=f"https://media{i}.example/")
        for i in range(n)
    )


def fill(store: Store, configs: tuple[SourceConfig, ...], total: int) -> float:
    """``total`` entries spread over the sources, one transaction per source batch."""
    started = time.perf_counter()
    rng = random.Random(7)
    store.sources.sync(configs)
    per_source = max(1, total // len(configs))
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for s_index, source in enumerate(configs):
        batch = []
        for j in range(per_source):
            words = rng.sample(WORDS, 6)
            title = f"{' '.join(words[:4]).capitalize()} n°{s_index}-{j}"
            text = " ".join(rng.choice(WORDS) for _ in range(60))
            batch.append(EntryData(
                guid=f"{source.slug}-{j}", url=f"https://media{s_index}.example/a/{j}", title=title,
                summary=f"<p>{text[:300]}</p>", text=text, content_hash=content_hash(title, text),
                published=now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365)), tags=(words[4],),
            ))
        for start in range(0, len(batch), 1000):
            chunk = batch[start:start + 1000]
            ingest(store, source, chunk, now=now, policy=RelayPolicy())
    return time.perf_counter() - started


def serve_app(url: str, data_dir: str, n_sources: int, port: int, with_index: bool, cache_seconds: float) -> None:
    """The web application as ``aggregator serve`` builds it (the factory), on ``port``."""
    settings = Settings(config_path=Path("bench-sources.yaml"), data_dir=Path(data_dir), database_url=url,
                        config=Config(sources=sources(n_sources)))

    async def main() -> None:
        async with make_aggregator(settings, tuning=Tuning(page_cache_seconds=cache_seconds),
                                   migrate=False, mirror_config=False) as agg:
            runner = web.AppRunner(agg.web_app(with_index=with_index), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await asyncio.Event().wait()  # until the benchmark terminates this process

    asyncio.run(main())


def serve_ceiling(port: int) -> None:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


async def drive(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """Closed loop: ``concurrency`` clients each send the next request when one answers."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    async with ClientSession(connector=TCPConnector(limit=concurrency)) as session:
        for _ in range(3):  # warm caches and the connection pool
            async with session.get(url) as resp:
                await resp.read()
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "requests": len(latencies),
        "non_200": sum(n for s, n in statuses.items() if s != 200),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--sources", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--database-url", default=None, help="default: SQLite in the data dir")
    ap.add_argument("--data-dir", default=None, help="reuse a filled store/index here (default: a temporary dir)")
    args = ap.parse_args()

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-web-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    url = args.database_url or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    configs = sources(args.sources)
    store = Store(url)
    store.upgrade()
    fill_seconds = index_seconds = 0.0
    if store.entries.count() < args.entries * 0.9:
        fill_seconds = fill(store, configs, args.entries)
    with_index = True
    try:
        from aggregator.index import open_index

        t0 = time.perf_counter()
        index = open_index(store, data_dir)
        while index.sync(batch=5000):
            pass
        index.close()
        index_seconds = time.perf_counter() - t0
    except ImportError:
        with_index = False
    entries = store.entries.count()
    store.close()

    from aggregator.webapp import PAGE_CACHE_SECONDS

    ctx = multiprocessing.get_context("spawn")
    app_port, raw_port, ceiling_port = free_port(), free_port(), free_port()
    procs = [
        # as `aggregator serve` runs it (micro-cache on), and rendering every request
        ctx.Process(target=serve_app, args=(url, str(data_dir), args.sources, app_port, with_index, PAGE_CACHE_SECONDS), daemon=True),
        ctx.Process(target=serve_app, args=(url, str(data_dir), args.sources, raw_port, with_index, 0.0), daemon=True),
        ctx.Process(target=serve_ceiling, args=(ceiling_port,), daemon=True),
    ]
    for p in procs:
        p.start()
    routes = ["/", "/?source=media-7", "/feed.atom", "/feed.rss", "/embed", "/api/items"]
    if with_index:
        routes.insert(2, "/search?q=gr%C3%A8ve")

    async def run() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
        for port in (app_port, raw_port):
            await wait_ready(f"http://127.0.0.1:{port}/healthz")
        await wait_ready(f"http://127.0.0.1:{ceiling_port}/")
        out = {"ceiling": await drive(f"http://127.0.0.1:{ceiling_port}/", args.concurrency, args.seconds)}
        raw = {}
        for route in routes:
            out[route] = await drive(f"http://127.0.0.1:{app_port}{route}", args.concurrency, args.seconds)
            raw[route] = await drive(f"http://127.0.0.1:{raw_port}{route}", args.concurrency, args.seconds)
        return out, raw

    try:
        results, uncached = asyncio.run(run())
    finally:
        for p in procs:
            p.terminate()
            p.join(10)
    ceiling = results["ceiling"]["rps"]
    print(json.dumps({
        "bench": "web", "backend": url.split(":", 1)[0], "entries": entries, "sources": args.sources,
        "concurrency": args.concurrency, "seconds_per_route": args.seconds,
        "fill_s": round(fill_seconds, 1), "index_s": round(index_seconds, 1),
        "page_cache_seconds": PAGE_CACHE_SECONDS,
        "routes": results,
        "routes_uncached": uncached,
        "river_share_of_ceiling": round(results["/"]["rps"] / ceiling, 3) if ceiling else None,
        "river_uncached_share_of_ceiling": round(uncached["/"]["rps"] / ceiling, 3) if ceiling else None,
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
