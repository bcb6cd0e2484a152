"""The delivery loop: each (subscriber, day) digest handed to the SMTP server once.

The relay's outbox discipline (``aggregator/relay/__init__.py``), adapted to SMTP:

1. **Cut.** When the day's ``send_at`` has passed, the digest is cut in one transaction:
   its window, its stories (frozen) and one ``mail_deliveries`` row per confirmed subscriber
   (or one row for the list address in the mailing-list mode), each with a stable
   ``Message-ID`` derived from (recipient, day). Nothing is lost: a crash before the commit
   leaves no digest, and the next call cuts it again.
2. **Claim.** Before any SMTP command, rows are claimed: ``sending``, attempts + 1,
   ``claimed_at``, committed, ``CLAIM_BATCH`` per transaction. Claims are conditional
   updates: two processes never both send one row. A round that stops early (SIGTERM, a
   configuration error) gives back the claims it did not try.
3. **Mark DATA.** After the server accepted the recipient and just before ``DATA``, the
   row's ``data_at`` is committed: from this instant the message may be delivered.
4. **Finish.** ``sent`` after the server's 250; ``pending`` with back-off on a temporary
   failure; ``failed`` on a permanent one (and a 5xx about the address suppresses it).

**Reconciliation after an unclean stop.** SMTP has no read-back: nothing tells whether a
server kept a message whose answer we never recorded. A ``sending`` row whose claim is
older than ``reclaim_after`` (default 15 min, longer than any SMTP transaction with our
timeouts, so a live process's rows are never taken; 0 for the holder of a digest lock that
dies with its process, see ``reclaim_after_for``) is resolved by the ``data_at`` mark:

- without it, the crash came before ``DATA``: the message was certainly not delivered
  (a server delivers only after the final ``.``); it goes back to ``pending`` and the
  attempt is given back. This is the common case (claim, rendering, connection, MAIL,
  RCPT all come before it) and it never yields a duplicate;
- with it, the crash came inside the DATA exchange: the message may or may not have
  been delivered. It is sent again, with the **same** ``Message-ID`` (at least once rather
  than at most once: a missing day is silent, a repeated one is visible and mail stores
  that deduplicate on ``Message-ID`` show it once). Each such resend is logged
  (``digest.uncertain_resend``), so a crash harness can check that raw duplicates never
  exceed the crashes that fell inside that window, and that every (recipient, day) has
  exactly one distinct Message-ID.

``send_due()`` is one round: cut if due, reconcile, send what is due within the hourly cap,
and return ``{"sent", "failed", "skipped"}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from .. import logs
from ..errors import AggregatorError, DigestError, MailError
from ..model import ALL_STORIES, Clock, DigestConfig, DigestFilters, SourceConfig, utcnow
from ..store import Store
from ..store.digests import DigestRow, NewDelivery
from ..store.mail_deliveries import DeliveryRow
from ..store.subscribers import Subscriber
from ..waits import pause
from .archive import compose_row, load_sources, load_stories
from .compose import (
    BACKLOG,
    MAX_STORIES,
    Digest,
    Story,
    due_day,
    local_day,
    send_instant,
    window,
)
from .links import subscriber_links
from .render import MailRenderer, MailSettings
from .rounds import (
    LIST_RECIPIENT,
    PREFS_MARK,
    UNSUB_MARK,
    MailTransport,
    RoundContext,
    SendCounts,
    backoff,
    dry_run_counts,
    recipient_of,
)
from .smtp import BeforeData
from .tokens import SECRET_KEY, Keyring, new_secret

log = logs.get("aggregator.digest")

MAX_ATTEMPTS = 10
#: A ``sending`` claim older than this belongs to a dead process.
RECLAIM_AFTER = timedelta(minutes=15)
#: After a ``config`` failure (authentication, TLS…) the round stops; the row waits this long.
CONFIG_PAUSE = timedelta(minutes=5)
#: Rows claimed per transaction (one commit instead of one per mail); each is still
#: committed ``data_at`` before DATA and ``sent`` after the server's answer.
CLAIM_BATCH = 50


#: Periodic work beside the rounds (``Subscriptions.housekeeping`` and re-confirmations).
Chores = Callable[[], Awaitable[None]]


def keyring_for(store: Store) -> Keyring:
    """The newsletter's keys, from the secret stored once in ``meta`` (shared by every process)."""
    return Keyring(store.meta.get_or_create(SECRET_KEY, new_secret))


