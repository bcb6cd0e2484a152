"""The long-running commands: what ``run``, ``serve``, ``crawl`` and ``relay`` keep doing.

Each is a set of named loops over one ``Aggregator`` that stop together when ``stop`` is
set (SIGTERM or SIGINT, see ``stop_on_signals``). ``run`` is all of them in one process;
the others are one part each, for deployments that scale parts apart (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from . import logs
from .errors import AggregatorError
from .factory import Aggregator
from .feedgen import keep_in_sync
from .index import SearchIndex
from .relay.leader import relay_while_leader
from .store import run_while_leader

log = logs.get("aggregator")

#: How often the index pulls the change log (``run`` and crawler workers).
INDEX_EVERY = 5.0
#: How long the loops get to finish their work in flight after ``stop``.
STOP_GRACE = 30.0


@contextlib.asynccontextmanager
async def stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """SIGTERM and SIGINT set an event: work in flight finishes or releases its leases."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def index_loop(index: SearchIndex, stop: asyncio.Event, every: float = INDEX_EVERY) -> None:
    """The index pulls the change log on its own schedule, never from the write path."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(index.sync)
        except AggregatorError as exc:
            log.warning("index.sync_failed", error=str(exc))
        except Exception:
            log.exception("index.bug")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


async def start_web(agg: Aggregator, host: str, port: int) -> Any:
    """Serve the web application; returns the runner to clean up."""
    from aiohttp import web

    runner = web.AppRunner(agg.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("web.listening", url=f"http://{host}:{port}/")
    return runner


async def supervise(stop: asyncio.Event, loops: dict[str, Callable[[], Coroutine[Any, Any, None]]]) -> None:
    """Run the named loops until ``stop``; then give them ``STOP_GRACE`` seconds to finish."""
    tasks = [asyncio.create_task(loop(), name=name) for name, loop in loops.items()]
    try:
        await stop.wait()
        await asyncio.wait(tasks, timeout=STOP_GRACE)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_everything(agg: Aggregator, host: str, port: int, stop: asyncio.Event) -> None:
    """``aggregator run``: crawling on schedule, the index, the web and the relay."""
    runner = await start_web(agg, host, port)
    try:
        crawler = await agg.crawler()
        loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "crawler": lambda: crawler.run_forever(stop),
            "index": lambda: index_loop(agg.index(), stop),
        }
        if agg.relay_targets_enabled():
            relay = await agg.relay()
            loops["relay"] = lambda: relay_while_leader(agg.relay_lock(), relay, stop)
        else:
            log.info("relay.off", reason="no configured and credentialed target")
        feeds = agg.config.bluesky_feed
        if feeds is not None and agg.bluesky_session() is not None:
            publish = agg.bluesky_publisher().publish
            loops["bluesky_feed"] = lambda: run_while_leader(
                agg.bluesky_feed_lock(), stop, lambda done: keep_in_sync(publish, done, every=feeds.sync_every))
        elif feeds is not None:
            log.info("bluesky_feed.publish_off", reason="no relay Bluesky account: the feeds are served, not published")
        await supervise(stop, loops)
    finally:
        await runner.cleanup()


async def serve(agg: Aggregator, host: str, port: int, stop: asyncio.Event) -> None:
    """``aggregator serve``: the web front end only."""
    runner = await start_web(agg, host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def crawl_forever(agg: Aggregator, stop: asyncio.Event) -> None:
    """``aggregator crawl``: a crawler worker, keeping the index up to date beside it."""
    crawler = await agg.crawler()
    await supervise(stop, {
        "crawler": lambda: crawler.run_forever(stop),
        "index": lambda: index_loop(agg.index(), stop),
    })


async def relay_forever(agg: Aggregator, stop: asyncio.Event) -> None:
    """``aggregator relay``: deliver while leading, stand by otherwise."""
    await relay_while_leader(agg.relay_lock(), await agg.relay(), stop)
