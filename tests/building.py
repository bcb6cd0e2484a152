"""Building the aggregator in tests: through the factory production uses, with test-sized knobs.

``aggregator_for`` gives an ``Aggregator`` over a test's store (its clock included), and
``store_entries`` stores parsed entries through the one write path (``ingest``), the way
the crawler does.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from aggregator.factory import Aggregator, Tuning, make_aggregator
from aggregator.model import Config, EntryData, RelayConfig, SourceConfig
from aggregator.relay import Relay
from aggregator.settings import Credentials, Settings
from aggregator.store import Store
from aggregator.update.ingest import Ingested, RelayPolicy, ingest

UA = "aggregator-tests/0.1 (+https://example.invalid/contact)"


def loopback_tuning(**overrides: Any) -> Tuning:
    """Loopback-sized timeouts, no politeness delay, parsing in-process, a seeded jitter."""
    base = Tuning(parse_workers=1, connect_timeout=2.0, total_timeout=5.0, per_host_delay=0.0,
                  crawl_owner="test", rng=random.Random(7), page_cache_seconds=0.0)
    return replace(base, **overrides)


def settings_for(
    config: Config,
    *,
    database_url: str = "sqlite://",
    data_dir: Path | None = None,
    credentials: Credentials | None = None,
    base_url: str | None = None,
    smtp_url: str | None = None,
) -> Settings:
    """Settings as ``load_settings`` would make them, allowed onto loopback, with the tests' User-Agent."""
    if config.settings.user_agent != UA:
        config = replace(config, settings=replace(config.settings, user_agent=UA))
    return Settings(
        config_path=Path(config.path),
        data_dir=data_dir or Path(tempfile.mkdtemp(prefix="aggregator-test-")),
        database_url=database_url,
        config=config,
        allow_private_networks=True,
        base_url=base_url,
        smtp_url=smtp_url,
        credentials=credentials or Credentials(),
    )


@asynccontextmanager
async def aggregator_for(
    store: Store,
    config: Config,
    *,
    data_dir: Path | None = None,
    credentials: Credentials | None = None,
    base_url: str | None = None,
    smtp_url: str | None = None,
    mirror_config: bool = True,
    **tuning: Any,
) -> AsyncIterator[Aggregator]:
    """The aggregator over the test's open store (which the test keeps and closes).

    ``mirror_config=False`` leaves the store's sources as the test put them (for a config
    that only carries, say, a ``relay:`` section).
    """
    settings = settings_for(config, database_url=store.url, data_dir=data_dir, credentials=credentials,
                            base_url=base_url, smtp_url=smtp_url)
    async with make_aggregator(settings, clock=store.db.clock, store=store, tuning=loopback_tuning(**tuning),
                               migrate=False, mirror_config=mirror_config) as agg:
        yield agg


class Relays:
    """Relays built through the factory for one test, all closed when the test ends."""

    def __init__(self, stack: AsyncExitStack):
        self.stack = stack

    async def open(self, store: Store, relay: RelayConfig, credentials: Credentials) -> Relay:
        config = Config(sources=(), relay=relay)
        agg = await self.stack.enter_async_context(
            aggregator_for(store, config, credentials=credentials, mirror_config=False))
        return await agg.relay()


def store_entries(
    store: Store,
    source: SourceConfig,
    entries: Sequence[EntryData],
    *,
    targets: tuple[str, ...] = (),
    backlog: timedelta = timedelta(hours=24),
) -> Ingested:
    """Store entries the way the crawler does: the write path, at the store clock's time."""
    return ingest(store, source, entries, now=store.db.clock(), policy=RelayPolicy(targets, backlog))
