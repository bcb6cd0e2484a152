"""Crawl benchmark: our first and second pass against the raw ceiling and lemon24/reader.

Serves N generated French feeds (20–50 items each) from a separate process on several
127.0.0.x addresses, then measures in one run:

- ceiling: plain aiohttp GETs of every URL (no parse, no store);
- ours, first pass (all 200) and second pass (all 304 with validators), through the real
  ``aggregator crawl --once --all --json`` command in a child process (peak RSS measured);
- reader (``pip install reader``) updating the same feeds into its own SQLite database.

Prints one JSON line. Politeness spacing is set to 0 for the run (``per_host_delay``):
the point is the crawler's own cost, and neither the ceiling nor reader space requests.

    python bench/crawl.py [--feeds 2000] [--hosts 20] [--skip-reader]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

WORDS = ["grève", "manifestation", "retraites", "syndicat", "assemblée", "générale", "blocage", "lycée", "université", "police", "logement", "expulsion", "squat", "écologie", "climat", "eau", "bassines", "agriculteurs", "paysans", "solidarité", "migrants", "frontière", "prison", "justice", "procès", "répression", "quartier", "mairie", "métropole", "transport", "salaires", "précarité", "hôpital", "soignants", "école", "féminisme", "antifascisme", "presse", "indépendante", "rassemblement", "samedi", "place", "centre-ville", "cortège", "banderole", "tract", "réunion", "publique", "collectif"]


def make_feed(n: int, seed: int) -> bytes:
    rng = random.Random(seed * 100_003 + n)
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    items = []
    for i in range(rng.randint(20, 50)):
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))).capitalize()
        body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 160)))
        date = (now - timedelta(hours=i * 7 + n % 5)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        items.append(
            f"<item><title>{title}</title><link>https://site{n}.example/spip.php?article{i}</link>"
            f"<guid isPermaLink=\"false\">site{n}-article{i}</guid><pubDate>{date}</pubDate>"
            f"<dc:creator>Collectif {n}</dc:creator><category>luttes</category>"
            f"<description><![CDATA[<p>{body}</p><p><a href=\"/spip.php?article{i}\">Lire la suite</a></p>]]></description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Site {n}</title><link>https://site{n}.example/</link><description>Infos locales</description>"
        "<language>fr</language>" + "".join(items) + "</channel></rss>"
    ).encode()


def serve(feeds: int, hosts: list[str], port: int, seed: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """The feed server process: every feed with a strong ETag and real 304s."""
    from aiohttp import web

    bodies = {f"/feed/{n}.xml": make_feed(n, seed) for n in range(feeds)}
    etags = {path: '"' + hashlib.sha1(body).hexdigest()[:16] + '"' for path, body in bodies.items()}

    async def handler(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        etag = etags[request.path]
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, headers={"ETag": etag, "Content-Type": "application/rss+xml; charset=utf-8"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in hosts:
            await web.TCPSite(runner, host, port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def urls(feeds: int, hosts: list[str], port: int) -> list[str]:
    return [f"http://{hosts[n % len(hosts)]}:{port}/feed/{n}.xml" for n in range(feeds)]


async def ceiling(all_urls: list[str]) -> float:
    import aiohttp

    sem = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def get(url: str) -> None:
            async with sem, session.get(url) as response:
                await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(get(u) for u in all_urls))
        return time.perf_counter() - started


def ours(config: Path, data_dir: Path) -> tuple[dict[str, float], float, float]:
    """One ``crawl --once --all --json`` in a child process: (summary, wall seconds, peak RSS MB).

    Throughput uses the pass's own ``seconds`` from the JSON line (like reader's
    ``update_feeds`` time and the ceiling's, it excludes interpreter start-up).
    """
    env = {**os.environ, "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_LEVEL": "WARNING"}
    env.pop("AGGREGATOR_DATABASE_URL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data_dir),
         "crawl", "--once", "--all", "--json"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    seconds = time.perf_counter() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return json.loads(out.strip().splitlines()[-1]), seconds, peak


def reader_pass(all_urls: list[str], db: Path) -> tuple[float, int]:
    """lemon24/reader updating the same feeds (its own parser, store and search-less SQLite)."""
    code = (
        "import sys, time, json\n"
        "from reader import make_reader\n"
        "urls = json.load(open(sys.argv[2]))\n"
        "r = make_reader(sys.argv[1])\n"
        "for u in urls: r.add_feed(u, exist_ok=True)\n"
        "t = time.perf_counter(); r.update_feeds(workers=16); dt = time.perf_counter() - t\n"
        "print(json.dumps({'seconds': dt, 'entries': r.get_entry_counts().total}))\n"
    )
    url_file = db.with_suffix(".json")
    url_file.write_text(json.dumps(all_urls))
    out = subprocess.run([sys.executable, "-c", code, str(db), str(url_file)], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return float(data["seconds"]), int(data["entries"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-reader", action="store_true")
    args = parser.parse_args()

    hosts = [f"127.0.0.{i}" for i in range(2, 2 + args.hosts)]
    port = 18000 + os.getpid() % 1000
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.feeds, hosts, port, args.seed, ready), daemon=True)
    server.start()
    if not ready.wait(120):
        raise SystemExit("the feed server did not start")
    all_urls = urls(args.feeds, hosts, port)
    result: dict[str, object] = {"bench": "crawl", "feeds": args.feeds, "hosts": args.hosts, "per_host_delay": 0}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
            tmpdir = Path(tmp)
            config = tmpdir / "sources.yaml"
            lines = ["settings:\n  per_host_delay: 0\n  min_interval: 5m\nsources:\n"]
            lines += [f"  - name: Site {n}\n    slug: site-{n}\n    url: {u}\n" for n, u in enumerate(all_urls)]
            config.write_text("".join(lines), encoding="utf-8")

            ceiling_s = asyncio.run(ceiling(all_urls))
            first, first_s, rss1 = ours(config, tmpdir / "data")
            second, second_s, rss2 = ours(config, tmpdir / "data")
            assert first["ok"] == args.feeds and first["failed"] == 0, first
            assert second["not_modified"] == args.feeds and second["new_items"] == 0, second
            first_pass, second_pass = float(first["seconds"]), float(second["seconds"])
            result.update({
                "ceiling_feeds_s": round(args.feeds / ceiling_s, 1),
                "first_feeds_s": round(args.feeds / first_pass, 1),
                "first_items_s": round(first["new_items"] / first_pass, 1),
                "second_feeds_s": round(args.feeds / second_pass, 1),
                "items": first["new_items"],
                "peak_rss_mb": round(max(rss1, rss2), 1),
                "second_vs_ceiling": round(ceiling_s / second_pass, 3),
                "first_wall_seconds": round(first_s, 2),
                "second_wall_seconds": round(second_s, 2),
            })
            if not args.skip_reader:
                try:
                    reader_s, reader_entries = reader_pass(all_urls, tmpdir / "reader.sqlite")
                    result.update({
                        "reader_feeds_s": round(args.feeds / reader_s, 1),
                        "reader_entries": reader_entries,
                        "first_vs_reader": round(reader_s / first_pass, 2),
                    })
                except (subprocess.CalledProcessError, ImportError) as exc:
                    result["reader_error"] = f"reader not measured: {exc} (pip install reader)"
    finally:
        server.terminate()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
