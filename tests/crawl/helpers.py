"""Building real crawlers for tests: the real HTTP client, parser and store."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from aggregator.config import parse_config
from aggregator.fetch.client import HttpClient
from aggregator.model import Config
from aggregator.store import Store
from aggregator.update.crawler import Crawler
from aggregator.update.readers import FeedParser, SourceReader

UA = "aggregator-tests/0.1 (+https://example.invalid/contact)"


def rss(items: list[tuple[str, str]], *, title: str = "Le Site", link: str = "https://site.example/",
        extra: str = "", when: datetime | None = None) -> str:
    """A small French SPIP-like RSS 2.0 document; ``items`` are (guid, title)."""
    when = when or datetime(2026, 11, 20, 10, 0)
    body = []
    for n, (guid, item_title) in enumerate(items):
        date = (when - timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        body.append(
            f"<item><title>{item_title}</title><link>https://site.example/spip.php?article{guid}&amp;utm_source=rss</link>"
            f"<guid isPermaLink=\"false\">{guid}</guid><pubDate>{date}</pubDate>"
            f"<description><![CDATA[<p>Texte de l'article {guid}, à propos de la grève.</p>{extra}]]></description></item>"
        )
    return (
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel>"
        f"<title>{title}</title><link>{link}</link><description>Infos</description><language>fr</language>"
        + "".join(body)
        + "</channel></rss>"
    )


def config_for(yaml_sources: str, *, relay: str = "") -> Config:
    return parse_config("sources:\n" + yaml_sources + relay, "test-sources.yaml")


@asynccontextmanager
async def crawler(store: Store, config: Config, *, total_timeout: float = 5.0, max_bytes: int = 15 * 1024 * 1024,
                  per_host_delay: float = 0.0) -> AsyncIterator[Crawler]:
    """A crawler allowed onto loopback, with test-sized timeouts, over the store's clock."""
    store.sources.sync(config.sources)
    async with HttpClient(user_agent=UA, allow_private=True, total_timeout=total_timeout, connect_timeout=2.0,
                          max_bytes=max_bytes, per_host_delay=per_host_delay, clock=store.db.clock) as http:
        reader = SourceReader(http, FeedParser(None), config.settings)
        yield Crawler(store, config, reader, clock=store.db.clock, rng=random.Random(7), owner="test")
