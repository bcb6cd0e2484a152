"""Crawl benchmark: our first and second pass against the raw ceiling and lemon24/reader.

Serves N generated French feeds (20–50 items each) from a separate process, by default
each on its own loopback address (127.x.y.z: every medium is its own host, as in a real
deployment, so per-host politeness applies per feed), then measures in one run:

- ceilings: plain aiohttp GETs of every URL, 16 at a time, no parse, no store, each
  timed pass on a fresh session (fresh connections, as a crawl minutes after the last one
  finds them): ``ceiling_first_s`` (200s with bodies) and ``ceiling_second_s`` (the same
  conditional GETs as our second pass, all 304);
- ours, first pass (all 200) and second pass (all 304 with validators), through the real
  ``aggregator crawl --once --all --json`` command in a child process (peak RSS measured);
- reader (``pip install -e '.[bench]'``) updating the same feeds into its own SQLite
  database with 16 workers.

Prints one JSON line with ``first_vs_reader`` (reader's time / our first pass) and
``second_vs_ceiling`` (the 304 ceiling's time / our second pass), and
``first_cpu_vs_reader`` (reader's CPU seconds / ours, parse workers included), the
figure a machine shared with other jobs disturbs least. With one feed per host
the crawler's default politeness (``per_host_delay`` 1 s) stays on; with fewer hosts it
is set to 0, or the spacing alone would set the time (``--per-host-delay`` overrides).
``AGGREGATOR_ALLOW_PRIVATE_NETWORKS=1`` lets the crawler fetch loopback addresses; the
guard still checks every address and redirect.

    python bench/crawl.py [--feeds 2000] [--hosts N] [--skip-reader] [--profile DIR]
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


def loopback_hosts(count: int) -> list[str]:
    """``count`` distinct loopback addresses (Linux answers on all of 127.0.0.0/8)."""
    return [f"127.{1 + i // 62_500}.{(i // 250) % 250 + 1}.{i % 250 + 1}" for i in range(count)]


async def ceiling(all_urls: list[str], etags: dict[str, str] | None = None) -> float:
    """Plain GETs of every URL, 16 at a time, on a fresh session (fresh connections).

    With ``etags``, each GET carries its URL's validator (the 304 pass).
    """
    import aiohttp

    sem = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:

        async def get(url: str) -> None:
            headers = {"If-None-Match": etags[url]} if etags else None
            async with sem, session.get(url, headers=headers) as response:
                await response.read()
                if etags is not None and response.status != 304:
                    raise SystemExit(f"ceiling: {url} answered {response.status}, not 304")

        started = time.perf_counter()
        await asyncio.gather(*(get(u) for u in all_urls))
        return time.perf_counter() - started


def ours(config: Path, data_dir: Path, profile: Path | None = None) -> tuple[dict[str, float], float, float, float]:
    """One ``crawl --once --all --json`` in a child process: (summary, wall seconds, peak RSS MB,
    CPU seconds of the process and its parse workers, start-up included).

    Throughput uses the pass's own ``seconds`` from the JSON line (like reader's
    ``update_feeds`` time and the ceiling's, it excludes interpreter start-up). With
    ``profile``, the process runs under ``py-spy record --subprocesses`` (parse workers
    included) and writes its collapsed stacks there; its times are then not figures.
    """
    env = {**os.environ, "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_LEVEL": "WARNING"}
    env.pop("AGGREGATOR_DATABASE_URL", None)
    argv = [sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data_dir),
            "crawl", "--once", "--all", "--json"]
    if profile is not None:
        argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses", "--format", "raw", "--threads", "--gil", "--rate", "200",
                "--output", str(profile), "--", *argv]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = max(before, usage.ru_maxrss) / 1024
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    return json.loads([line for line in out.strip().splitlines() if line.startswith("{")][-1]), seconds, peak, cpu


def reader_pass(all_urls: list[str], db: Path) -> tuple[float, int, float]:
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
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    out = subprocess.run([sys.executable, "-c", code, str(db), str(url_file)], check=True, capture_output=True, text=True).stdout
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(out.strip().splitlines()[-1])
    return float(data["seconds"]), int(data["entries"]), usage.ru_utime + usage.ru_stime - cpu_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=0, help="loopback addresses serving them (default: one per feed)")
    parser.add_argument("--per-host-delay", type=float, default=None,
                        help="seconds between two requests to a host (default: the crawler's 1 s with one feed"
                             " per host, else 0)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-reader", action="store_true")
    parser.add_argument("--shared", action="store_true",
                        help="say in the JSON line that other jobs were running (absolute times are noisy;"
                             " the ratios compare figures of the same run)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run our passes under py-spy and write first.txt/second.txt (collapsed stacks) here")
    args = parser.parse_args()

    n_hosts = args.hosts or args.feeds
    hosts = loopback_hosts(n_hosts)
    delay = args.per_host_delay if args.per_host_delay is not None else (None if n_hosts >= args.feeds else 0.0)
    port = 18000 + os.getpid() % 1000
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.feeds, hosts, port, args.seed, ready), daemon=True)
    server.start()
    if not ready.wait(300):
        raise SystemExit("the feed server did not start")
    all_urls = urls(args.feeds, hosts, port)
    etags = {u: '"' + hashlib.sha1(make_feed(n, args.seed)).hexdigest()[:16] + '"' for n, u in enumerate(all_urls)}
    result: dict[str, object] = {"bench": "crawl", "feeds": args.feeds, "hosts": n_hosts,
                                 "per_host_delay": 1.0 if delay is None else delay,
                                 "cpus": os.cpu_count(), "machine": "shared" if args.shared else "quiet",
                                 "load_1min": round(os.getloadavg()[0], 2)}
    profile = args.profile
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
            tmpdir = Path(tmp)
            config = tmpdir / "sources.yaml"
            settings = "settings:\n  min_interval: 5m\n" + (f"  per_host_delay: {delay}\n" if delay is not None else "")
            lines = [settings, "sources:\n"]
            lines += [f"  - name: Site {n}\n    slug: site-{n}\n    url: {u}\n" for n, u in enumerate(all_urls)]
            config.write_text("".join(lines), encoding="utf-8")

            ceiling_first = asyncio.run(ceiling(all_urls))
            first, first_s, rss1, cpu1 = ours(config, tmpdir / "data", profile / "first.txt" if profile else None)
            ceiling_second = asyncio.run(ceiling(all_urls, etags))
            second, second_s, rss2, cpu2 = ours(config, tmpdir / "data", profile / "second.txt" if profile else None)
            assert first["ok"] == args.feeds and first["failed"] == 0, first
            assert second["not_modified"] == args.feeds and second["new_items"] == 0, second
            first_pass, second_pass = float(first["seconds"]), float(second["seconds"])
            result.update({
                "ceiling_first_s": round(ceiling_first, 3),
                "ceiling_second_s": round(ceiling_second, 3),
                "first_s": first_pass,
                "second_s": second_pass,
                "first_feeds_s": round(args.feeds / first_pass, 1),
                "first_items_s": round(first["new_items"] / first_pass, 1),
                "second_feeds_s": round(args.feeds / second_pass, 1),
                "items": first["new_items"],
                "peak_rss_mb": round(max(rss1, rss2), 1),
                "first_cpu_s": round(cpu1, 2),
                "second_cpu_s": round(cpu2, 2),
                "first_vs_ceiling": round(ceiling_first / first_pass, 3),
                "second_vs_ceiling": round(ceiling_second / second_pass, 3),
                "first_wall_seconds": round(first_s, 2),
                "second_wall_seconds": round(second_s, 2),
            })
            if profile is not None:
                result["profiled"] = True  # py-spy slows the passes: not figures to quote
            if not args.skip_reader:
                try:
                    reader_s, reader_entries, reader_cpu = reader_pass(all_urls, tmpdir / "reader.sqlite")
                    result.update({
                        "reader_s": round(reader_s, 3),
                        "reader_cpu_s": round(reader_cpu, 2),
                        # CPU seconds (start-up included on both sides) are what a shared
                        # machine disturbs least: the reader's over ours
                        "first_cpu_vs_reader": round(reader_cpu / cpu1, 2),
                        "reader_feeds_s": round(args.feeds / reader_s, 1),
                        "reader_entries": reader_entries,
                        "first_vs_reader": round(reader_s / first_pass, 2),
                    })
                except (subprocess.CalledProcessError, ImportError) as exc:
                    result["reader_error"] = f"reader not measured: {exc} (pip install -e '.[bench]')"
    finally:
        server.terminate()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
