"""The fan-out: deliver what our actor published to every remote inbox, and keep at it.

Activities are published into a queue (``Store.ap_deliveries``: one row per activity and
inbox, shared inboxes collapsing a server's followers into one row). :meth:`Fanout.run_once`
claims what is due (``pending`` -> ``sending``, committed before any POST), signs and POSTs
it through the transport, and records the outcome:

* **2xx**: ``delivered``; the inbox is healthy (a given-up inbox resumes).
* **temporary** (network, timeout, 408, 429, 5xx): back to ``pending`` after an exponential
  back-off with jitter (1 min, 2, 4 … at most 6 h; ``Retry-After`` honoured), and the inbox is
  held back as long, so its other deliveries wait too instead of knocking in turn. After
  ``max_attempts`` (a safety net) the delivery fails. An inbox failing for ``dead_after`` (3 days) is given
  up: its pending deliveries fail, and it is probed once a day with whatever is queued for
  it; the first success revives it.
* **permanent** (other 4xx, a refused address): ``failed`` at once.

Deliveries of one activity are spread over a few seconds per inbox (``spread``), so that a
story's link is not fetched by every receiving server in the same second. Rows of one inbox
go out one after the other; inboxes in parallel (``concurrency``). A row left ``sending`` by
a process that died is sent again once it is ``stale_after`` old: the outcome of that POST
is unknown, and receivers drop an activity id they already have (docs/activitypub.md).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from .. import logs
from ..errors import AggregatorError, RemoteError
from ..model import Clock, utcnow
from ..waits import first_of
from .batching import GroupCommit
from .remote import domain_of

log = logs.get("aggregator.activitypub.delivery")


class QueuedDelivery(Protocol):
    """One claimed row (``store.ap_deliveries.Delivery`` fits)."""

    @property
    def id(self) -> int: ...
    @property
    def activity_id(self) -> str: ...
    @property
    def inbox(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def entry_id(self) -> int | None: ...
    @property
    def kind(self) -> str: ...


class InboxState(Protocol):
    @property
    def dead_since(self) -> datetime | None: ...


class DeliveryQueue(Protocol):
    """The queue's state machine (``Store.ap_deliveries``); every transition is conditional."""

    def claim(self, now: datetime, *, limit: int = 100, activity_id: str | None = None) -> Sequence[QueuedDelivery]: ...

    def delivered_many(self, delivery_ids: list[int]) -> list[bool]: ...

    def retry(self, delivery_id: int, *, next_attempt: datetime, error: str, count_attempt: bool = True) -> bool: ...

    def fail(self, delivery_id: int, *, error: str) -> bool: ...

    def requeue_stale(self, before: datetime, *, keep: Collection[int] = ()) -> int: ...

    def give_up(self, inbox: str, *, error: str) -> int: ...

    def inbox_succeeded(self, inbox: str) -> None: ...

    def inbox_failed(
        self, inbox: str, *, error: str, next_attempt: datetime, dead_after: timedelta, dead_retry: datetime | None = None,
    ) -> InboxState: ...


class Poster(Protocol):
    """``Transport.post``: a signed POST that raises RemoteError unless it got a 2xx."""

    async def post(self, inbox: str, activity: Mapping[str, Any]) -> object: ...


@dataclass(frozen=True)
class FanoutSettings:
    concurrency: int = 16  # inboxes served at once
    batch: int = 200  # rows claimed per query
    backoff_base: float = 60.0
    backoff_max: float = 6 * 3600.0
    jitter: float = 0.2  # each wait is multiplied by 1 ± this
    max_attempts: int = 30  # a safety net: the inbox is given up first (dead_after)
    dead_after: float = 3 * 86400.0  # an inbox failing this long is given up
    probe_every: float = 86400.0  # and probed this often afterwards
    stale_after: float = 120.0  # a ``sending`` row untouched this long belongs to a dead process
    spread_per_inbox: float = 0.1  # seconds of spread per receiving inbox...
    spread_max: float = 60.0  # ...at most


