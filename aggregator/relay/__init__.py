"""The relay bot: delivers the outbox to Mastodon and Bluesky, exactly once per (item, target).

How "exactly once" survives a crash at any instant:

1. The store writes the outbox row in the same transaction as the entry (nothing lost).
2. Before any network call, the attempt is committed (state ``sending``, attempts + 1).
3. The post carries an identity derived from the item: Mastodon's ``Idempotency-Key``
   (the server answers a repeat within an hour with the first status) and the Bluesky
   record key (a TID: a second create of the same key is refused).
4. Any row that was attempted before (a ``sending`` row left by a crash, or a retry after
   an error whose request may have landed) is first looked up on the target: Bluesky
   ``getRecord`` with the derived key, Mastodon the account's recent statuses linking to
   the item. Only when it is not there is it posted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..errors import AggregatorError, RelayError
from ..fetch.client import HttpClient
from ..model import Clock, RelayConfig, Settings, SourceConfig, StoredEntry, utcnow
from ..store import Store
from ..store.meta import MetaRepo
from ..store.outbox import OutboxRow
from .bluesky import SESSION_KEY, BlueskyPoster
from .cards import PageGetter
from .mastodon import MastodonPoster
from .plan import Job, plan
from .targets import Delivered, Target

__all__ = ["Relay", "RelayCredentials"]

log = logging.getLogger(__name__)

#: First retry after a minute, doubling, at most six hours apart.
BACKOFF_BASE = 60.0
BACKOFF_MAX = 6 * 3600.0
#: Article pages and thumbnails for cards: far less than a feed may weigh.
CARD_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class RelayCredentials:
    """Secrets come from the environment only, never from ``sources.yaml``."""

    mastodon_token: str | None = None
    bluesky_handle: str | None = None
    bluesky_password: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RelayCredentials:
        def get(name: str) -> str | None:
            value = (environ.get(name) or "").strip()
            return value or None

        return cls(get("MASTODON_ACCESS_TOKEN"), get("BLUESKY_HANDLE"), get("BLUESKY_APP_PASSWORD"))

    def enabled_targets(self, config: RelayConfig) -> tuple[str, ...]:
        """Targets both configured in ``relay:`` and credentialed in the environment."""
        names = []
        if config.mastodon is not None and self.mastodon_token:
            names.append("mastodon")
        if config.bluesky is not None and self.bluesky_handle and self.bluesky_password:
            names.append("bluesky")
        return tuple(names)


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones."""
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


