"""``aggregator run``: crawling, index, web and a clean stop, in one real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp

from tests.conftest import free_port
from tests.crawl.helpers import rss
from tests.feedserver import FeedServer
from tests.processes import send


async def wait_for(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = await check()
            if last:
                return last
        except (aiohttp.ClientError, OSError) as exc:
            last = exc
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out; last answer: {last!r}")


async def test_run_crawls_indexes_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Grève des éboueurs à Marseille"), ("2", "Rassemblement devant la préfecture")]))
        (tmp_path / "sources.yaml").write_text(
            f"sources:\n  - name: Mars Infos\n    slug: mars\n    url: {server.url('/a.xml')}\n    language: fr\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "MASTODON_", "BLUESKY_"))}
        env |= {"AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_FORMAT": "json"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aggregator", "--config", str(tmp_path / "sources.yaml"),
            "--data-dir", str(tmp_path / "data"), "run", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:

                async def items() -> list[dict]:
                    async with http.get(f"{base}/api/items") as r:
                        return (await r.json())["items"] if r.status == 200 else []

                found = await wait_for(items)
                assert {i["title"] for i in found} == {"Grève des éboueurs à Marseille", "Rassemblement devant la préfecture"}

                async def searched() -> str | None:
                    async with http.get(f"{base}/search", params={"q": "greve"}) as r:
                        text = await r.text()
                        return text if r.status == 200 and "éboueurs" in text else None

                await wait_for(searched)  # the index pulled the change log on its own
                async with http.get(f"{base}/healthz") as r:
                    assert r.status == 200
                async with http.get(f"{base}/") as r:
                    assert "Rassemblement devant la préfecture" in await r.text()
        finally:
            send(proc, signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=45)
        assert proc.returncode == 0, err.decode()[-3000:]
        events = [json.loads(line).get("event") for line in err.decode().splitlines() if line.startswith("{")]
        assert "crawl.source" in events and "web.listening" in events
        assert "relay.off" in events  # no credentials: the relay says why it is off
