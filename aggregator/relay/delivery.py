"""The delivery loop: pull due outbox rows, plan each, claim it, deliver it, record it.

The exactly-once discipline is described in the package docstring (``relay/__init__.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from .. import logs
from ..errors import AggregatorError, RelayError
from ..model import Clock, RelayConfig, SourceConfig, StoredEntry, utcnow
from ..store.outbox import OutboxRow
from ..waits import pause
from .plan import Job, plan
from .ports import RelayStore
from .targets import Delivered, Target

log = logs.get(__name__)

#: First retry after a minute, doubling, at most six hours apart.
BACKOFF_BASE = 60.0
BACKOFF_MAX = 6 * 3600.0


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones."""
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


class FanOut(Protocol):
    """The ActivityPub fan-out (``activitypub/delivery.py``): what the ``activitypub`` target
    published is delivered to follower inboxes on its own schedule, by the same leader."""

    async def run_once(self) -> list[dict[str, Any]]: ...

    async def run_forever(self, stop: asyncio.Event) -> None: ...


class Relay:
    """Pulls due outbox rows and delivers them; one instance per process."""

    def __init__(
        self,
        store: RelayStore,
        config: RelayConfig,
        targets: Mapping[str, Target],
        *,
        clock: Clock = utcnow,
        fanout: FanOut | None = None,
    ):
        """
        Args:
            targets: the enabled targets by name (``relay.targets.enabled_targets``), built
                and closed by the factory.
            fanout: delivers what the ``activitypub`` target publishes (with that target).
        """
        self.store = store
        self.config = config
        self.posters = dict(targets)
        self.targets = tuple(targets)
        self.clock = clock
        self.fanout = fanout

    def _poster(self, name: str) -> Target:
        return self.posters[name]

    # -- the loop -----------------------------------------------------------------------

    async def run_once(self, *, limit: int | None = None, fan_out: bool = True) -> list[dict[str, Any]]:
        """Deliver the due rows once; one report per row handled.

        What would be posted without posting it is ``relay/preview.py`` (``--dry-run``).
        ``fan_out`` also delivers what the ActivityPub target published (``relay --once``),
        one report per delivery.
        """
        reports = await self._outbox_round(limit=limit)
        if fan_out and self.fanout is not None:
            reports.extend(await self.fanout.run_once())
        return reports

    async def _outbox_round(self, *, limit: int | None) -> list[dict[str, Any]]:
        if not self.targets:
            return []
        batch = await load_round(self.store, self.config, self.targets, self.clock(), limit=limit)
        reports: list[dict[str, Any]] = []
        for row, job in batch.jobs:
            if job.action != "skip":
                if batch.budget[row.target] <= 0:
                    continue  # max_posts_per_hour: the row waits for the next round
                if self._poster(row.target).paused_until() is not None:
                    continue  # the target's rate limit is exhausted until the reset
            handled = await self._handle(row, job)
            if handled is None:
                continue
            reports.append(handled)
            if job.action != "skip":
                batch.budget[row.target] -= 1
        return reports

    def _plan(self, row: OutboxRow, entry: StoredEntry | None, sources: Mapping[str, SourceConfig]) -> Job:
        return plan_row(row, entry, sources, self.config)

    async def _handle(self, row: OutboxRow, job: Job) -> dict[str, Any] | None:
        outbox = self.store.outbox
        if job.action == "skip":
            done = await asyncio.to_thread(outbox.mark_skipped, row, self.clock(), reason=job.reason)
            log.info("relay.skipped", entry=row.entry_id, target=row.target, reason=job.reason)
            return report(row, job, state="skipped", error=job.reason, attempts=row.attempts) if done else None
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
        log.info("relay.posted", entry=row.entry_id, target=row.target, action=job.action, remote=delivered.remote_id, reconciled=found is not None)
        return report(claimed, job, state="posted", remote_id=delivered.remote_id, attempts=claimed.attempts)

    async def _failed(self, claimed: OutboxRow, job: Job, exc: RelayError) -> dict[str, Any]:
        outbox = self.store.outbox
        now = self.clock()
        error = str(exc)
        if exc.retry_after is not None and not exc.permanent:
            # Rate limited: nothing was posted and the attempt does not count.
            wait = max(exc.retry_after, 1.0)
            await asyncio.to_thread(outbox.mark_retry, claimed.id, now, error=error,
                                    next_attempt=now + timedelta(seconds=wait), count_attempt=False)
            log.warning("relay.rate_limited", target=claimed.target, wait=round(wait))
            return report(claimed, job, state="pending", error=error, attempts=claimed.attempts - 1)
        if exc.permanent or claimed.attempts >= self.config.max_attempts:
            await asyncio.to_thread(outbox.mark_failed, claimed.id, now, error=error)
            log.warning("relay.failed", entry=claimed.entry_id, target=claimed.target, error=error)
            return report(claimed, job, state="failed", error=error, attempts=claimed.attempts)
        wait = backoff(claimed.attempts)
        await asyncio.to_thread(outbox.mark_retry, claimed.id, now, error=error,
                                next_attempt=now + timedelta(seconds=wait))
        log.info("relay.retry", entry=claimed.entry_id, target=claimed.target, attempts=claimed.attempts, wait=round(wait), error=error)
        return report(claimed, job, state="pending", error=error, attempts=claimed.attempts)

    async def run_forever(self, stop: asyncio.Event, *, interval: float = 30.0) -> None:
        """Deliver every ``interval`` seconds until ``stop`` is set; errors are logged, not fatal.

        The ActivityPub fan-out runs beside it on its own, shorter schedule (an ``Accept``
        should reach a new follower within seconds).
        """
        fanning = asyncio.create_task(self.fanout.run_forever(stop)) if self.fanout is not None else None
        try:
            while not stop.is_set():
                try:
                    await self.run_once(fan_out=False)
                except AggregatorError as exc:  # the store or a target is down: try again later
                    log.warning("relay.round_failed", error=exc)
                await pause(stop, interval)
        finally:
            if fanning is not None:
                await asyncio.wait([fanning], timeout=10.0)
                fanning.cancel()
                await asyncio.gather(fanning, return_exceptions=True)


