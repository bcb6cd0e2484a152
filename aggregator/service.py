"""The long-running commands: what ``run``, ``serve``, ``crawl`` and ``relay`` keep doing.

Each is a set of named loops over one ``Aggregator`` that stop together when ``stop`` is
set (SIGTERM or SIGINT, see ``stop_on_signals``). ``run`` is all of them in one process;
the others are one part each, for deployments that scale parts apart (docs/deploy.md).
``run`` and crawler workers also follow ``sources.yaml`` (``watch_config``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from . import logs
from .config import parse_config
from .digest.deliver import reclaim_after_for
from .errors import AggregatorError, ConfigError, UsageError
from .factory import Aggregator
from .feedgen import keep_in_sync
from .index import SearchIndex
from .model import Config
from .relay.leader import relay_while_leader
from .store import run_while_leader
from .waits import first_of, pause

log = logs.get("aggregator")

#: How often the index pulls the change log (``run`` and crawler workers).
INDEX_EVERY = 5.0
#: How long the loops get to finish their work in flight after ``stop``.
STOP_GRACE = 30.0
#: How often ``sources.yaml`` is looked at (its size and modification time; SIGHUP: at once).
CONFIG_POLL = 3.0
#: A changed file is read once it has stayed the same this long (an editor may be writing).
CONFIG_SETTLE = 0.5
#: The newsletter looks for a due digest this often; housekeeping runs hourly.
DIGEST_EVERY = 60.0
#: Re-confirmation mails asked per hour at most (beside the digests' own hourly cap).
RECONFIRM_BATCH = 50


@contextlib.asynccontextmanager
async def stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """SIGTERM and SIGINT set an event: work in flight finishes or releases its leases.

    The signal and the end of the shutdown are logged (``service.stopping``,
    ``service.stopped``): an operator reading the logs sees why the process ended.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(name: str) -> None:
        if not stop.is_set():
            log.info("service.stopping", signal=name, grace_seconds=STOP_GRACE)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping, sig.name)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if stop.is_set():
            log.info("service.stopped")


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


async def watch_config(agg: Aggregator, stop: asyncio.Event, *, every: float = CONFIG_POLL) -> None:
    """Follow ``sources.yaml``: reload it when it changes, or at once on SIGHUP.

    The file's size and modification time are looked at every ``every`` seconds; when
    they change (and then stay still for a moment), or on SIGHUP, the file is read and,
    if its text is new, validated. A valid file is applied (``Aggregator.reload``) and
    what changed is logged; an invalid one is refused with every error logged, and the
    process keeps running on the configuration it had.
    """
    path = agg.settings.config_path
    hup = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, hup.set)
    stamp = _file_stamp(path)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = None
    try:
        while not stop.is_set():
            await first_of(stop, hup, timeout=every)
            if stop.is_set():
                break
            trigger = "SIGHUP" if hup.is_set() else "file"
            hup.clear()
            now = _file_stamp(path)
            if trigger == "file":
                if now == stamp:
                    continue
                await first_of(stop, timeout=CONFIG_SETTLE)
                if _file_stamp(path) != now:
                    continue  # still being written: look again at the next poll
            stamp = now
            try:
                data = path.read_bytes()
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                log.error("config.unreadable", file=str(path), error=str(exc), kept="the running configuration")
                continue
            new_digest = hashlib.sha256(data).hexdigest()
            if new_digest == digest:
                if trigger == "SIGHUP":
                    log.info("config.unchanged", file=str(path), trigger=trigger)
                continue
            digest = new_digest
            try:
                config = parse_config(text, str(path))
            except ConfigError as exc:
                for error in exc.errors:
                    log.error("config.invalid", error=str(error))
                log.error("config.kept", file=str(path), errors=len(exc.errors), trigger=trigger,
                          hint="fix the file; the previous configuration runs until then")
                continue
            await _apply_config(agg, config, trigger)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGHUP)


async def _apply_config(agg: Aggregator, config: Config, trigger: str) -> None:
    try:
        change = await agg.reload(config)
    except AggregatorError as exc:  # the database refused the mirror: try again next change
        log.error("config.reload_failed", error=str(exc))
        return
    for warning in config.warnings:
        log.warning("config.warning", warning=warning)
    if change.empty:
        log.info("config.unchanged", file=str(agg.settings.config_path), trigger=trigger)
        return
    log.info(
        "config.reloaded", file=str(agg.settings.config_path), trigger=trigger, sources=len(config.sources),
        added=", ".join(change.added) or "-", removed=", ".join(change.removed) or "-",
        changed=", ".join(change.changed) or "-",
    )
    if change.restart_needed:
        log.warning("config.restart_needed", settings=", ".join(change.restart_needed),
                    hint="these changes apply at the next start")


