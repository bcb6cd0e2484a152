"""One actor's federation parts, built together: keys, transport, directory, inbox, handler,
follows, fan-out. ``factory.Aggregator.federation()`` builds it once per process and closes it;
the web routes, the relay target and the crawler each get the part they use.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import logs
from ..activitypub.delivery import Fanout, FanoutSettings
from ..activitypub.documents import ActorProfile, Document, Urls
from ..activitypub.following import Follows
from ..activitypub.handlers import ActivityHandler, FollowingBook, purge_blocked
from ..activitypub.inbox import (
    DomainBlocklist,
    Inbox,
    InboxSettings,
    RateLimiter,
    StoredReplayGuard,
)
from ..activitypub.keys import KeyPair, actor_keypair
from ..activitypub.remote import Directory
from ..activitypub.transport import Signer, Transport, make_session
from ..model import ActivityPubConfig, Clock, Config, utcnow
from ..update.ingest import RelayPolicy
from .incoming import IncomingPosts
from .ports import FederationStore

log = logs.get("aggregator.fediverse")

#: How often the replay guard forgets what expired (seconds).
PURGE_EVERY = 3600.0
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp", ".avif": "image/avif"}


def actor_profile(config: ActivityPubConfig) -> ActorProfile:
    """What the ``activitypub:`` section says about the actor."""
    media_type = None
    if config.avatar:
        path = config.avatar.split("?", 1)[0].lower()
        media_type = next((t for ext, t in _IMAGE_TYPES.items() if path.endswith(ext)), None)
    return ActorProfile(username=config.username, name=config.name or config.username, summary=config.summary,
                        icon_url=config.avatar, icon_media_type=media_type)


class RecentFollowing:
    """The handler's ``FollowingBook`` with two seconds of memory for ``following_state``.

    Every Create, Update, Delete and Announce that reaches the inbox asks whether we follow
    its actor; a busy inbox would ask the database for each. A state we change here
    (Accept, Reject) is forgotten at once; one changed by another process (a new Follow sent
    by ``crawl``) is seen within the two seconds.
    """

    def __init__(self, book: FollowingBook, *, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.book = book
        self.ttl = ttl
        self.clock = clock
        self._states: dict[tuple[str, str], tuple[float, str | None]] = {}

    def following_state(self, *, local_actor: str, remote_actor: str) -> str | None:
        key = (local_actor, remote_actor)
        now = self.clock()
        hit = self._states.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        state = self.book.following_state(local_actor=local_actor, remote_actor=remote_actor)
        if len(self._states) > 10_000:
            self._states.clear()
        self._states[key] = (now, state)
        return state

    def set_following_state(self, *, local_actor: str, remote_actor: str, state: str, follow_id: str | None = None) -> bool:
        self._states.pop((local_actor, remote_actor), None)
        return self.book.set_following_state(local_actor=local_actor, remote_actor=remote_actor, state=state,
                                             follow_id=follow_id)


@dataclass
class Federation:
    """Everything our network actor is made of, in one process."""

    urls: Urls
    profile: ActorProfile
    keys: KeyPair
    store: FederationStore
    config: Config
    transport: Transport
    directory: Directory
    inbox: Inbox
    handler: ActivityHandler
    follows: Follows
    fanout: Fanout
    incoming: IncomingPosts
    blocklist: DomainBlocklist
    _purged_at: float = field(default=0.0)

    async def send(self, inbox: str, activity: Document) -> None:
        """The handler's sender: kept and queued (an ``Accept``), delivered by the fan-out."""
        await asyncio.to_thread(self.store.ap_deliveries.publish, local_actor=self.urls.actor, activity=activity,
                                public=False, inboxes=[inbox])
        self.fanout.wake.set()

    def housekeeping(self) -> None:
        """Hourly: the replay guard forgets what expired."""
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY:
            return
        self._purged_at = now
        purged = self.store.ap_seen.purge()
        if purged:
            log.info("activitypub.seen_purged", rows=purged)

    def purge_blocked(self) -> int:
        """Followers on blocked domains are removed (run when the process starts)."""
        removed = purge_blocked(self.store.ap_followers, self.blocklist.domains)
        if removed:
            log.info("activitypub.blocked_followers_removed", followers=removed)
        return removed

    async def close(self) -> None:
        await self.transport.session.close()


def build_federation(
    *, store: FederationStore, config: Config, base_url: str, allow_private: bool, policy: RelayPolicy,
    clock: Clock = utcnow, rng: random.Random | None = None, fanout: FanoutSettings | None = None,
    inbox: InboxSettings | None = None, timeout: float = 20.0,
) -> Federation:
    """Build the parts (must run inside the event loop: it opens an aiohttp session)."""
    assert config.activitypub is not None
    urls = Urls.from_base(base_url)
    profile = actor_profile(config.activitypub)
    keys = actor_keypair(store.ap_keys, urls.actor)
    session = make_session(allow_private=allow_private, user_agent=config.settings.user_agent, timeout=timeout)
    transport = Transport(session, Signer(urls.key_id, keys.private_key()), allow_private=allow_private, clock=clock)
    directory = Directory(transport.get)
    blocklist = DomainBlocklist(config.activitypub.blocked_domains)
    settings = inbox or InboxSettings()
    pipeline = Inbox(resolver=directory, replay=StoredReplayGuard(store.ap_seen), limiter=RateLimiter(settings.rate, settings.burst),
                     blocked=blocklist, settings=settings, clock=clock)
    incoming = IncomingPosts(urls=urls, store=store, sources={s.slug: s for s in config.sources}, policy=policy,
                             fetch_object=_fetch_object(directory), clock=clock)
    deliveries = Fanout(store.ap_deliveries, transport, clock=clock, rng=rng, settings=fanout, blocked=blocklist)
    federation: Federation
    follows = Follows(urls=urls, records=store.ap_following, publisher=store.ap_deliveries, actors=directory,
                      fetch_json=transport.get, poster=transport, on_queued=deliveries.wake.set, clock=clock)

    async def send(inbox_url: str, activity: Document) -> None:
        await federation.send(inbox_url, activity)

    handler = ActivityHandler(urls=urls, followers=store.ap_followers, following=RecentFollowing(store.ap_following),
                              directory=directory, send=send, on_post=incoming, clock=clock)
    federation = Federation(
        urls=urls, profile=profile, keys=keys, store=store, config=config, transport=transport, directory=directory,
        inbox=pipeline, handler=handler, follows=follows, fanout=deliveries, incoming=incoming, blocklist=blocklist,
    )
    deliveries.housekeeping = federation.housekeeping
    return federation


def _fetch_object(directory: Directory) -> Any:
    async def fetch(url: str) -> Any:
        doc, _ = await directory.document(url)
        return doc

    return fetch