@dataclass
class Round:
    """One round's rows, in delivery order, each with its job; and what each target may post."""

    jobs: list[tuple[OutboxRow, Job]] = field(default_factory=list)
    budget: dict[str, int] = field(default_factory=dict)  # posts left this hour, by target


def plan_row(row: OutboxRow, entry: StoredEntry | None, sources: Mapping[str, SourceConfig], config: RelayConfig) -> Job:
    return plan(row_id=row.id, target=row.target, created=row.created, entry=entry,
                source=sources.get(entry.source) if entry else None, config=config)


async def load_round(
    store: RelayStore, config: RelayConfig, targets: Sequence[str], now: datetime, *, limit: int | None = None
) -> Round:
    """The rows a round handles (interrupted attempts first, then due ones) and their jobs.

    Shared by the delivery loop and the dry run, so ``--dry-run`` shows exactly what the
    next round would do.
    """
    in_flight = await asyncio.to_thread(store.outbox.in_flight, targets=targets)
    due = await asyncio.to_thread(store.outbox.due, now, targets=targets, limit=limit)
    rows = [*in_flight, *due]
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        return Round()
    entries = await asyncio.to_thread(store.entries.get_many, [r.entry_id for r in rows])
    configs = await asyncio.to_thread(store.sources.configs, include_unconfigured=True)
    sources = {s.slug: s for s in configs}
    since = now - timedelta(hours=1)
    budget = {
        name: config.max_posts_per_hour - await asyncio.to_thread(store.outbox.posted_since, name, since)
        for name in targets
    }
    return Round([(row, plan_row(row, entries.get(row.entry_id), sources, config)) for row in rows], budget)


def report(row: OutboxRow, job: Job, *, state: str, error: str | None = None, remote_id: str | None = None,
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
