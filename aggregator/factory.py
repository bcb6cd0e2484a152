"""The composition root: ``make_aggregator(settings)`` builds and owns every resource.

Nothing else in the package creates engines, sessions, clients, pools or posters: the
store, the search index, the crawler's HTTP client and parse pool, the relay and its
targets, and the web application are all made here, from one ``Settings``, and closed here
in reverse order. The CLI, the tests and the benchmarks all build through this function,
so what runs in production is what is tested. Parts are built on first use: ``aggregator
items`` never starts a parse pool.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from . import logs
from .errors import ConfigError
from .feedgen import DidKeys, FeedGenerator, FeedRoutes, Publisher, ServiceAuth, did_web
from .feedgen import setup as mount_feed_generator
from .feedgen.publish import BLUESKY_FEED_LOCK
from .fetch.client import HttpClient
from .index import SearchIndex, open_index
from .model import Clock, Config, utcnow
from .relay import Relay, enabled_targets
from .relay.bluesky import SESSION_KEY, BlueskyPoster
from .relay.bluesky_session import BlueskySession
from .relay.leader import RELAY_LOCK
from .relay.mastodon import MastodonPoster
from .relay.targets import Target
from .settings import Settings
from .store import LeaderLock, Store
from .update.crawler import Crawler
from .update.ingest import RelayPolicy
from .update.parse_pool import ParsePool
from .update.retrieve import Retriever
from .webapp import PAGE_CACHE_SECONDS, create_app

__all__ = ["Aggregator", "Tuning", "make_aggregator"]

log = logs.get("aggregator")

#: Article pages and thumbnails for link cards: far less than a feed may weigh.
CARD_MAX_BYTES = 5 * 1024 * 1024
#: DID documents (the feed generator's JWT check): a few kilobytes.
IDENTITY_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Tuning:
    """Knobs that tests and benchmarks turn; production runs with the defaults.

    Attributes:
        parse_workers: parse processes (default: 2, or 1 on a one-core machine; 1 parses in
            the event loop's thread).
        per_host_delay: seconds between two requests to one host; None: ``settings:`` in
            ``sources.yaml`` decides.
        crawl_owner: the name this process leases sources under (default host:pid).
    """

    parse_workers: int | None = None
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 15 * 1024 * 1024
    per_host_delay: float | None = None
    crawl_owner: str | None = None
    rng: random.Random = field(default_factory=random.Random)
    page_cache_seconds: float = PAGE_CACHE_SECONDS


class Aggregator:
    """Every part of a running aggregator, built on first use and closed by the factory."""

    def __init__(self, settings: Settings, store: Store, stack: AsyncExitStack, *, clock: Clock, tuning: Tuning):
        self.settings = settings
        self.store = store
        self.clock = clock
        self.tuning = tuning
        self._stack = stack
        self._index: SearchIndex | None = None
        self._http: HttpClient | None = None
        self._card_http: HttpClient | None = None
        self._parse_pool: ParsePool | None = None
        self._crawler: Crawler | None = None
        self._targets: dict[str, Target] | None = None
        self._bluesky_session: BlueskySession | None = None
        self._identity_http: HttpClient | None = None

    @property
    def config(self) -> Config:
        return self.settings.config

    # -- search ---------------------------------------------------------------------

    def index(self) -> SearchIndex:
        """The search index: tantivy in the data dir, or PostgreSQL's own full-text search."""
        if self._index is None:
            self._index = open_index(self.store, self.settings.data_dir, clock=self.clock)
            self._stack.callback(self._index.close)
        return self._index

    # -- crawling -------------------------------------------------------------------

    def relay_policy(self) -> RelayPolicy:
        """Where the write path queues new items, and the backlog window."""
        return RelayPolicy(targets=self.config.relay.targets(), backlog=timedelta(seconds=self.config.relay.backlog))

    async def http(self) -> HttpClient:
        """The crawler's HTTP client: every download of sources goes through it."""
        if self._http is None:
            crawl = self.config.settings
            delay = self.tuning.per_host_delay
            self._http = await self._stack.enter_async_context(HttpClient(
                user_agent=crawl.user_agent,
                allow_private=self.settings.allow_private_networks,
                connect_timeout=self.tuning.connect_timeout,
                total_timeout=self.tuning.total_timeout,
                max_bytes=self.tuning.max_bytes,
                per_host_delay=crawl.per_host_delay if delay is None else delay,
                # Retry-After pauses and per-host spacing are shared by every crawler
                # process through the database on PostgreSQL; one process needs no table.
                host_blocks=self.store.hosts if self.store.dialect == "postgresql" else None,
                clock=self.clock,
            ))
        return self._http

    async def parse_pool(self) -> ParsePool:
        if self._parse_pool is None:
            workers = self.tuning.parse_workers
            if workers is None:
                workers = min(2, os.cpu_count() or 1)
            self._parse_pool = await self._stack.enter_async_context(ParsePool(workers))
        return self._parse_pool

    async def crawler(self) -> Crawler:
        if self._crawler is None:
            retriever = Retriever(await self.http(), await self.parse_pool(), self.config.settings)
            self._crawler = Crawler(
                self.store, self.config, retriever, self.relay_policy(), clock=self.clock, rng=self.tuning.rng,
                owner=self.tuning.crawl_owner, lease_seconds=self.settings.lease_seconds,
            )
        return self._crawler

    # -- relaying -------------------------------------------------------------------

    def relay_targets_enabled(self) -> tuple[str, ...]:
        """Targets both configured (``relay:``) and credentialed (environment)."""
        return enabled_targets(self.config.relay, self.settings.credentials)

    async def card_http(self) -> HttpClient:
        """A client for link cards (article pages, thumbnails): smaller bodies, shorter waits."""
        if self._card_http is None:
            self._card_http = await self._stack.enter_async_context(HttpClient(
                user_agent=self.config.settings.user_agent, allow_private=self.settings.allow_private_networks,
                max_bytes=CARD_MAX_BYTES, total_timeout=20.0, clock=self.clock,
            ))
        return self._card_http

    async def relay_targets(self) -> Mapping[str, Target]:
        """The enabled targets, connected lazily (no login until the first post)."""
        if self._targets is None:
            targets: dict[str, Target] = {}
            relay, credentials = self.config.relay, self.settings.credentials
            for name in self.relay_targets_enabled():
                if name == "mastodon":
                    assert relay.mastodon is not None and credentials.mastodon_token
                    targets[name] = MastodonPoster(relay.mastodon, credentials.mastodon_token,
                                                   user_agent=self.config.settings.user_agent, clock=self.clock)
                else:
                    session = self.bluesky_session()
                    assert relay.bluesky is not None and session is not None
                    targets[name] = BlueskyPoster(relay.bluesky, session, http=await self.card_http(), clock=self.clock)
                self._stack.push_async_callback(targets[name].close)
            self._targets = targets
        return self._targets

    def bluesky_session(self) -> BlueskySession | None:
        """The relay account's session (one per process: the relay and the feed publisher
        share it), or None when ``relay: bluesky:`` or its credentials are missing."""
        relay, credentials = self.config.relay, self.settings.credentials
        if relay.bluesky is None or not credentials.bluesky_handle or not credentials.bluesky_password:
            return None
        if self._bluesky_session is None:
            self._bluesky_session = BlueskySession(
                relay.bluesky.service, credentials.bluesky_handle, credentials.bluesky_password,
                load_session=self._load_bluesky_session, save_session=self._save_bluesky_session,
            )
            self._stack.push_async_callback(self._bluesky_session.close)
        return self._bluesky_session

    async def _load_bluesky_session(self) -> str | None:
        return await asyncio.to_thread(self.store.meta.get, SESSION_KEY)

    async def _save_bluesky_session(self, value: str) -> None:
        await asyncio.to_thread(self.store.meta.set, SESSION_KEY, value)

    async def relay(self) -> Relay:
        """The delivery loop over the enabled targets (none: it delivers nothing)."""
        return Relay(self.store, self.config.relay, await self.relay_targets(), clock=self.clock)

    def relay_lock(self) -> LeaderLock:
        return self.store.leader_lock(RELAY_LOCK)

    # -- the Bluesky feed generator, list and starter pack ------------------------------

    def feed_generator_did(self) -> str | None:
        """Our did:web when ``bluesky_feed:`` is configured, else None.

        Raises:
            ConfigError: ``bluesky_feed:`` without a usable ``AGGREGATOR_BASE_URL``.
        """
        if self.config.bluesky_feed is None:
            return None
        if self.settings.base_url is None:
            raise ConfigError("the Bluesky feed generator needs AGGREGATOR_BASE_URL (its did:web is made from it)",
                              file=self.config.path, field="bluesky_feed")
        return did_web(self.settings.base_url)

    async def identity_http(self) -> HttpClient:
        """A client for DID documents (service JWTs): small answers, short waits, no spacing."""
        if self._identity_http is None:
            self._identity_http = await self._stack.enter_async_context(HttpClient(
                user_agent=self.config.settings.user_agent, allow_private=self.settings.allow_private_networks,
                max_bytes=IDENTITY_MAX_BYTES, connect_timeout=3.0, total_timeout=4.0, per_host_delay=0.0,
                per_host_limit=4, max_redirects=2, clock=self.clock,
            ))
        return self._identity_http

    def bluesky_publisher(self) -> Publisher:
        """Writes the feed, list and starter pack records (``bluesky publish``, ``run``).

        Raises:
            ConfigError: no ``bluesky_feed:``, no base URL, or no relay account to publish with.
        """
        did = self.feed_generator_did()
        session = self.bluesky_session()
        if did is None or self.config.bluesky_feed is None:
            raise ConfigError("no bluesky_feed: section", file=self.config.path, field="bluesky_feed")
        if session is None:
            raise ConfigError("publishing needs the relay's Bluesky account: relay: bluesky: in sources.yaml, "
                              "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD in the environment",
                              file=self.config.path, field="relay.bluesky")
        return Publisher(session, self.config.bluesky_feed, generator_did=did, store=self.store,
                         config_dir=self.settings.config_path.parent, clock=self.clock)

    def bluesky_feed_lock(self) -> LeaderLock:
        return self.store.leader_lock(BLUESKY_FEED_LOCK)

    # -- the web --------------------------------------------------------------------

    def web_app(self, *, with_index: bool = True) -> web.Application:
        """The readers' web application over this store and index (and the feed generator's
        routes when ``bluesky_feed:`` is configured)."""
        app = create_app(
            store=self.store, config=self.config, index=self.index() if with_index else None, clock=self.clock,
            cache_seconds=self.tuning.page_cache_seconds,
        )
        did = self.feed_generator_did()
        if did is not None and self.config.bluesky_feed is not None and self.settings.base_url is not None:
            keys = DidKeys(self.identity_http, plc=self.config.bluesky_feed.plc, clock=self.clock)
            mount_feed_generator(app, FeedRoutes(
                generator=FeedGenerator(did, self.config.bluesky_feed), base_url=self.settings.base_url,
                store=self.store, auth=ServiceAuth(did, keys, self.clock),
            ))
        return app


@asynccontextmanager
async def make_aggregator(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    tuning: Tuning | None = None,
    store: Store | None = None,
    migrate: bool = True,
    mirror_config: bool = True,
) -> AsyncIterator[Aggregator]:
    """Build the aggregator; everything it opened is closed when the block ends.

    Args:
        store: an open store the caller owns (tests share one between several builds);
            by default the factory opens ``settings.database_url`` and closes it.
        migrate: bring the schema up to date first (``db upgrade`` passes False and does it).
        mirror_config: mirror ``sources.yaml`` into the store (added, changed and removed
            sources), so every process sees the configuration it was started with; False
            for commands that run without reading the file.
    """
    async with AsyncExitStack() as stack:
        if store is None:
            store = Store(settings.database_url, clock=clock)
            stack.callback(store.close)
        if migrate:
            store.upgrade()
        if mirror_config:
            store.sources.sync(settings.config.sources)
        yield Aggregator(settings, store, stack, clock=clock, tuning=tuning or Tuning())
