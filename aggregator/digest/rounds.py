"""The parts of a delivery round that are not the loop itself: what a round reads once and
caches (``RoundContext``), what it counts (``SendCounts``), the transport it needs
(``MailTransport``), the back-off between attempts, and the dry run that counts what a
round would do."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

from ..model import DigestConfig, DigestFilters, SourceConfig
from ..store.digests import DigestRow
from ..store.mail_deliveries import DeliveryRow
from ..store.subscribers import Subscriber
from .compose import BACKLOG, MAX_STORIES, Digest, Story, send_instant
from .links import SubscriberLinks
from .render import MailRenderer, MailSettings, PreparedDigest
from .smtp import BeforeData

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..store import Store

#: First retry after a minute, doubling, at most six hours apart; ten attempts span a day.
BACKOFF_BASE = 60.0
BACKOFF_MAX = 6 * 3600.0
LIST_RECIPIENT = "list"
#: Renderings kept per round (one per filters and language being sent).
CACHE_SIZE = 64

UNSUB_MARK = "UNSUBSCRIBE-TOKEN-PLACEHOLDER"
PREFS_MARK = "PREFERENCES-TOKEN-PLACEHOLDER"


class Newsletter(Protocol):
    """What a round and the dry run read of ``deliver.Newsletter`` (declared here, so that
    this module does not import the loop that imports it)."""

    store: Store
    config: DigestConfig
    settings: MailSettings
    zone: ZoneInfo
    renderer: MailRenderer

    @property
    def list_mode(self) -> bool: ...

    def due_day(self, now: datetime) -> date | None: ...

    def window_for(self, day: date) -> tuple[datetime, datetime]: ...

    def sources(self) -> dict[str, SourceConfig]: ...

    def stories(self, entry_ids: Sequence[int]) -> list[Story]: ...

    def compose(self, digest: DigestRow, stories: Sequence[Story], sources: dict[str, SourceConfig],
                filters: DigestFilters = ...) -> Digest: ...


class MailTransport(Protocol):
    """What the loop needs of an SMTP client (``smtp.SmtpTransport``)."""

    async def send(
        self, message: EmailMessage | bytes, *, sender: str, recipient: str, before_data: BeforeData | None = None
    ) -> str: ...

    async def close(self) -> None: ...


@dataclass
class SendCounts:
    """The last line of ``aggregator digest send --json``."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failed ones."""
    return float(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, attempts - 1)))


def recipient_of(subscriber: Subscriber) -> str:
    return f"s{subscriber.id}"


@dataclass
class RoundContext:
    """What one round reads once: digests, subscribers, stories, sources, and caches of the
    composed digests and rendered bodies (many subscribers share their filters). The
    caches are bounded: with rows sorted by ``sort_key``, a rendering is used by everyone
    who shares it before the next one is made."""

    digests: dict[int, DigestRow]
    subscribers: dict[int, Subscriber]
    stories: dict[int, list[Story]]
    sources: dict[str, SourceConfig]

    def __post_init__(self) -> None:
        self._composed: OrderedDict[tuple[int, object], Digest] = OrderedDict()
        self._prepared: OrderedDict[tuple[int, object, str], PreparedDigest] = OrderedDict()

    def sort_key(self, row: DeliveryRow) -> tuple[int, object, str, int]:
        subscriber = self.subscribers.get(row.subscriber_id) if row.subscriber_id is not None else None
        if subscriber is None:
            return (row.digest_id, (), "", row.id)
        return (row.digest_id, subscriber.filters.key(), subscriber.locale, row.id)

    def composed(self, newsletter: Newsletter, digest: DigestRow, filters: DigestFilters) -> Digest:
        key = (digest.id, filters.key())
        found = self._composed.get(key)
        if found is None:
            found = self._composed[key] = newsletter.compose(digest, self.stories[digest.id], self.sources, filters)
            bound(self._composed, CACHE_SIZE)
        return found

    def prepared(self, newsletter: Newsletter, digest: DigestRow, subscriber: Subscriber,
                 composed: Digest) -> PreparedDigest:
        """The digest rendered and encoded once per (digest, filters, language), with
        placeholder tokens on the lines that ``digest_wire`` fills per subscriber."""
        key = (digest.id, subscriber.filters.key(), subscriber.locale)
        found = self._prepared.get(key)
        if found is None:
            base = newsletter.settings.base_url
            placeholder = SubscriberLinks(f"{base}/unsubscribe/{UNSUB_MARK}", f"{base}/preferences/{PREFS_MARK}")
            bodies = newsletter.renderer.digest_bodies(composed, locale=subscriber.locale, links=placeholder)
            found = self._prepared[key] = newsletter.renderer.prepare_digest(
                composed, locale=subscriber.locale, bodies=bodies, markers=(UNSUB_MARK, PREFS_MARK))
            bound(self._prepared, CACHE_SIZE)
        return found


def bound(cache: OrderedDict[Any, Any], size: int) -> None:
    while len(cache) > size:
        cache.popitem(last=False)


def dry_run_counts(newsletter: Newsletter, now: datetime, day: date | None) -> SendCounts:
    """What ``send_due`` would do now, counted, changing nothing (``digest send --dry-run``)."""
    counts = SendCounts()
    target = day or newsletter.due_day(now)
    if target is None:
        return counts
    stored = newsletter.store.digests.get(target.isoformat())
    if stored is None and now < send_instant(target, newsletter.config.send_at, newsletter.zone):
        return counts
    digest = stored
    if digest is None:
        start, end = newsletter.window_for(target)
        ids = newsletter.store.digests.stories_first_seen(start, end, published_after=start - BACKLOG, limit=MAX_STORIES)
        digest = DigestRow(id=0, day=target.isoformat(), window_start=start, window_end=end, entry_ids=tuple(ids),
                           stories=len(ids), created=now, sent=None)
    if not digest.entry_ids:
        return counts
    done: set[str] = set()
    if stored is not None:
        done = {r.recipient for r in newsletter.store.mail_deliveries.for_digest(stored.id) if r.state in ("sent", "failed", "skipped")}
    stories = newsletter.stories(digest.entry_ids)
    sources = newsletter.sources()
    budget = max(0, newsletter.config.max_per_hour - newsletter.store.mail_deliveries.sent_since(now - timedelta(hours=1)))
    if newsletter.list_mode:
        targets: list[tuple[str, DigestFilters]] = [(LIST_RECIPIENT, DigestFilters())]
    else:
        targets = [(recipient_of(s), s.filters) for s in newsletter.store.subscribers.confirmed()]
    cache: dict[object, bool] = {}
    for recipient, filters in targets:
        if recipient in done:
            continue
        key = filters.key()
        if key not in cache:
            cache[key] = newsletter.compose(digest, stories, sources, filters).empty
        if cache[key]:
            counts.skipped += 1
        elif counts.sent < budget:
            counts.sent += 1
    return counts
