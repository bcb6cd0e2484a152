"""``sources.yaml`` edited under a running ``aggregator run``: followed, and refused when invalid.

One real ``run`` process on SQLite and a loopback feed server; the test edits the real
file the way an operator does and reads the process's logs and web API.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import free_port
from tests.crawl.helpers import rss
from tests.feedserver import FeedServer
from tests.scale.procs import Proc

from .test_run import wait_for

A = "  - name: Mars Infos\n    slug: mars\n    url: {a}\n"
B = "  - name: Autre site\n    slug: autre\n    url: {b}\n"


def events(proc: Proc, name: str) -> list[dict[str, Any]]:
    out = []
    for line in list(proc.err):
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == name:
                out.append(record)
    return out


async def until(check: Callable[[], Any], what: str, proc: Proc, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert proc.alive(), f"run exited before {what}:\n{proc.tail()}"
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{proc.tail()}")


async def test_run_follows_sources_yaml_and_keeps_running_on_an_invalid_edit(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    port = free_port()
    async with FeedServer() as server, aiohttp.ClientSession() as http:
        server.add("/a.xml", rss([("a1", "Grève des éboueurs à Marseille")]))
        server.add("/b.xml", rss([("b1", "Une autre nouvelle, à Lyon")], title="Autre"))
        urls = {"a": server.url("/a.xml"), "b": server.url("/b.xml")}
        config.write_text("sources:\n" + A.format(**urls), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "MASTODON_", "BLUESKY_"))}
        env |= {"AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"}
        proc = Proc([sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(tmp_path / "data"),
                     "run", "--port", str(port)], env)
        base = f"http://127.0.0.1:{port}"

        async def titles() -> set[str]:
            async with http.get(f"{base}/api/items") as r:
                return {i["title"] for i in (await r.json())["items"]} if r.status == 200 else set()

        async def sources() -> dict[str, str]:
            async with http.get(f"{base}/api/sources") as r:
                return {s["slug"]: s["name"] for s in (await r.json())["sources"]}

        try:
            await wait_for(titles)
            # 1. a source added: mirrored, logged, and crawled at once (the crawler wakes up)
            config.write_text("sources:\n" + A.format(**urls) + B.format(**urls), encoding="utf-8")
            reloaded = await until(lambda: events(proc, "config.reloaded"), "the reload", proc)
            assert {k: reloaded[0][k] for k in ("trigger", "added", "removed", "changed", "sources")} == {
                "trigger": "file", "added": "autre", "removed": "-", "changed": "-", "sources": 2}
            await wait_for(lambda: _has(titles, "Une autre nouvelle, à Lyon"))

            # 2. an invalid file: every error logged, the process keeps the configuration it has
            config.write_text("sources:\n" + A.format(**urls) + B.format(**urls)
                              + "  - name: Cassée\n    url: ftp://x.example/\n    langage: fr\n", encoding="utf-8")
            kept = await until(lambda: events(proc, "config.kept"), "the refusal", proc)
            invalid = [e["error"] for e in events(proc, "config.invalid")]
            assert kept[0]["errors"] == 2 and len(invalid) == 2, invalid
            assert f"{config}:9: sources[2].url: expected an http:// or https:// URL" in invalid
            assert any(f"{config}:10: sources[2].langage: unknown key" in e for e in invalid)
            assert await sources() == {"mars": "Mars Infos", "autre": "Autre site"}
            async with http.get(f"{base}/") as r:
                assert r.status == 200

            # 3. fixed again: nothing changed against what runs, and it says so
            config.write_text("sources:\n" + A.format(**urls) + B.format(**urls), encoding="utf-8")
            await until(lambda: [e for e in events(proc, "config.unchanged") if e["trigger"] == "file"], "unchanged", proc)

            # 4. SIGHUP: an edit the poll cannot see (same size, same modification time)
            before = config.stat()
            config.write_text("sources:\n" + A.format(**urls) + B.format(**urls).replace("Autre", "Autra"), encoding="utf-8")
            os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert config.stat().st_size == before.st_size
            proc.signal(signal.SIGHUP)
            hup = await until(lambda: [e for e in events(proc, "config.reloaded") if e["trigger"] == "SIGHUP"], "SIGHUP", proc)
            assert (hup[0]["changed"], hup[0]["added"], hup[0]["removed"]) == ("autre", "-", "-")
            await wait_for(lambda: _is(sources, {"mars": "Mars Infos", "autre": "Autra site"}))  # pages cache 5 s

            # 5. a source removed
            config.write_text("sources:\n" + A.format(**urls), encoding="utf-8")
            await until(lambda: [e for e in events(proc, "config.reloaded") if e["removed"] == "autre"], "removal", proc)
            await wait_for(lambda: _is(sources, {"mars": "Mars Infos"}))
        finally:
            code = proc.stop(timeout=45)
            proc.cleanup()
    assert code == 0, proc.tail()
    stopping = events(proc, "service.stopping")
    assert [e["signal"] for e in stopping] == ["SIGTERM"] and events(proc, "service.stopped"), proc.tail()
    assert not [line for line in proc.err if "Traceback" in line], proc.tail()


async def _has(titles: Callable[[], Any], title: str) -> bool:
    return title in await titles()


async def _is(read: Callable[[], Any], expected: Any) -> bool:
    return bool(await read() == expected)