class Relay:
    """Pulls due outbox rows and delivers them; one instance per process."""

    def __init__(
        self,
        store: Store,
        config: RelayConfig,
        credentials: RelayCredentials,
        *,
        clock: Clock = utcnow,
        allow_private: bool = False,
        user_agent: str = Settings().user_agent,
    ):
        self.store = store
        self.config = config
        self.credentials = credentials
        self.clock = clock
        self.allow_private = allow_private
        self.user_agent = user_agent
        self.targets = credentials.enabled_targets(config)
        self.meta: MetaRepo = getattr(store, "meta", None) or MetaRepo(store.db)
        self._posters: dict[str, Target] = {}
        self._http: HttpClient | None = None

    # -- wiring -------------------------------------------------------------------------

    def _poster(self, name: str) -> Target:
        poster = self._posters.get(name)
        if poster is not None:
            return poster
        if name == "mastodon":
            assert self.config.mastodon is not None and self.credentials.mastodon_token
            poster = MastodonPoster(self.config.mastodon, self.credentials.mastodon_token,
                                    user_agent=self.user_agent, clock=self.clock)
        else:
            assert self.config.bluesky is not None and self.credentials.bluesky_handle
            assert self.credentials.bluesky_password
            poster = BlueskyPoster(
                self.config.bluesky, self.credentials.bluesky_handle, self.credentials.bluesky_password,
                load_session=self._load_session, save_session=self._save_session,
                http=self._page_getter, clock=self.clock,
            )
        self._posters[name] = poster
        return poster

    async def _load_session(self) -> str | None:
        return await asyncio.to_thread(self.meta.get, SESSION_KEY)

    async def _save_session(self, value: str) -> None:
        await asyncio.to_thread(self.meta.set, SESSION_KEY, value)

    async def _page_getter(self) -> PageGetter:
        if self._http is None:
            http = HttpClient(user_agent=self.user_agent, allow_private=self.allow_private,
                              max_bytes=CARD_MAX_BYTES, total_timeout=20.0, clock=self.clock)
            await http.__aenter__()
            self._http = http
        return self._http

    # -- the loop -----------------------------------------------------------------------

    async def run_once(self, *, dry_run: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Deliver the due rows once; one report per row handled.

        ``dry_run`` computes exactly the texts that would be posted and writes nothing:
        no database change, no request to a target.
        """
        if not self.targets:
            return []
        now = self.clock()
        store = self.store
        in_flight = await asyncio.to_thread(store.outbox.in_flight, targets=self.targets)
        due = await asyncio.to_thread(store.outbox.due, now, targets=self.targets, limit=limit)
        rows = [*in_flight, *due]
        if limit is not None:
            rows = rows[:limit]
        if not rows:
            return []
        entries = await asyncio.to_thread(store.entries.get_many, [r.entry_id for r in rows])
        configs = await asyncio.to_thread(store.sources.configs, include_unconfigured=True)
        sources = {s.slug: s for s in configs}
        since = now - timedelta(hours=1)
        budget = {
            name: self.config.max_posts_per_hour - await asyncio.to_thread(store.outbox.posted_since, name, since)
            for name in self.targets
        }
        reports: list[dict[str, Any]] = []
        for row in rows:
            job = self._plan(row, entries.get(row.entry_id), sources)
            if job.action != "skip":
                if budget[row.target] <= 0:
                    continue  # max_posts_per_hour: the row waits for the next round
                if not dry_run and self._poster(row.target).paused_until() is not None:
                    continue  # the target's rate limit is exhausted until the reset
            if dry_run:
                state = "skipped" if job.action == "skip" else row.state
                reports.append(_report(row, job, state=state, error=job.reason or None, attempts=row.attempts))
            else:
                report = await self._handle(row, job)
                if report is None:
                    continue
                reports.append(report)
            if job.action != "skip":
                budget[row.target] -= 1
        return reports

    def _plan(self, row: OutboxRow, entry: StoredEntry | None, sources: Mapping[str, SourceConfig]) -> Job:
        return plan(row_id=row.id, target=row.target, created=row.created, entry=entry,
                    source=sources.get(entry.source) if entry else None, config=self.config)

    async def _handle(self, row: OutboxRow, job: Job) -> dict[str, Any] | None:
        outbox = self.store.outbox
        if job.action == "skip":
            done = await asyncio.to_thread(outbox.mark_skipped, row, self.clock(), reason=job.reason)
            log.info("relay.skipped entry=%s target=%s reason=%s", row.entry_id, row.target, job.reason)
            return _report(row, job, state="skipped", error=job.reason, attempts=row.attempts) if done else None
        # The attempt is committed before anything leaves the machine.
        claimed = await asyncio.to_thread(outbox.claim, row, self.clock())
        if claimed is None:
            return None  # another relay process took it
        poster = self._poster(row.target)
        try:
            found: Delivered | None = None
            if row.attempts > 0:
                # An earlier attempt may have landed (crash, timeout after the server
                # committed): look it up before posting again.
                found = await poster.find(job)
            delivered = found or await poster.deliver(job)
        except RelayError as exc:
            return await self._failed(claimed, job, exc)
        await asyncio.to_thread(outbox.mark_posted, row.id, self.clock(),
                                remote_id=delivered.remote_id, remote_url=delivered.remote_url)
        log.info("relay.posted entry=%s target=%s action=%s remote=%s reconciled=%s",
                 row.entry_id, row.target, job.action, delivered.remote_id, found is not None)
        return _report(claimed, job, state="posted", remote_id=delivered.remote_id, attempts=claimed.attempts)

    async def _failed(self, claimed: OutboxRow, job: Job, exc: RelayError) -> dict[str, Any]:
        outbox = self.store.outbox
        now = self.clock()
        error = str(exc)
        if exc.retry_after is not None and not exc.permanent:
            # Rate limited: nothing was posted and the attempt does not count.
            wait = max(exc.retry_after, 1.0)
            await asyncio.to_thread(outbox.mark_retry, claimed.id, now, error=error,
                                    next_attempt=now + timedelta(seconds=wait), count_attempt=False)
            log.warning("relay.rate_limited target=%s wait=%.0f", claimed.target, wait)
            return _report(claimed, job, state="pending", error=error, attempts=claimed.attempts - 1)
        if exc.permanent or claimed.attempts >= self.config.max_attempts:
            await asyncio.to_thread(outbox.mark_failed, claimed.id, now, error=error)
            log.warning("relay.failed entry=%s target=%s error=%s", claimed.entry_id, claimed.target, error)
            return _report(claimed, job, state="failed", error=error, attempts=claimed.attempts)
        wait = backoff(claimed.attempts)
        await asyncio.to_thread(outbox.mark_retry, claimed.id, now, error=error,
                                next_attempt=now + timedelta(seconds=wait))
        log.info("relay.retry entry=%s target=%s attempts=%s wait=%.0f error=%s",
                 claimed.entry_id, claimed.target, claimed.attempts, wait, error)
        return _report(claimed, job, state="pending", error=error, attempts=claimed.attempts)

    async def run_forever(self, stop: asyncio.Event, *, interval: float = 30.0) -> None:
        """Deliver every ``interval`` seconds until ``stop`` is set; errors are logged, not fatal."""
        while not stop.is_set():
            try:
                await self.run_once()
            except AggregatorError as exc:  # the store or a target is down: try again later
                log.warning("relay.round_failed error=%s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def close(self) -> None:
        posters, self._posters = self._posters, {}
        for poster in posters.values():
            await poster.close()
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()


def _report(row: OutboxRow, job: Job, *, state: str, error: str | None = None, remote_id: str | None = None,
            attempts: int = 0) -> dict[str, Any]:
    """The JSON line of ``aggregator relay --json`` for one row."""
    return {
        "entry_id": row.entry_id,
        "source": job.source,
        "target": row.target,
        "state": state,
        "action": job.action,
        "text": job.text,
        "url": job.url if job.action != "repost" else job.native_uri,
        "language": job.post.language if job.post else None,
        "remote_id": remote_id or row.remote_id,
        "error": error,
        "attempts": attempts,
    }