async def index_loop(index: SearchIndex, stop: asyncio.Event, every: float = INDEX_EVERY) -> None:
    """The index pulls the change log on its own schedule, never from the write path."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(index.sync)
        except AggregatorError as exc:
            log.warning("index.sync_failed", error=str(exc))
        except Exception:
            log.exception("index.bug")
        await pause(stop, every)


async def start_web(agg: Aggregator, host: str, port: int) -> Any:
    """Serve the web application; returns the runner to clean up."""
    from aiohttp import web

    from .webapp.server_log import server_logger

    # No access log (readers' requests are not recorded); malformed requests: one short
    # rate-limited warning each instead of aiohttp's traceback (webapp/server_log.py).
    runner = web.AppRunner(agg.web_app(), access_log=None, logger=server_logger())
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(listen_problem(host, port, exc)) from exc
    log.info("web.listening", url=f"http://{host}:{port}/")
    return runner


def listen_problem(host: str, port: int, exc: OSError) -> str:
    """One line saying why we cannot listen on ``host:port`` and what to do."""
    where = f"cannot listen on {host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"{where}: the port is already in use (another aggregator, or another program); "
                f"choose another port: --port {port + 1} (with make: make run PORT={port + 1})")
    if exc.errno == errno.EACCES:
        return (f"{where}: permission denied (ports below 1024 need privileges); "
                "use a port such as --port 8080 (make run PORT=8080) behind a reverse proxy")
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"{where}: this machine has no such address; check --host (make run HOST=...), e.g. 127.0.0.1 or 0.0.0.0"
    return f"{where}: {exc.strerror or exc}; check --host and --port (make run HOST=... PORT=...)"


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
        await sync_follows(agg)
        crawler = await agg.crawler()
        loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "crawler": lambda: crawler.run_forever(stop),
            "index": lambda: index_loop(agg.index(), stop),
            "config": lambda: watch_config(agg, stop),
        }
        if agg.relay_targets_enabled():
            relay = await agg.relay()
            loops["relay"] = lambda: relay_while_leader(agg.relay_lock(), relay, stop)
        else:
            log.info("relay.off", reason="no configured and credentialed target")
        off = agg.newsletter_off_reason()
        if off is None:
            loops["digest"] = lambda: newsletter_while_leader(agg, stop)
        elif agg.config.digest is not None:
            log.warning("digest.off", reason=off)  # configured but unable to send: say so once
        else:
            log.info("digest.off", reason=off)
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


async def sync_follows(agg: Aggregator) -> None:
    """Undo the follows of removed ``activitypub`` sources; a failure waits for the next start."""
    try:
        undone = await agg.sync_follows()
    except AggregatorError as exc:
        log.warning("activitypub.unfollow_failed", error=str(exc))
        return
    if undone:
        log.info("activitypub.unfollowed", follows=undone)


async def crawl_forever(agg: Aggregator, stop: asyncio.Event) -> None:
    """``aggregator crawl``: a crawler worker, keeping the index up to date beside it."""
    await sync_follows(agg)
    crawler = await agg.crawler()
    await supervise(stop, {
        "crawler": lambda: crawler.run_forever(stop),
        "index": lambda: index_loop(agg.index(), stop),
        "config": lambda: watch_config(agg, stop),
    })


async def relay_forever(agg: Aggregator, stop: asyncio.Event) -> None:
    """``aggregator relay``: deliver while leading, stand by otherwise."""
    await relay_while_leader(agg.relay_lock(), await agg.relay(), stop)


async def newsletter_while_leader(agg: Aggregator, stop: asyncio.Event, *, every: float = DIGEST_EVERY) -> None:
    """The daily digest on schedule, with the subscriptions' housekeeping and the yearly
    re-confirmations, in one process of several (``agg.digest_lock()``)."""
    lock = agg.digest_lock()
    newsletter = agg.newsletter(reclaim_after=reclaim_after_for(lock.mechanism))
    subscriptions = agg.subscriptions()

    async def chores() -> None:
        await asyncio.to_thread(subscriptions.housekeeping)
        if not newsletter.list_mode:
            await subscriptions.send_reconfirmations(limit=RECONFIRM_BATCH)

    async def work(done: asyncio.Event) -> None:
        await newsletter.run_forever(done, interval=every, chores=chores)

    await run_while_leader(lock, stop, work)
