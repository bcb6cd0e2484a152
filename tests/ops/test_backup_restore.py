"""``backup`` while ``run`` crawls and writes, ``restore`` into a fresh data dir, compared with the original."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import free_port, wait_for_port
from tests.feedserver import FeedServer
from tests.scale.procs import Proc

from .helpers import aggregator, ago, clean_env, people, rss

FEEDS = 4
PER_REQUEST = 3  # each fetch of a feed brings this many new items: ``run`` never stops writing


def growing(server: FeedServer, n: int) -> None:
    """A feed with more items at every request (the newest first), like a busy site."""
    served = 0

    async def serve(request: web.Request) -> web.Response:
        nonlocal served
        served += PER_REQUEST
        items = [(f"{n}-{i}", f"Cantine solidaire {n}-{i} ce soir", f"https://site{n}.example/{i}", ago(minutes=served - i))
                 for i in reversed(range(served))]
        return web.Response(text=rss(items, title=f"Site {n}"), content_type="application/rss+xml")

    server.handle(f"/g{n}.xml", serve)


def count(database: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        conn.close()


async def until(check, what: str, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def rows(database: Path, table: str) -> dict[int, dict[str, Any]]:
    """Every row of a table by id, every column (read-only)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {r["id"]: dict(r) for r in conn.execute(f"SELECT * FROM {table}")}
    finally:
        conn.close()


async def lines(config: Path, data: Path, *args: str) -> list[dict]:
    code, out, err = await aggregator(config, data, *args, "--json")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


async def test_backup_during_run_restores_the_same_items_sources_and_search(tmp_path: Path, procs: list[Proc]) -> None:
    orig, fresh, backup = tmp_path / "orig", tmp_path / "fresh", tmp_path / "backups" / "first"
    orig.mkdir()
    config, data = orig / "sources.yaml", orig / "data"
    database = data / "aggregator.sqlite3"
    async with FeedServer() as server:
        for n in range(FEEDS):
            growing(server, n)
        config.write_text(
            "# the operator's comments survive a backup\nsettings:\n  per_host_delay: 0\n  min_interval: 1s\n  max_interval: 1s\nsources:\n"
            + "".join(f"  - name: Site {n}\n    slug: site-{n}\n    url: {server.url(f'/g{n}.xml')}\n" for n in range(FEEDS)),
            encoding="utf-8",
        )
        run = Proc([sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data), "run",
                    "--port", str(free_port())], clean_env())
        procs.append(run)
        await until(lambda: count(database) >= FEEDS * PER_REQUEST * 2, "run to store the first passes")

        before = count(database)
        code, out, err = await aggregator(config, data, "backup", str(backup))
        assert code == 0, err
        manifest = json.loads((backup / "manifest.json").read_text())
        taken = manifest["database"]["entries"]
        assert out.startswith(f"backed up {taken} items and {FEEDS} sources (schema ")
        assert sorted(p.name for p in backup.iterdir()) == ["aggregator.sqlite3", "manifest.json", "sources.yaml"]
        # subscribers' addresses and the relay's session are in there: owner only
        assert backup.stat().st_mode & 0o777 == 0o700
        assert {p.stat().st_mode & 0o777 for p in backup.iterdir()} == {0o600}
        assert taken >= before  # taken while run kept writing...

        # A running instance's data is not replaced without --force.
        code, _, err = await aggregator(config, data, "restore", str(backup))
        assert code == 1 and "an aggregator process is using" in err and "--force" in err
        assert not list(data.glob("*.before-restore-*"))
        code, _, err = await aggregator(config, data, "backup", str(backup))
        assert code == 1 and "exists and is not an empty directory" in err

        await until(lambda: count(database) > taken + FEEDS * PER_REQUEST, "run to write after the backup")
        assert await asyncio.to_thread(run.stop) == 0, run.tail()  # ...and after it

    fresh_config, fresh_data = fresh / "sources.yaml", fresh / "data"
    code, out, err = await aggregator(fresh_config, fresh_data, "restore", str(backup))
    assert code == 0, err
    assert f"restored {taken} items and {FEEDS} sources" in out and f"search index rebuilt: {taken} items" in out
    assert fresh_config.read_text() == config.read_text()

    # Same items: the backup is the original as it was at one instant (ids grow with commits).
    original, restored = rows(database, "entries"), rows(fresh_data / "aggregator.sqlite3", "entries")
    last = max(restored)
    assert len(restored) == taken < len(original)
    assert restored == {i: row for i, row in original.items() if i <= last}
    assert {row["story_id"] for row in restored.values()} <= set(rows(fresh_data / "aggregator.sqlite3", "stories"))

    # Same sources, and every counter agrees with the rows (no torn transaction).
    sources = rows(fresh_data / "aggregator.sqlite3", "sources")
    assert {(s["slug"], s["url"], s["config"]) for s in sources.values()} == {
        (s["slug"], s["url"], s["config"]) for s in rows(database, "sources").values()}
    for source_id, source in sources.items():
        assert source["items"] == sum(1 for e in restored.values() if e["source_id"] == source_id), source["slug"]
    conn = sqlite3.connect(fresh_data / "aggregator.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()

    # The index was rebuilt: every restored item is found.
    assert taken <= 200  # one page of search results
    hits = await lines(fresh_config, fresh_data, "search", "cantine", "--limit", "200")
    assert {h["id"] for h in hits} == set(restored)
    code, _, err = await aggregator(fresh_config, fresh_data, "restore", str(tmp_path))
    assert code == 1 and "is not a backup: it has no manifest.json" in people(err)


async def test_restore_force_under_a_running_instance(tmp_path: Path, procs: list[Proc]) -> None:
    """``--force``: the running ``serve`` goes on and answers from the restored database and index."""
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    backup = tmp_path / "backup"
    async with FeedServer() as feeds:
        def feed(n: int) -> str:
            return rss([(str(i), f"Potager collectif numéro {i}", f"https://a.example/{i}", ago(hours=i))
                        for i in range(1, n + 1)])

        feeds.add("/a.xml", feed(3))
        config.write_text(f"settings:\n  per_host_delay: 0\nsources:\n  - name: A\n    url: {feeds.url('/a.xml')}\n",
                          encoding="utf-8")
        code, _, err = await aggregator(config, data, "crawl", "--once")
        assert code == 0, err
        code, _, err = await aggregator(config, data, "backup", str(backup))
        assert code == 0, err
        feeds.add("/a.xml", feed(5))
        code, _, err = await aggregator(config, data, "crawl", "--once", "--all")
        assert code == 0 and count(data / "aggregator.sqlite3") == 5, err

    port = free_port()
    serve = Proc([sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data), "serve",
                  "--port", str(port)], clean_env())
    procs.append(serve)
    await asyncio.to_thread(wait_for_port, port, 60)
    code, out, err = await aggregator(config, data, "restore", str(backup), "--force")
    assert code == 0, err
    assert "restored 3 items and 1 sources" in out and "search index rebuilt: 3 items" in out
    [kept] = data.glob("aggregator.sqlite3.before-restore-*")
    assert count(kept) == 5  # what it replaced, kept

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/api/items") as r:
            assert r.status == 200
            titles = sorted(i["title"] for i in (await r.json())["items"])
        async with http.get(f"http://127.0.0.1:{port}/api/items", params={"q": "potager"}) as r:
            assert r.status == 200
            found = sorted(i["title"] for i in (await r.json())["items"])
    assert titles == found == [f"Potager collectif numéro {i}" for i in (1, 2, 3)]
    assert await asyncio.to_thread(serve.stop) == 0, serve.tail()
