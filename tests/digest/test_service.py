"""``run`` sends the newsletter on schedule, behind the digest lock, and says once why it
does not when the SMTP server or the public base URL is missing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from aggregator import service
from aggregator.logs import record_fields
from aggregator.model import Config, DigestConfig
from aggregator.store import Store
from tests.building import aggregator_for
from tests.conftest import free_port

from .conftest import SOURCES, SmtpServer, article, at, save, subscribe

DIGEST = DigestConfig(from_address="lettre@medias.example.org")
#: No source to crawl (the crawler idles); the stories are stored by the test.
CONFIG = Config(sources=(), digest=DIGEST)


async def until(check: Callable[[], Any], timeout: float = 60.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(wait(), timeout)


def news(store: Store, clock: Any) -> None:
    store.sources.sync(SOURCES)
    clock.now = at("2026-11-16 09:00")
    subscribe(store, "jamais-confirmee@example.org", confirm=False)  # forgotten after 3 days
    clock.now = at("2026-11-19 09:00")
    save(store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/1")])
    subscribe(store, "camille@example.org")
    clock.now = at("2026-11-20 06:30")  # the 20th's digest is due since 06:00 UTC (07:00 in Paris)


async def test_run_sends_the_digest_on_schedule(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    news(sqlite_store, clock)
    async with aggregator_for(sqlite_store, CONFIG, base_url="https://medias.example.org",
                              smtp_url=smtp_server.url) as agg:
        stop = asyncio.Event()
        running = asyncio.create_task(service.run_everything(agg, "127.0.0.1", free_port(), stop))
        # the digest goes out, then the hourly chores forget the address never confirmed
        await until(lambda: (smtp_server.sink.received and sqlite_store.subscribers.counts()["pending"] == 0)
                    or running.done())
        # the lock is taken: a second sender (digest send) would stand aside
        assert not agg.store.leader_lock("digest").try_acquire()
        stop.set()
        await asyncio.wait_for(running, 60)
    [mail] = smtp_server.sink.received
    assert mail.rcpt_tos == ["camille@example.org"] and "Grève générale" in mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert sqlite_store.digests.latest().sent is not None  # type: ignore[union-attr]
    assert sqlite_store.subscribers.counts()["pending"] == 0  # the housekeeping ran too
    with sqlite_store.leader_lock("digest") as lock:
        assert lock.try_acquire()  # released on stop


@pytest.mark.parametrize(("base_url", "smtp", "reason"), [
    (None, True, "AGGREGATOR_BASE_URL"),
    ("https://medias.example.org", False, "AGGREGATOR_SMTP_URL"),
])
async def test_run_without_base_url_or_smtp_keeps_serving_and_says_why_once(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture,
    base_url: str | None, smtp: bool, reason: str,
) -> None:
    news(sqlite_store, clock)
    port = free_port()
    with caplog.at_level(logging.INFO, logger="aggregator"):
        async with aggregator_for(sqlite_store, CONFIG, base_url=base_url,
                                  smtp_url=smtp_server.url if smtp else None) as agg:
            stop = asyncio.Event()
            running = asyncio.create_task(service.run_everything(agg, "127.0.0.1", port, stop))
            await until(lambda: any(r.getMessage() == "web.listening" for r in caplog.records) or running.done())
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/digest") as page:
                assert page.status == 200  # everything else runs: the archive, the river…
            stop.set()
            await asyncio.wait_for(running, 60)
    off = [r for r in caplog.records if r.getMessage() == "digest.off"]
    assert len(off) == 1 and reason in record_fields(off[0])["reason"]
    assert smtp_server.sink.received == [] and sqlite_store.digests.latest() is None
    assert sqlite_store.subscribers.counts()["pending"] == 1
