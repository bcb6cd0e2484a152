"""PostgreSQL restarts under a running crawler worker and a running web process.

Both must carry on by themselves (no restart of their own), and no HTTP answer may carry
a stack trace, during the outage or after it.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from aggregator.config import load_config
from aggregator.store import Store
from tests.conftest import PostgresCluster, free_port, wait_for_port

from .farm import start_farm
from .procs import Proc, aggregator_argv, child_env
from .test_crawl_processes import until

pytestmark = pytest.mark.postgres

PATHS = ["/", "/sources", "/api/items", "/api/sources", "/feed.atom", "/search?q=article", "/healthz"]
TRACE_MARKS = ("Traceback", 'File "/', "psycopg", "sqlalchemy")


def fetched(store: Store) -> int:
    try:
        with store.db.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM sources WHERE last_fetch IS NOT NULL")).scalar() or 0)
    except Exception:
        return -1  # the database is restarting


OUTAGE = 4.0  # seconds without a server: long enough for requests and writes to fail


def restart_with_outage(cluster: PostgresCluster, seconds: float) -> None:
    """``pg_ctl restart``, with the server down for ``seconds`` in between.

    A plain restart takes well under a second here, too short for anything to notice;
    this stops the server (fast shutdown: sessions are cut), waits, and starts it again
    with the options PostgresCluster.start used.
    """
    pg_ctl = str(cluster.bin / "pg_ctl")
    cluster._run(pg_ctl, "-D", str(cluster.data), "-m", "fast", "-w", "stop")
    time.sleep(seconds)
    options = (f"-p {cluster.port} -k {cluster.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    cluster._run(pg_ctl, "-D", str(cluster.data), "-l", str(cluster.dir / "log"), "-w", "-t", "60", "-o", options, "start")


def started_at(store: Store) -> object:
    with store.db.engine.connect() as conn:
        return conn.execute(text("SELECT pg_postmaster_start_time()")).scalar()


async def poll_web(base: str, log: list[tuple[float, str, int, str]], stop: asyncio.Event) -> None:
    """Ask every page again and again, keeping what came back."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while not stop.is_set():
            for path in PATHS:
                try:
                    async with session.get(base + path) as resp:
                        log.append((time.monotonic(), path, resp.status, await resp.text()))
                except aiohttp.ClientError as exc:
                    log.append((time.monotonic(), path, -1, repr(exc)))
            await asyncio.sleep(0.2)


async def test_crawler_and_web_survive_a_postgresql_restart(own_cluster: PostgresCluster, tmp_path: Path, procs: list[Proc]) -> None:
    url = own_cluster.create_database()
    async with AsyncExitStack() as stack:
        farm = await start_farm(stack, 40, 4)  # 10 s of per-host spacing: the restart lands mid-pass
        config = farm.write_config(tmp_path / "sources.yaml")
        store = Store(url)
        store.upgrade()
        store.sources.sync(load_config(config).sources)
        env = child_env(url, AGGREGATOR_LOG_FORMAT="json")
        port = free_port()
        web = Proc(aggregator_argv("--config", str(config), "--data-dir", str(tmp_path), "serve", "--port", str(port)), env)
        crawler = Proc(aggregator_argv("--config", str(config), "--data-dir", str(tmp_path), "crawl"), env)
        procs += [web, crawler]
        await asyncio.to_thread(wait_for_port, port, 30)
        answers: list[tuple[float, str, int, str]] = []
        stop = asyncio.Event()
        poller = asyncio.create_task(poll_web(f"http://127.0.0.1:{port}", answers, stop))
        try:
            await until(lambda: fetched(store) >= 5, 60, "the pass to be under way", [crawler])
            booted = started_at(store)
            await asyncio.to_thread(restart_with_outage, own_cluster, OUTAGE)
            assert started_at(store) != booted  # it really restarted
            restarted = time.monotonic()
            await until(lambda: fetched(store) == 40, 120, "every source fetched after the restart", [crawler])
            await until(
                lambda: {p for t, p, s, _ in answers if t > restarted and s == 200} == set(PATHS),
                60, "every page to answer 200 after the restart", [web],
            )
        finally:
            stop.set()
            await poller
            entries = -1
            try:
                entries = store.entries.count()
            finally:
                store.close()
        assert web.alive() and crawler.alive(), "a process died instead of recovering"
        web_code, crawler_code = web.stop(), crawler.stop()
    assert (web_code, crawler_code) == (0, 0)
    assert entries == 40 * farm.items_per_feed
    events = [json.loads(line) for line in crawler.err if line.startswith("{")]
    traces = [(p, s, b[:300]) for _, p, s, b in answers if any(m in b for m in TRACE_MARKS)]
    assert not traces, traces
    # during the outage pages may fail (503, or aiohttp's bare 500), never with a traceback
    statuses = {s for _, _, s, _ in answers}
    assert statuses <= {200, 500, 503}, statuses
    assert [e for e in events if e.get("event") == "crawl.pass_failed"], "the outage went unnoticed"
    assert not [e for e in events if e.get("event") == "crawl.bug"], "an unwrapped exception reached the crawl loop"
    assert not [line for line in crawler.err if "Traceback" in line]