class Fanout:
    """Delivers the queue; one instance per process (the relay leader's)."""

    def __init__(
        self, queue: DeliveryQueue, poster: Poster, *, clock: Clock = utcnow, rng: random.Random | None = None,
        settings: FanoutSettings | None = None, blocked: Callable[[str], bool] | None = None,
        housekeeping: Callable[[], object] | None = None,
    ):
        """
        Args:
            blocked: domain -> True when the operator blocked it (nothing is sent there).
            housekeeping: run (in a thread) after every round of ``run_forever``; it keeps
                its own pace (the replay guard's purge).
        """
        self.queue = queue
        self.poster = poster
        self.clock = clock
        self.rng = rng or random.Random()
        self.settings = settings or FanoutSettings()
        self.blocked = blocked or (lambda _domain: False)
        self.housekeeping = housekeeping
        self.wake = asyncio.Event()  # set when something was queued in this process
        self._lock = asyncio.Lock()
        self._in_flight: set[int] = set()
        self._healthy: set[str] = set()  # inboxes this process saw succeed since their last failure
        #: 2xx that come in together are recorded in one transaction.
        self._delivered: GroupCommit[int, bool] = GroupCommit(queue.delivered_many)

    # -- publishing helpers -------------------------------------------------------------

    def spread(self, inboxes: Sequence[str], now: datetime) -> dict[str, datetime]:
        """When each inbox gets a new story: spread over ``spread_per_inbox`` s per inbox."""
        window = min(self.settings.spread_max, self.settings.spread_per_inbox * len(inboxes))
        if window <= 0 or len(inboxes) < 2:
            return {}
        return {inbox: now + timedelta(seconds=self.rng.uniform(0.0, window)) for inbox in inboxes}

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones, with jitter."""
        s = self.settings
        base = min(s.backoff_max, s.backoff_base * 2 ** max(0, attempts - 1))
        return base * self.rng.uniform(1.0 - s.jitter, 1.0 + s.jitter)

    # -- the loop -----------------------------------------------------------------------

    async def run_once(self, *, activity_id: str | None = None) -> list[dict[str, Any]]:
        """Deliver what is due (only ``activity_id``'s rows when given); one report per row."""
        async with self._lock:
            now = self.clock()
            stale = now - timedelta(seconds=self.settings.stale_after)
            requeued = await asyncio.to_thread(self.queue.requeue_stale, stale, keep=set(self._in_flight))
            if requeued:
                log.warning("activitypub.requeued", rows=requeued, reason="left sending by a stopped process")
            reports: list[dict[str, Any]] = []
            while True:
                batch = list(await asyncio.to_thread(
                    self.queue.claim, self.clock(), limit=self.settings.batch, activity_id=activity_id))
                if not batch:
                    break
                self._in_flight.update(d.id for d in batch)
                by_inbox: dict[str, list[QueuedDelivery]] = {}
                for delivery in batch:
                    by_inbox.setdefault(delivery.inbox, []).append(delivery)
                gate = asyncio.Semaphore(self.settings.concurrency)
                try:
                    done = await asyncio.gather(*(self._inbox(rows, gate) for rows in by_inbox.values()))
                finally:
                    self._in_flight.difference_update(d.id for d in batch)
                reports.extend(r for rows in done for r in rows)
                if len(batch) < self.settings.batch:
                    break
            return reports

    async def _inbox(self, rows: list[QueuedDelivery], gate: asyncio.Semaphore) -> list[dict[str, Any]]:
        """One inbox's rows, in order; after a temporary failure the rest wait with the inbox."""
        reports = []
        async with gate:
            for index, delivery in enumerate(rows):
                report, held_until = await self._one(delivery)
                reports.append(report)
                if held_until is not None:
                    for rest in rows[index + 1 :]:
                        await asyncio.to_thread(self.queue.retry, rest.id, next_attempt=held_until,
                                                error="waiting: the inbox failed just before", count_attempt=False)
                        reports.append(_report(rest, "pending", "waiting: the inbox failed just before", rest.attempts - 1))
                    break
        return reports

    async def _one(self, d: QueuedDelivery) -> tuple[dict[str, Any], datetime | None]:
        """Deliver one row; the report, and until when its inbox is held back after a temporary failure."""
        domain = domain_of(d.inbox)
        if self.blocked(domain):
            await asyncio.to_thread(self.queue.fail, d.id, error=f"{domain} is blocked")
            return _report(d, "failed", f"{domain} is blocked", d.attempts), None
        try:
            await self.poster.post(d.inbox, d.payload)
        except RemoteError as exc:
            return await self._failed(d, exc)
        await self._delivered.submit([d.id])
        if d.inbox not in self._healthy:
            await asyncio.to_thread(self.queue.inbox_succeeded, d.inbox)
            self._healthy.add(d.inbox)
        log.debug("activitypub.delivered", inbox=d.inbox, activity=d.activity_id)
        return _report(d, "delivered", None, d.attempts), None

    async def _failed(self, d: QueuedDelivery, exc: RemoteError) -> tuple[dict[str, Any], datetime | None]:
        error = str(exc)
        now = self.clock()
        if exc.permanent:
            await asyncio.to_thread(self.queue.fail, d.id, error=error)
            log.warning("activitypub.delivery_refused", inbox=d.inbox, activity=d.activity_id, error=error)
            return _report(d, "failed", error, d.attempts), None
        self._healthy.discard(d.inbox)
        wait = max(self.backoff(d.attempts), exc.retry_after or 0.0)
        next_attempt = now + timedelta(seconds=wait)
        health = await asyncio.to_thread(
            self.queue.inbox_failed, d.inbox, error=error, next_attempt=next_attempt,
            dead_after=timedelta(seconds=self.settings.dead_after),
            dead_retry=now + timedelta(seconds=self.settings.probe_every),
        )
        if health.dead_since is not None:
            await asyncio.to_thread(self.queue.fail, d.id, error=f"inbox given up: {error}")
            given_up = await asyncio.to_thread(self.queue.give_up, d.inbox, error=f"inbox given up: {error}")
            log.warning("activitypub.inbox_dead", inbox=d.inbox, since=health.dead_since, dropped=given_up + 1)
            return _report(d, "failed", f"inbox given up: {error}", d.attempts), None
        if d.attempts >= self.settings.max_attempts:
            await asyncio.to_thread(self.queue.fail, d.id, error=error)
            log.warning("activitypub.delivery_failed", inbox=d.inbox, activity=d.activity_id, error=error)
            return _report(d, "failed", error, d.attempts), next_attempt
        await asyncio.to_thread(self.queue.retry, d.id, next_attempt=next_attempt, error=error)
        log.info("activitypub.retry", inbox=d.inbox, activity=d.activity_id, attempts=d.attempts, wait=round(wait), error=error)
        return _report(d, "pending", error, d.attempts), next_attempt

    async def run_forever(self, stop: asyncio.Event, *, interval: float = 5.0) -> None:
        """Deliver every ``interval`` seconds (at once when ``wake`` is set) until ``stop``."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.run_once()
                if self.housekeeping is not None:
                    await asyncio.to_thread(self.housekeeping)
            except AggregatorError as exc:  # the database restarting: try again later
                log.warning("activitypub.round_failed", error=str(exc))
            await first_of(stop, self.wake, timeout=interval)


def _report(d: QueuedDelivery, state: str, error: str | None, attempts: int) -> dict[str, Any]:
    """A ``relay --json`` line for one delivery (the relay's fields, plus ``inbox`` and ``kind``)."""
    return {
        "entry_id": d.entry_id, "source": None, "target": "activitypub", "state": state, "action": "deliver",
        "text": None, "url": d.inbox, "language": None, "remote_id": d.activity_id, "error": error,
        "attempts": attempts, "kind": d.kind, "inbox": d.inbox,
    }
