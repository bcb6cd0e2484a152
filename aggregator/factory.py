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
import dataclasses
import os
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .activitypub.delivery import FanoutSettings
    from .fediverse.federation import Federation
    from .feedgen import Publisher
    from .relay.bluesky_session import BlueskySession

from . import logs
from .config import ConfigChange, reloadable
from .digest import Newsletter, SmtpTransport, Subscriptions, parse_smtp_url
from .digest import routes as digest_routes
from .digest.deliver import RECLAIM_AFTER
from .errors import ConfigError
from .fetch.client import HttpClient
from .index import SearchIndex, open_index
from .model import Clock, Config, DigestConfig, utcnow
from .relay import Relay, enabled_targets
from .relay.leader import RELAY_LOCK
from .relay.preview import RelayPreview
from .relay.targets import BLUESKY_SESSION_KEY, Target
from .settings import Settings
from .store import LeaderLock, Store, usage
from .suggestions import SuggestDeps
from .suggestions import setup as mount_suggestions
from .suggestions.check import CHECK_SECONDS
from .update.crawler import Crawler
from .update.ingest import RelayPolicy
from .update.parse_pool import ParsePool
from .update.retrieve import Retriever
from .webapp import PAGE_CACHE_SECONDS, create_app

__all__ = ["Aggregator", "Tuning", "make_aggregator"]

log = logs.get("aggregator")

