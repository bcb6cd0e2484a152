"""The crawl loop: lease due sources, retrieve (fetch + parse), ingest, reschedule.

Store calls are synchronous SQLAlchemy; they run in threads so the event loop keeps
fetching meanwhile. What becomes of each item is ``ingest``'s business (the one write path).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import logs
from ..errors import AggregatorError, FetchError
from ..model import Clock, Config, SourceConfig, SourceState, utcnow
from ..waits import first_of
from .ingest import RelayPolicy, ingest_many
from .owners import dead_here, process_owner
from .ports import CrawlStore, Fetched
from .retrieve import Retrieved, Retriever
from .schedule import failure_interval, jittered, success_interval
from .write_batches import BatchWriter

log = logs.get("aggregator.crawl")

#: Sources written in one transaction at most (bench/crawl.py: beyond a few dozen, nothing
#: is gained, and other writers would wait longer for SQLite's lock).
WRITE_BATCH = 64


@dataclass(frozen=True)
class _ToStore:
    """A source retrieved and parsed, waiting for the write path."""

    source: SourceConfig
    state: SourceState
    read: Retrieved
    now: datetime
    started: float


@dataclass
class SourceOutcome:
    slug: str
    status: str  # "ok", "not_modified" or "failed"
    new: int = 0
    updated: int = 0
    error: str | None = None
    retry_in: float | None = None  # failed: seconds until the next try (None: disabled)


#: Called after each source of a pass: (done, total, what became of that source).
Progress = Callable[[int, int, SourceOutcome], None]


@dataclass
class CrawlReport:
    """The ``crawl --json`` line."""

    outcomes: list[SourceOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, float | int]:
        count = lambda status: sum(1 for o in self.outcomes if o.status == status)  # noqa: E731
        return {
            "sources": len(self.outcomes),
            "ok": count("ok"),
            "not_modified": count("not_modified"),
            "failed": count("failed"),
            "new_items": sum(o.new for o in self.outcomes),
            "updated_items": sum(o.updated for o in self.outcomes),
            "seconds": round(self.seconds, 3),
        }


def worker_name() -> str:
    """Identifies this process in source leases (several crawlers share PostgreSQL).

    ``host:pid+start`` (owners.py): a crawler restarted on the same machine can tell that
    the process holding a lease is gone and take its sources back at once.
    """
    return process_owner()


class Crawler:
    """Crawls the configured sources into the store.

    Args:
        retriever: fetches and parses one source of any kind.
        policy: what the write path needs to know of the relay (targets, backlog).
        lease_seconds: how long a leased source stays ours; a dead worker's sources come
            back after that.
        concurrency: sources in flight at once (the HTTP client bounds hosts further).
    """

    def __init__(
        self,
        store: CrawlStore,
        config: Config,
        retriever: Retriever,
        policy: RelayPolicy,
        *,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
        owner: str | None = None,
        lease_seconds: float = 600.0,
        concurrency: int = 32,
        shutdown_grace: float = 10.0,
    ):
        self.store = store
        self.config = config
        self.retriever = retriever
        self.policy = policy
        self.clock = clock
        self.rng = rng or random.Random()
        self.owner = owner or worker_name()
        self.lease_seconds = lease_seconds
        self.concurrency = concurrency
        self.shutdown_grace = shutdown_grace
        self.sources = {s.slug: s for s in config.sources}
        self._reclaimed = False
        self._wake: asyncio.Event | None = None

    def reconfigure(self, config: Config) -> None:
        """Crawl with ``config`` from now on (``sources.yaml`` was reloaded).

        A pass under way finishes the sources it leased with their old settings; the
        worker's sleep is cut short so added sources are fetched at once.
        """
        self.config = config
        self.sources = {s.slug: s for s in config.sources}
        if self._wake is not None:
            self._wake.set()

    async def crawl(
        self,
        *,
        slugs: Iterable[str] | None = None,
        every: bool = False,
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> CrawlReport:
        """One pass over due sources (``every``: all of them; ``slugs``: just those).

        Sources are leased in batches, so several crawler processes on PostgreSQL share
        the work without fetching a source twice.
        """
        started = time.monotonic()
        await self.reclaim_dead_leases()
        pass_started = self.clock()
        report = CrawlReport()
        wanted = list(slugs) if slugs is not None else (list(self.sources) if every else None)
        seen: set[str] = set()
        semaphore = asyncio.Semaphore(self.concurrency)
        batch = max(self.concurrency * 4, 16)

        unchanged: list[tuple[str, datetime, datetime, str | None]] = []

        writer: BatchWriter[_ToStore, SourceOutcome] = BatchWriter(
            self._store_reads, max_items=WRITE_BATCH,
            same_batch=lambda item, batch: all(b.source.slug != item.source.slug for b in batch),
        )

        async def one(state: SourceState, source: SourceConfig) -> SourceOutcome | None:
            async with semaphore:
                if stop is not None and stop.is_set():
                    return None  # shutting down: the lease is handed back below
                read = await self._retrieve(source, state)
            # the slot is free for the next fetch while this source waits for its write
            outcome = read if isinstance(read, SourceOutcome) else await self._store(read, unchanged, writer)
            report.outcomes.append(outcome)
            if progress is not None:
                done = len(report.outcomes)
                progress(done, max(len(wanted) if wanted is not None else len(seen), done), outcome)
            return outcome

        while stop is None or not stop.is_set():
            remaining = None if wanted is None else [s for s in wanted if s not in seen]
            if remaining == []:
                break
            leased = await asyncio.to_thread(
                self.store.sources.lease_states, self.owner, self.clock(), seconds=self.lease_seconds,
                limit=batch, slugs=remaining, due_only=wanted is None, include_disabled=wanted is not None,
                fetched_before=pass_started if every else None,
            )
            # the configuration of each source is taken now: a reload during the batch
            # applies to the next one
            sources = self.sources
            leased = [s for s in leased if s.slug not in seen and s.slug in sources]
            if not leased:
                break
            seen.update(s.slug for s in leased)
            try:
                await self._run_batch([one(s, sources[s.slug]) for s in leased], stop)
            finally:
                # unchanged sources are recorded together; a cancelled or crashed pass
                # gives its remaining leases back at once, once the writes under way are done
                await writer.close()
                done, unchanged[:] = list(unchanged), []
                await asyncio.to_thread(self.store.sources.record_not_modified_many, done)
                await asyncio.to_thread(self.store.sources.release, self.owner)
        report.seconds = time.monotonic() - started
        # an idle loop says nothing (it would say it every time it wakes up)
        (log.info if report.outcomes else log.debug)("crawl.pass", **report.as_json())
        return report

    async def reclaim_dead_leases(self) -> None:
        """Once per process, first thing: take back the leases of dead crawlers of this machine.

        After a crash (SIGKILL, OOM, power cut) the restarted crawler would otherwise wait
        for the dead one's leases to run out (``lease_seconds``, 10 minutes by default).
        Only owners certainly dead are concerned (owners.py); other machines' leases run
        out as before.
        """
        if self._reclaimed:
            return
        leased = await asyncio.to_thread(self.store.sources.leased, self.clock())
        for owner in sorted({owner for owner, _ in leased.values()} - {self.owner}):
            if dead_here(owner):
                count = await asyncio.to_thread(self.store.sources.release, owner)
                log.info("crawl.reclaimed", owner=owner, sources=count)
        self._reclaimed = True

    async def _run_batch(self, coros: list[Coroutine[Any, Any, SourceOutcome | None]], stop: asyncio.Event | None) -> None:
        """Run one leased batch; on ``stop``, a short grace for work in flight, then cancel.

        Sources still waiting for their host's turn would otherwise hold a SIGTERM for as
        long as the politeness queue is; cancelled ones are handed back with the lease.
        A store write already running in its thread completes (its transaction is whole).
        """
        tasks = [asyncio.create_task(c) for c in coros]
        everything: asyncio.Future[Any] = asyncio.gather(*tasks)
        if stop is None:
            await everything
            return
        stopping: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait([everything, stopping], return_when=asyncio.FIRST_COMPLETED)
            if not everything.done():
                await asyncio.wait([everything], timeout=self.shutdown_grace)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                log.info("crawl.stopped", handed_back=sum(t.cancelled() for t in tasks))
                return
            everything.result()  # a bug in one source is raised, as everywhere else
        finally:
            stopping.cancel()
            if everything.done() and not everything.cancelled():
                everything.exception()  # retrieved: no "never retrieved" warning

    async def crawl_source(
        self,
        source: SourceConfig,
        state: SourceState | None = None,
        *,
        unchanged: list[tuple[str, datetime, datetime, str | None]] | None = None,
    ) -> SourceOutcome:
        """Read, decide, store and reschedule one source; known failures are recorded.

        Args:
            state: the source's stored state when the caller already has it (a lease).
            unchanged: where to put a not-modified outcome for the caller to record in a
                batch; without it, it is recorded at once.
        """
        if state is None:
            state = await asyncio.to_thread(self.store.sources.get, source.slug)
            if state is None:
                raise AggregatorError(f"source {source.slug} is not in the store; run db upgrade and sync first")
        read = await self._retrieve(source, state)
        return read if isinstance(read, SourceOutcome) else await self._store(read, unchanged, None)

    async def _retrieve(self, source: SourceConfig, state: SourceState) -> _ToStore | SourceOutcome:
        """Fetch and parse; a known failure is recorded and is the outcome."""
        started = time.monotonic()
        try:
            read = await self.retriever.retrieve(source, state)
        except AggregatorError as exc:
            return await self._failed(source, state, exc)
        return _ToStore(source, state, read, self.clock(), started)

    async def _store(
        self,
        item: _ToStore,
        unchanged: list[tuple[str, datetime, datetime, str | None]] | None,
        writer: BatchWriter[_ToStore, SourceOutcome] | None,
    ) -> SourceOutcome:
        """The write path and the next appointment: in ``writer``'s next batch, if there is one."""
        source, state, read, now = item.source, item.state, item.read, item.now
        if read.parsed is None:
            next_fetch = jittered(now, self._not_modified_interval(state, read, now), self.rng)
            if unchanged is not None:
                unchanged.append((source.slug, now, next_fetch, read.url))
            else:
                await asyncio.to_thread(self.store.sources.record_not_modified_many, [(source.slug, now, next_fetch, read.url)])
            return SourceOutcome(source.slug, "not_modified")
        try:
            if writer is not None:
                outcome = await writer.submit(item)
            else:
                outcome = (await asyncio.to_thread(self._store_reads, [item]))[0]
        except AggregatorError as exc:
            return await self._failed(source, state, exc)
        log.info("crawl.source", source=source.slug, status=outcome.status, new=outcome.new, updated=outcome.updated, seconds=round(time.monotonic() - item.started, 3))
        return outcome

    def _store_reads(self, items: list[_ToStore]) -> list[SourceOutcome]:
        """The write path for parsed sources (one transaction), then their next appointments.

        Entries take the batch's latest fetch time as ``now`` (first seen, clamp of
        future dates); each source's own fetch time goes into its state.
        """
        settings = self.config.settings
        parsed_items = [(item, item.read.parsed) for item in items if item.read.parsed is not None]
        assert len(parsed_items) == len(items), "not-modified sources are recorded elsewhere"
        done = ingest_many(
            self.store, [(item.source, parsed.entries) for item, parsed in parsed_items],
            now=max(item.now for item in items), policy=self.policy,
        )
        outcomes, fetched = [], []
        for (item, parsed), ingested in zip(parsed_items, done, strict=True):
            fetch, now = item.read.fetch, item.now
            published = [c.published for c in ingested.decision.new] + [
                e.published for e in parsed.entries if e.published is not None
            ]
            interval = success_interval(
                published, now=now, min_interval=settings.min_interval, max_interval=settings.max_interval,
                max_age=fetch.max_age if fetch else None, ttl=parsed.feed.ttl, previous=_previous_interval(item.state),
            )
            fetched.append(Fetched(
                item.source.slug, now=now, next_fetch=jittered(now, interval, self.rng),
                etag=fetch.etag if fetch else None, last_modified=fetch.last_modified if fetch else None,
                url=item.read.url, feed_title=parsed.feed.title, feed_link=parsed.feed.link,
                resolved_id=item.read.resolved_id,
            ))
            outcomes.append(SourceOutcome(item.source.slug, "ok", ingested.new, ingested.updated))
        self.store.sources.record_success_many(fetched)
        return outcomes

    def _not_modified_interval(self, state: SourceState, read: Retrieved, now: datetime) -> float:
        """Nothing new: the previous pace, slowed a little, within the server's max-age."""
        settings = self.config.settings
        return success_interval(
            (), now=now, min_interval=settings.min_interval, max_interval=settings.max_interval,
            max_age=read.fetch.max_age if read.fetch else None, previous=_previous_interval(state),
        )

    async def _failed(self, source: SourceConfig, state: SourceState, exc: AggregatorError) -> SourceOutcome:
        now = self.clock()
        settings = self.config.settings
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        permanent = isinstance(exc, FetchError) and exc.permanent
        interval = failure_interval(
            state.error_count + 1, min_interval=settings.min_interval, max_interval=settings.max_interval,
            retry_after=retry_after,
        )
        message = str(exc)
        if permanent:
            message = f"{message} — the source is disabled; fix its URL in sources.yaml or crawl it with --source"
        await asyncio.to_thread(
            self.store.sources.record_failure, source.slug, now=now, error=message,
            next_fetch=jittered(now, interval, self.rng), disable=permanent,
        )
        log.warning("crawl.failed", source=source.slug, error=message, errors=state.error_count + 1, retry_in=round(interval))
        return SourceOutcome(source.slug, "failed", error=message, retry_in=None if permanent else interval)

    def next_due(self) -> datetime | None:
        """When the earliest source is due again (the worker sleeps until then).

        A source another process holds is due for us when its lease runs out, not before:
        waking up for it would only find it leased (and loop every second until then).
        """
        now = self.clock()
        leased = self.store.sources.leased(now)
        due = []
        for state in self.store.sources.states():
            if state.disabled or state.slug not in self.sources:
                continue
            at = state.next_fetch or now
            owner, until = leased.get(state.slug, (self.owner, at))
            due.append(max(at, until) if owner != self.owner else at)
        return min(due, default=None)

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 60.0) -> None:
        """Crawl due sources until ``stop`` is set; a bug in one pass is logged, not fatal.

        Between passes it sleeps until the next source is due, or until ``reconfigure``.
        """
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            wake.clear()
            failed = False
            try:
                await self.crawl(stop=stop)
                nxt = await asyncio.to_thread(self.next_due)
            except AggregatorError as exc:  # e.g. the database restarting
                log.error("crawl.pass_failed", error=str(exc))
                nxt = None
                failed = True
            except Exception:
                log.exception("crawl.bug")
                nxt = None
                failed = True
            # after a failed pass, try again soon: a database restart should cost seconds
            wait = min(idle, 5.0) if failed else idle
            if nxt is not None:
                wait = max(1.0, min(idle, (nxt - self.clock()).total_seconds()))
            await first_of(stop, wake, timeout=wait)


def _previous_interval(state: SourceState) -> float | None:
    """The interval chosen after the last successful fetch, if that is what we know."""
    if state.next_fetch and state.last_fetch and state.status in ("ok", "not_modified"):
        return (state.next_fetch - state.last_fetch).total_seconds()
    return None