def message_seed(subscriber: Subscriber) -> str:
    """What a subscriber's Message-IDs derive from: the row's salt too, so an id that
    SQLite reuses after an unsubscription never repeats someone else's Message-ID."""
    return f"s{subscriber.id}.{subscriber.salt}"


class Newsletter:
    """Cuts digests and delivers them; one instance per process (build it in the factory)."""

    def __init__(
        self,
        store: Store,
        config: DigestConfig,
        *,
        base_url: str,
        transport: MailTransport | None = None,
        clock: Clock = utcnow,
        renderer: MailRenderer | None = None,
        reclaim_after: timedelta = RECLAIM_AFTER,
        max_attempts: int = MAX_ATTEMPTS,
    ):
        self.store = store
        self.config = config
        self.settings = MailSettings.from_config(config, base_url)
        self.transport = transport
        self.clock = clock
        self.zone = ZoneInfo(config.timezone)
        self.renderer = renderer or MailRenderer(self.settings)
        self.reclaim_after = reclaim_after
        self.max_attempts = max_attempts
        self._keyring: Keyring | None = None

    @property
    def list_mode(self) -> bool:
        return self.config.list_address is not None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = keyring_for(self.store)
        return self._keyring

    # -- the calendar and the window ---------------------------------------------------------

    def due_day(self, now: datetime) -> date | None:
        return due_day(now, self.config.send_at, self.zone)

    def today(self, now: datetime) -> date:
        return local_day(now, self.zone)

    def message_id(self, recipient: str, day: date | str) -> str:
        return self.keyring.message_id(recipient, day, self.settings.host)

    def window_for(self, day: date) -> tuple[datetime, datetime]:
        end = send_instant(day, self.config.send_at, self.zone)
        previous = self.store.digests.before(day.isoformat())
        return window(previous.window_end if previous else None, end)

    def _recipients(self, now: datetime) -> list[tuple[int | None, str, str]]:
        """(subscriber id, recipient, Message-ID seed) of everyone who gets the day's digest."""
        if self.list_mode:
            return [(None, LIST_RECIPIENT, f"list:{self.config.list_address}")]
        return [
            (s.id, recipient_of(s), message_seed(s))
            for s in self.store.subscribers.confirmed()
            if s.confirmed_at is not None and s.confirmed_at <= now
        ]

    def cut(self, now: datetime, day: date | None = None) -> DigestRow | None:
        """The digest of ``day`` (default: the one due now), cut with its deliveries if it
        was not yet; None when nothing is due.

        Raises:
            DigestError: ``day`` is in the future, or before its send time, or earlier than
                a digest already cut (the window chain only grows forward).
        """
        target = day or self.due_day(now)
        if target is None:
            return None
        existing = self.store.digests.get(target.isoformat())
        if existing is not None:
            return existing
        end = send_instant(target, self.config.send_at, self.zone)
        if now < end:
            if day is None:
                return None
            raise DigestError(f"the digest of {target} is not due before {end.astimezone(self.zone):%Y-%m-%d %H:%M %Z}")
        latest = self.store.digests.latest()
        if latest is not None and latest.day > target.isoformat():
            raise DigestError(f"the digest of {target} was never cut and a later one ({latest.day}) exists")
        start, end = self.window_for(target)
        ids = self.store.digests.stories_first_seen(start, end, published_after=start - BACKLOG, limit=MAX_STORIES)
        deliveries = [
            NewDelivery(sid, recipient, self.message_id(seed, target)) for sid, recipient, seed in self._recipients(now)
        ] if ids else []
        row = self.store.digests.create(day=target.isoformat(), window_start=start, window_end=end, entry_ids=ids,
                                        now=now, deliveries=deliveries)
        if row is None:
            return self.store.digests.get(target.isoformat())
        log.info("digest.cut", day=row.day, stories=row.stories, deliveries=len(deliveries),
                 window_start=start.isoformat(), window_end=end.isoformat())
        return row

    def _top_up(self, digest: DigestRow, now: datetime) -> int:
        """Rows for subscribers confirmed since today's digest was cut."""
        if self.list_mode or not digest.entry_ids or digest.day != self.today(now).isoformat():
            return 0
        missing = self.store.mail_deliveries.subscribers_without_row(digest.id, confirmed_before=now)
        if not missing:
            return 0
        subs = self.store.subscribers.get_many(missing)
        rows = [(s.id, recipient_of(s), self.message_id(message_seed(s), digest.day)) for s in subs.values()
                if s.state == "confirmed"]
        return self.store.mail_deliveries.add(digest.id, rows, now)

    # -- what a digest holds ---------------------------------------------------------------

    def sources(self) -> dict[str, SourceConfig]:
        return load_sources(self.store)

    def stories(self, entry_ids: Sequence[int]) -> list[Story]:
        """The stories of these first entries, in that order, with their other sources."""
        return load_stories(self.store, entry_ids)

    def compose(self, digest: DigestRow, stories: Sequence[Story], sources: dict[str, SourceConfig],
                filters: DigestFilters = ALL_STORIES) -> Digest:
        return compose_row(digest, stories, sources, self.config, filters)

    def preview(self, day: date, now: datetime, filters: DigestFilters = ALL_STORIES) -> Digest:
        """What that day's digest holds (``digest show``): the stored one when it was cut,
        else what it would hold if cut now (its window ending at the earlier of now and
        the day's send time). Writes nothing."""
        stored = self.store.digests.get(day.isoformat())
        if stored is None:
            start, end = self.window_for(day)
            end = min(end, now)
            start = min(start, end)
            ids = self.store.digests.stories_first_seen(start, end, published_after=start - BACKLOG, limit=MAX_STORIES)
            stored = DigestRow(id=0, day=day.isoformat(), window_start=start, window_end=end, entry_ids=tuple(ids),
                               stories=len(ids), created=now, sent=None)
        return self.compose(stored, self.stories(stored.entry_ids), self.sources(), filters)

    # -- one round ---------------------------------------------------------------------------

    def reconcile(self, now: datetime) -> int:
        """Release the claims of dead processes (see the module docstring)."""
        released = 0
        for row in self.store.mail_deliveries.stale_claims(now - self.reclaim_after):
            if row.data_at is None:
                done = self.store.mail_deliveries.release(
                    row, now, give_back=True, error="released after an unclean stop before DATA: not delivered")
            else:
                done = self.store.mail_deliveries.release(
                    row, now, give_back=False,
                    error="resent after an unclean stop during DATA: may have been delivered; same Message-ID")
                if done:
                    log.warning("digest.uncertain_resend", delivery=row.id, digest=row.digest_id, message_id=row.message_id)
            released += int(done)
        return released

    async def send_due(
        self, *, day: date | None = None, dry_run: bool = False, limit: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> SendCounts:
        """One round: cut the due digest, reconcile, send what is due within the hourly cap.

        ``dry_run`` writes nothing and sends nothing: it counts what this round would send
        for the due digest (``sent``) and who would get no mail (``skipped``). ``stop``
        ends the round between two mails (SIGTERM): rows claimed and not yet tried are
        handed back at once.
        """
        if dry_run:
            return await asyncio.to_thread(dry_run_counts, self, self.clock(), day)
        if self.transport is None:
            raise DigestError("no SMTP server configured (AGGREGATOR_SMTP_URL)")
        now = self.clock()
        digest = await asyncio.to_thread(self.cut, now, day)
        if digest is not None:
            await asyncio.to_thread(self._top_up, digest, now)
        await asyncio.to_thread(self.reconcile, now)
        budget = self.config.max_per_hour - await asyncio.to_thread(self.store.mail_deliveries.sent_since, now - timedelta(hours=1))
        counts = SendCounts()
        if budget <= 0:
            log.info("digest.hourly_cap", max_per_hour=self.config.max_per_hour)
            return counts
        take = budget if limit is None else min(budget, limit)
        rows = await asyncio.to_thread(self.store.mail_deliveries.due, now, limit=take)
        if rows:
            await self._deliver(rows, counts, stop)
        await asyncio.to_thread(self._close_finished, {r.digest_id for r in rows} | ({digest.id} if digest else set()))
        return counts

    def _close_finished(self, digest_ids: set[int]) -> None:
        now = self.clock()
        for digest_id in digest_ids:
            if self.store.mail_deliveries.open_count(digest_id) == 0 and self.store.digests.mark_sent(digest_id, now):
                log.info("digest.finished", digest=digest_id)

    async def _deliver(self, rows: Sequence[DeliveryRow], counts: SendCounts, stop: asyncio.Event | None) -> None:
        """Send these rows, ``CLAIM_BATCH`` at a time.

        A batch is claimed in one transaction before its first SMTP command (claims
        without ``data_at`` are never delivered, so a crash hands them back safely); each
        mail then commits ``data_at`` before DATA and ``sent`` after the 250. Rows come
        sorted by digest, filters and language, so each rendering is made once and used
        for everyone who shares it.
        """
        ctx = await asyncio.to_thread(self._context, rows)
        assert self.transport is not None
        ordered = sorted(rows, key=ctx.sort_key)
        for start in range(0, len(ordered), CLAIM_BATCH):
            if stop is not None and stop.is_set():
                return
            sendable, skipped = self._triage(ctx, ordered[start : start + CLAIM_BATCH])
            if skipped:
                counts.skipped += await asyncio.to_thread(self.store.mail_deliveries.skip_many, skipped)
            if not sendable:
                continue
            claimed = await asyncio.to_thread(self.store.mail_deliveries.claim_many, sendable, self.clock())
            for index, row in enumerate(claimed):
                if (stop is not None and stop.is_set()) or not await self._send_one(ctx, row, counts):
                    await asyncio.to_thread(self.store.mail_deliveries.give_back, [r.id for r in claimed[index:]])
                    return

    def _triage(self, ctx: RoundContext, rows: Sequence[DeliveryRow]) -> tuple[list[DeliveryRow], list[tuple[DeliveryRow, str]]]:
        """Rows to send, and rows that get no mail (with why)."""
        sendable: list[DeliveryRow] = []
        skipped: list[tuple[DeliveryRow, str]] = []
        for row in rows:
            digest_row = ctx.digests.get(row.digest_id)
            if digest_row is None:
                continue
            subscriber = ctx.subscribers.get(row.subscriber_id) if row.subscriber_id is not None else None
            if row.subscriber_id is not None and (subscriber is None or subscriber.state != "confirmed"):
                continue  # unsubscribed meanwhile: the row went (or goes) with the address
            if row.subscriber_id is None and not self.list_mode:
                skipped.append((row, "the mailing-list mode is off"))
            elif ctx.composed(self, digest_row, subscriber.filters if subscriber else ALL_STORIES).empty:
                skipped.append((row, "nothing matched the filters"))
            else:
                sendable.append(row)
        return sendable, skipped

    async def _send_one(self, ctx: RoundContext, claimed: DeliveryRow, counts: SendCounts) -> bool:
        """One claimed row to the SMTP server; False when the round must stop."""
        assert self.transport is not None
        digest_row = ctx.digests[claimed.digest_id]
        subscriber = ctx.subscribers.get(claimed.subscriber_id) if claimed.subscriber_id is not None else None
        composed = ctx.composed(self, digest_row, subscriber.filters if subscriber else ALL_STORIES)
        message, recipient = self._message(ctx, claimed, digest_row, composed, subscriber)
        try:
            await self.transport.send(message, sender=self.settings.envelope_sender, recipient=recipient,
                                      before_data=self._data_marker(claimed.id))
        except MailError as exc:
            counts.failed += 1
            return await self._failed(claimed, subscriber, exc)
        await asyncio.to_thread(self.store.mail_deliveries.mark_sent, claimed.id, self.clock())
        counts.sent += 1
        log.info("digest.sent", delivery=claimed.id, day=digest_row.day, stories=composed.count,
                 attempts=claimed.attempts)
        return True

    def _data_marker(self, row_id: int) -> BeforeData:
        async def mark() -> bool:
            return await asyncio.to_thread(self.store.mail_deliveries.mark_data, row_id, self.clock())

        return mark

    async def _failed(self, claimed: DeliveryRow, subscriber: Subscriber | None, exc: MailError) -> bool:
        """Record a failed attempt; False when the round must stop (``config``)."""
        deliveries = self.store.mail_deliveries
        now = self.clock()
        error = str(exc)
        if exc.kind == "config":
            await asyncio.to_thread(deliveries.mark_retry, claimed.id, error=error, next_attempt=now + CONFIG_PAUSE,
                                    count_attempt=False)
            log.error("digest.smtp_config", error=error)
            return False
        if exc.kind == "refused" and subscriber is not None:
            # The address is gone for good: delete it (its deliveries go with it), keep the hash.
            await asyncio.to_thread(self.store.subscribers.suppress, subscriber.address_key, reason="refused", now=now)
            log.warning("digest.address_refused", delivery=claimed.id, code=exc.code)
            return True
        if exc.kind in ("refused", "rejected") or claimed.attempts >= self.max_attempts:
            await asyncio.to_thread(deliveries.mark_failed, claimed.id, error=error)
            log.warning("digest.failed", delivery=claimed.id, attempts=claimed.attempts, error=error)
            return True
        wait = backoff(claimed.attempts)
        await asyncio.to_thread(deliveries.mark_retry, claimed.id, error=error, next_attempt=now + timedelta(seconds=wait))
        log.info("digest.retry", delivery=claimed.id, attempts=claimed.attempts, wait=round(wait), error=error)
        return True

    # -- building the mails ------------------------------------------------------------------

    def _context(self, rows: Sequence[DeliveryRow]) -> RoundContext:
        digest_ids = sorted({r.digest_id for r in rows})
        digests = {}
        for digest_id in digest_ids:
            d = self.store.digests.get_by_id(digest_id)
            if d is not None:
                digests[digest_id] = d
        subscribers = self.store.subscribers.get_many([r.subscriber_id for r in rows if r.subscriber_id is not None])
        stories = {digest_id: self.stories(d.entry_ids) for digest_id, d in digests.items()}
        return RoundContext(digests=digests, subscribers=subscribers, stories=stories, sources=self.sources())

    def _message(
        self, ctx: RoundContext, row: DeliveryRow, digest_row: DigestRow, composed: Digest, subscriber: Subscriber | None
    ) -> tuple[EmailMessage | bytes, str]:
        now = self.clock()
        if subscriber is None:
            assert self.config.list_address is not None
            return self.renderer.list_message(composed, message_id=row.message_id, date=now), self.config.list_address
        links = subscriber_links(self.settings.base_url, self.keyring, subscriber.id, subscriber.salt,
                                 unsubscribe_address=self.config.unsubscribe_address)
        prepared = ctx.prepared(self, digest_row, subscriber, composed)
        tokens = {UNSUB_MARK: links.unsubscribe_url.rsplit("/", 1)[1], PREFS_MARK: links.preferences_url.rsplit("/", 1)[1]}
        message = self.renderer.digest_wire(prepared, to=subscriber.address, message_id=row.message_id, date=now,
                                            links=links, replacements=tokens)
        return message, subscriber.address

    # -- the loop for ``run`` -------------------------------------------------------------------

    async def run_forever(
        self, stop: asyncio.Event, *, interval: float = 60.0, chores: Chores | None = None,
        chores_every: float = 3600.0,
    ) -> None:
        """A round every ``interval`` seconds until ``stop`` is set, and ``chores`` (the
        subscriptions' housekeeping and re-confirmations) every ``chores_every``; errors
        are logged, never fatal."""
        loop = asyncio.get_running_loop()
        chores_at = -chores_every
        while not stop.is_set():
            try:
                await self.send_due(stop=stop)
                if chores is not None and loop.time() - chores_at >= chores_every and not stop.is_set():
                    chores_at = loop.time()
                    await chores()
            except AggregatorError as exc:
                log.warning("digest.round_failed", error=str(exc))
            except Exception:
                log.exception("digest.bug")
            await pause(stop, interval)


def reclaim_after_for(lock_mechanism: str) -> timedelta:
    """How old a ``sending`` claim must be before the digest lock's holder takes it back.

    A lock that dies with its holder (``file``: a ``flock`` on one machine) proves that
    whoever claimed a row that is still ``sending`` is dead: take it back at once. A
    PostgreSQL advisory lock can be lost (a restarted server) by a process that keeps
    running until it notices, so then wait ``RECLAIM_AFTER``.
    """
    return timedelta(0) if lock_mechanism == "file" else RECLAIM_AFTER