#: The newsletter's lock (``digest_lock``): one process sends.
DIGEST_LOCK = "digest"
#: What the newsletter's reading-only uses (``digest show``, ``--dry-run``) put where the
#: public base URL goes: they render no link.
OFFLINE_BASE_URL = "http://localhost"

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
        crawl_owner: the name this process leases sources under (default host:pid+start, update/owners.py).
    """

    parse_workers: int | None = None
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 15 * 1024 * 1024
    per_host_delay: float | None = None
    crawl_owner: str | None = None
    rng: random.Random = field(default_factory=random.Random)
    page_cache_seconds: float = PAGE_CACHE_SECONDS
    fanout: FanoutSettings | None = None  # the ActivityPub fan-out's back-off, spread, staleness
    suggest_check_seconds: float = CHECK_SECONDS


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
        self._retriever: Retriever | None = None
        self._targets: dict[str, Target] | None = None
        self._federation: Federation | None = None
        self._mail: SmtpTransport | None = None
        self._bluesky_session: BlueskySession | None = None
        self._identity_http: HttpClient | None = None

    @property
    def config(self) -> Config:
        return self.settings.config

    # -- configuration ----------------------------------------------------------------

    async def reload(self, config: Config) -> ConfigChange:
        """Run with a new ``sources.yaml`` (already validated) from now on.

        The sources are mirrored into the store (the web, the relay and other processes
        read them there) and the crawler, if built, takes the new configuration between
        two batches. What only a restart can apply (the HTTP client's settings, the
        relay's targets, the newsletter) keeps running as it was: ``restart_needed`` says
        which (``config.reloadable``).
        """
        applied, change = reloadable(self.config, config)
        if change.added or change.removed or change.changed:
            await asyncio.to_thread(self.store.sources.sync, applied.sources)
        self.settings = dataclasses.replace(self.settings, config=applied)
        if self._crawler is not None:
            self._crawler.reconfigure(applied)
        return change

    # -- search ---------------------------------------------------------------------

    def index(self) -> SearchIndex:
        """The search index: tantivy in the data dir, or PostgreSQL's own full-text search."""
        if self._index is None:
            self._index = open_index(self.store, self.settings.data_dir, clock=self.clock)
            self._stack.callback(self._index.close)
        return self._index

    # -- crawling -------------------------------------------------------------------

    def relay_policy(self) -> RelayPolicy:
        """Where the write path queues new items, and the backlog window (ActivityPub also
        mirrors edits and deletions)."""
        ap = ("activitypub",) if self.activitypub_enabled() else ()
        return RelayPolicy(targets=self.config.relay.targets() + ap, backlog=timedelta(seconds=self.config.relay.backlog),
                           synced=ap)

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

    async def retriever(self) -> Retriever:
        """Fetch + parse of one source, over the crawler's client and pool (the crawler, suggestions)."""
        if self._retriever is None:
            follows = self.federation().follows if self.activitypub_enabled() else None
            self._retriever = Retriever(await self.http(), await self.parse_pool(), self.config.settings, follows=follows)
        return self._retriever

    async def crawler(self) -> Crawler:
        if self._crawler is None:
            self._crawler = Crawler(
                self.store, self.config, await self.retriever(), self.relay_policy(), clock=self.clock, rng=self.tuning.rng,
                owner=self.tuning.crawl_owner, lease_seconds=self.settings.lease_seconds,
            )
        return self._crawler

    # -- relaying -------------------------------------------------------------------

    def relay_targets_enabled(self) -> tuple[str, ...]:
        """Targets both configured (``relay:``) and credentialed (environment), and ActivityPub."""
        ap = ("activitypub",) if self.activitypub_enabled() else ()
        return enabled_targets(self.config.relay, self.settings.credentials) + ap

    async def card_http(self) -> HttpClient:
        """A client for link cards (article pages, thumbnails): smaller bodies, shorter waits."""
        if self._card_http is None:
            self._card_http = await self._stack.enter_async_context(HttpClient(
                user_agent=self.config.settings.user_agent, allow_private=self.settings.allow_private_networks,
                max_bytes=CARD_MAX_BYTES, total_timeout=20.0, clock=self.clock,
            ))
        return self._card_http

    async def relay_targets(self) -> Mapping[str, Target]:
        """The enabled targets, connected lazily (no login until the first post).

        Their client libraries are imported here: they take seconds to import, and only
        a process that posts needs them (``aggregator items`` does not).
        """
        if self._targets is None:
            # Imported here: the Mastodon and Bluesky clients take seconds to import, and
            # most commands (crawl --once, digest send…) never post.
            from .relay.bluesky import BlueskyPoster
            from .relay.mastodon import MastodonPoster

            targets: dict[str, Target] = {}
            relay, credentials = self.config.relay, self.settings.credentials
            for name in self.relay_targets_enabled():
                if name == "activitypub":
                    from .relay.activitypub import ActivityPubTarget

                    fed = self.federation()
                    targets[name] = ActivityPubTarget(urls=fed.urls, log_=self.store.ap_deliveries,
                                                      followers=self.store.ap_followers, spread=fed.fanout.spread,
                                                      wake=fed.fanout.wake.set, clock=self.clock)
                elif name == "mastodon":
                    from .relay.mastodon import MastodonPoster

                    assert relay.mastodon is not None and credentials.mastodon_token
                    targets[name] = MastodonPoster(relay.mastodon, credentials.mastodon_token,
                                                   user_agent=self.config.settings.user_agent, clock=self.clock)
                else:
                    from .relay.bluesky import BlueskyPoster

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
            from .relay.bluesky_session import BlueskySession  # the SDK: imported by those who post

            self._bluesky_session = BlueskySession(
                relay.bluesky.service, credentials.bluesky_handle, credentials.bluesky_password,
                load_session=self._load_bluesky_session, save_session=self._save_bluesky_session,
            )
            self._stack.push_async_callback(self._bluesky_session.close)
        return self._bluesky_session

    async def _load_bluesky_session(self) -> str | None:
        return await asyncio.to_thread(self.store.meta.get, BLUESKY_SESSION_KEY)

    async def _save_bluesky_session(self, value: str) -> None:
        await asyncio.to_thread(self.store.meta.set, BLUESKY_SESSION_KEY, value)

    async def relay(self) -> Relay:
        """The delivery loop over the enabled targets (none: it delivers nothing)."""
        fanout = self.federation().fanout if self.activitypub_enabled() else None
        return Relay(self.store, self.config.relay, await self.relay_targets(), clock=self.clock, fanout=fanout)

    async def relay_preview(self) -> RelayPreview:
        """The dry run over every configured target, credentialed or not: no poster is built."""
        return RelayPreview(self.store, self.config.relay, self.relay_policy().targets,
                            http=await self.card_http(), clock=self.clock)

    def relay_lock(self) -> LeaderLock:
        return self.store.leader_lock(RELAY_LOCK)

    # -- the newsletter -------------------------------------------------------------

    def digest_config(self) -> DigestConfig:
        """The ``digest:`` section. Raises ConfigError when there is none."""
        if self.config.digest is None:
            raise ConfigError("no digest: section: the newsletter is off", file=self.config.path)
        return self.config.digest

    def newsletter_off_reason(self) -> str | None:
        """Why the newsletter cannot send from this process, in one line; None when it can
        (the same check, and the same words, as the commands that send)."""
        try:
            self._require_sending()
        except ConfigError as exc:
            return str(exc)
        return None

    def _require_sending(self) -> str:
        """The base URL, once everything sending needs is there.

        Raises:
            ConfigError: one line naming what is missing or wrong (``run`` logs it instead).
        """
        self.digest_config()
        if self.settings.base_url is None:
            raise ConfigError("not set: mails need the site's public address for their links, e.g. "
                              "https://medias.example.org; no mail is sent without it",
                              file="environment", field="AGGREGATOR_BASE_URL")
        if self.settings.smtp_url is None:
            raise ConfigError("not set: e.g. smtp://user:password@mail.example.org:587 (see docs/newsletter.md)",
                              file="environment", field="AGGREGATOR_SMTP_URL")
        parse_smtp_url(self.settings.smtp_url)
        return self.settings.base_url

    def mail_transport(self) -> SmtpTransport:
        """The SMTP client (``AGGREGATOR_SMTP_URL``), connected on first use, shared by the
        newsletter and the subscription pages of this process, closed by the factory."""
        if self._mail is None:
            self._require_sending()
            assert self.settings.smtp_url is not None
            self._mail = SmtpTransport(parse_smtp_url(self.settings.smtp_url))
            self._stack.push_async_callback(self._mail.close)
        return self._mail

    def newsletter(self, *, sending: bool = True, reclaim_after: timedelta = RECLAIM_AFTER) -> Newsletter:
        """The delivery loop. ``sending=False`` reads and counts only (``digest show``,
        ``--dry-run``): no base URL or SMTP server needed, nothing sent.

        ``reclaim_after``: how old a ``sending`` claim must be before it is taken as a dead
        process's; the caller that holds the digest lock on a lock that dies with its
        holder (``digest_lock().mechanism == "file"``) may pass 0.
        """
        config = self.digest_config()
        if not sending:
            return Newsletter(self.store, config, base_url=self.settings.base_url or OFFLINE_BASE_URL,
                              clock=self.clock, reclaim_after=reclaim_after)
        return Newsletter(self.store, config, base_url=self._require_sending(), transport=self.mail_transport(),
                          clock=self.clock, reclaim_after=reclaim_after)

    def subscriptions(self, *, sending: bool = True) -> Subscriptions:
        """Subscribing and unsubscribing; ``sending=False`` for flows that send nothing
        (unsubscribing, ``subscribers remove``)."""
        config = self.digest_config()
        if not sending:
            return Subscriptions(self.store, config, base_url=self.settings.base_url or OFFLINE_BASE_URL,
                                 transport=None, clock=self.clock)
        return Subscriptions(self.store, config, base_url=self._require_sending(), transport=self.mail_transport(),
                             clock=self.clock)

    def digest_lock(self) -> LeaderLock:
        """One process sends the newsletter (``run`` or ``digest send``)."""
        return self.store.leader_lock(DIGEST_LOCK)

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
        from .feedgen.identity import did_web

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
        from .feedgen import Publisher

        return Publisher(session, self.config.bluesky_feed, generator_did=did, store=self.store,
                         config_dir=self.settings.config_path.parent, clock=self.clock)

    def bluesky_feed_lock(self) -> LeaderLock:
        from .feedgen.publish import BLUESKY_FEED_LOCK

        return self.store.leader_lock(BLUESKY_FEED_LOCK)

    # -- the fediverse (docs/activitypub.md) ------------------------------------------

    def activitypub_enabled(self) -> bool:
        """The ``activitypub:`` section is present and the public base URL is known."""
        return self.config.activitypub is not None and self.settings.base_url is not None

    def check_activitypub(self) -> None:
        """``serve`` and ``run`` refuse an actor without the base URL its ids are built from."""
        if self.config.activitypub is not None and self.settings.base_url is None:
            raise ConfigError("the activitypub: section needs AGGREGATOR_BASE_URL (every id of the actor is built from it)",
                              file="environment", field="AGGREGATOR_BASE_URL")

    def federation(self) -> Federation:
        """Our actor's parts (keys, transport, inbox, handler, follows, fan-out); built once."""
        if self._federation is None:
            self.check_activitypub()
            assert self.settings.base_url is not None and self.config.activitypub is not None
            from .fediverse.federation import build_federation

            self._federation = build_federation(
                store=self.store, config=self.config, base_url=self.settings.base_url,
                allow_private=self.settings.allow_private_networks, policy=self.relay_policy(), clock=self.clock,
                rng=self.tuning.rng, fanout=self.tuning.fanout,
            )
            self._stack.push_async_callback(self._federation.close)
            self._federation.purge_blocked()
        return self._federation

    async def sync_follows(self) -> int:
        """Undo the follows of ``activitypub`` sources that left ``sources.yaml`` (``crawl``, ``run``)."""
        if not self.activitypub_enabled():
            return 0
        configured = {s.slug: s.actor for s in self.config.sources if s.kind == "activitypub"}
        return await self.federation().follows.prune(configured)

    # -- the web --------------------------------------------------------------------

    def web_app(self, *, with_index: bool = True) -> web.Application:
        """The readers' web application over this store and index, with ``/suggest`` mounted, the
        newsletter's pages when the ``digest:`` section is present, the feed generator's
        routes when ``bluesky_feed:`` is, and the ActivityPub actor's when ``activitypub:`` is."""
        self.check_activitypub()
        app = create_app(
            store=self.store, config=self.config, index=self.index() if with_index else None, clock=self.clock,
            cache_seconds=self.tuning.page_cache_seconds, base_url=self.settings.base_url,
        )
        mount_suggestions(app, SuggestDeps(
            store=self.store.suggestions, retriever=self.retriever, clock=self.clock,
            check_seconds=self.tuning.suggest_check_seconds,
        ))
        if self.config.digest is not None:
            off = self.newsletter_off_reason()
            digest_routes.setup(app, digest_routes.DigestDeps(
                store=self.store, config=self.config.digest, clock=self.clock, base_url=self.settings.base_url,
                subscriptions=self.subscriptions(sending=off is None), closed_reason=off,
            ))
        did = self.feed_generator_did()
        if did is not None and self.config.bluesky_feed is not None and self.settings.base_url is not None:
            # Imported only when configured: the feed generator brings the Bluesky SDK along.
            from .feedgen import DidKeys, FeedGenerator, FeedRoutes, ServiceAuth
            from .feedgen import setup as mount_feed_generator

            keys = DidKeys(self.identity_http, plc=self.config.bluesky_feed.plc, clock=self.clock)
            mount_feed_generator(app, FeedRoutes(
                generator=FeedGenerator(did, self.config.bluesky_feed), base_url=self.settings.base_url,
                store=self.store, auth=ServiceAuth(did, keys, self.clock),
            ))
        if self.activitypub_enabled():
            from .fediverse import routes as fediverse_routes

            fediverse_routes.setup(app, self.federation())
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
            # While it is open, the database is marked in use (``restore`` checks the mark).
            stack.enter_context(usage.using(usage.sqlite_file(settings.database_url)))
            store = Store(settings.database_url, clock=clock)
            stack.callback(store.close)
        if migrate:
            store.upgrade()
        if mirror_config:
            store.sources.sync(settings.config.sources)
        yield Aggregator(settings, store, stack, clock=clock, tuning=tuning or Tuning())
