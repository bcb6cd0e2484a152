"""A power cut in the middle of a crawl: ``aggregator run`` killed with SIGKILL, then restarted.

The real CLI in a child process, on SQLite in its data directory (the one-machine setup),
against feeds served by this test's event loop, each on its own 127.0.0.x host (one host
is fetched one request at a time). Half the feeds hold their answer until the test lets
them go, so the first ``run`` is killed while it holds their leases and waits on them, with
its parse workers (and multiprocessing's resource tracker) running. Then: no
process of it may be left, and a restarted ``run`` must fetch every source within a minute
(the leases are 600 s: waiting for them to run out would fail), log no empty pass, and stop
cleanly on SIGTERM, leaving no process either.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from aiohttp import web

from aggregator.store import Store
from tests.conftest import free_port
from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

from .procs import Proc, aggregator_argv

FAST = ["fast1", "fast2", "fast3"]
HELD = ["held1", "held2", "held3"]


async def until(predicate: Callable[[], bool], timeout: float, what: str, *procs: Proc) -> None:
    """Poll while the feed server keeps serving in this event loop."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n" + "\n".join(p.tail(20) for p in procs))
        await asyncio.sleep(0.1)


def group_members(pgid: int) -> list[str]:
    """The live processes (zombies aside) of a process group, as "pid command"."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")[:150]
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # fields 3 (state) and 5 (pgrp) of proc(5)
            found.append(f"{entry} {cmd}")
    return found


def events(proc: Proc) -> list[dict[str, object]]:
    return [json.loads(line) for line in list(proc.err) if line.startswith("{")]


async def test_a_killed_run_leaves_nothing_and_a_restart_resumes_every_source(tmp_path: Path, procs: list[Proc]) -> None:
    let_go = asyncio.Event()

    def held(name: str) -> Callable[[web.Request], object]:
        async def serve(request: web.Request) -> web.Response:
            await let_go.wait()
            return web.Response(text=rss([(name, f"Article tenu de {name}")]), content_type="application/rss+xml")
        return serve

    async with AsyncExitStack() as stack:
        servers = {}
        for i, name in enumerate(FAST + HELD):
            servers[name] = server = await stack.enter_async_context(FeedServer(host=f"127.0.0.{20 + i}"))
            if name in FAST:
                server.add(f"/{name}.xml", rss([(name, f"Article de {name}")]))
            else:
                server.handle(f"/{name}.xml", held(name))  # type: ignore[arg-type]
        asked = lambda name: len(servers[name].requests_to(f"/{name}.xml"))  # noqa: E731
        config = tmp_path / "sources.yaml"
        config.write_text("sources:\n" + "".join(
            f"  - name: {n}\n    slug: {n}\n    url: {servers[n].url(f'/{n}.xml')}\n" for n in FAST + HELD),
            encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "MASTODON_", "BLUESKY_"))}
        env |= {"AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

        def run() -> Proc:
            proc = Proc(aggregator_argv("--config", str(config), "--data-dir", str(tmp_path / "data"), "run",
                                        "--port", str(free_port())), env)
            procs.append(proc)
            return proc

        first = run()
        stored = lambda: {e.get("source") for e in events(first) if e.get("event") == "crawl.source"}  # noqa: E731
        await until(lambda: set(FAST) <= stored() and all(asked(n) for n in HELD), 60,
                    "the first run to parse the fast feeds and wait on the held ones", first)
        members = group_members(first.pid)
        assert len(members) >= 3, f"the parse workers and the resource tracker should be running: {members}"
        first.kill()  # SIGKILL, the leader only: what an OOM kill or a power cut does
        await until(lambda: not group_members(first.pid), 30, "the killed run's processes to exit", first)

        let_go.set()
        second = run()
        # the minute is counted from when the restarted process is up (imports on a loaded
        # machine can take a while); without taking the leases back it would be 600 s
        await until(lambda: any(e.get("event") == "web.listening" for e in events(second)), 120,
                    "the restarted run to listen", second)
        store = Store(f"sqlite:///{tmp_path / 'data' / 'aggregator.sqlite3'}")
        try:
            fetched = lambda: {s.slug for s in store.sources.states() if s.last_fetch is not None}  # noqa: E731
            await until(lambda: fetched() == set(FAST + HELD), 60, "every source to be fetched after the restart", second)
            assert store.sources.leased(store.db.clock()) == {}
        finally:
            store.close()
        assert second.stop() == 0, second.tail()
        await until(lambda: not group_members(second.pid), 30, "the stopped run's processes to exit", second)

    log = events(second)
    [reclaimed] = [e for e in log if e.get("event") == "crawl.reclaimed"]
    assert reclaimed["sources"] == len(HELD) and str(reclaimed["owner"]).split(":")[1].startswith(f"{first.pid}+")
    assert [e for e in log if e.get("event") == "crawl.pass" and e.get("sources") == 0] == [], "an idle loop logs nothing"
    assert not [e for e in log if e.get("level") == "error" or "traceback" in e]
    assert [asked(n) for n in FAST + HELD] == [1, 1, 1, 2, 2, 2]
