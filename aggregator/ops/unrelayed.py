"""Items that never reached the relay outbox: why, and queueing the recent ones.

An item gets its outbox rows in the transaction that stores it, for the targets
configured *at that moment*. Items crawled before ``relay:`` was configured (or before a
target was added) therefore have no row, and the relay never sees them: a dry run then
prints nothing. ``survey`` counts them by reason; ``queue_recent`` gives the recent ones
their rows. Whether an item deserves a post is decided by ``update.decide.relay_refusal``,
the rule the write path applies, judged at the moment the item was first stored: there is
no second rule here.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..model import Config, SourceConfig
from ..store import Store
from ..store.outbox import Unqueued
from ..update.decide import relay_refusal

#: Why an unqueued item stays unqueued; "worthy" means the relay would have posted it.
Reason = str
PAGE = 1000


def reason_for(item: Unqueued, sources: Mapping[str, SourceConfig], backlog: timedelta) -> Reason:
    """``worthy``, ``backlog``, ``reply``, ``source`` (relay: false) or ``unconfigured``."""
    source = sources.get(item.source)
    if source is None:
        return "unconfigured"
    refusal = relay_refusal(kind=item.kind, published=item.published, seen=item.first_seen,
                            relay=source.relay, backlog=backlog)
    return refusal or "worthy"


@dataclass
class Survey:
    """Story-opening items without a row for at least one configured target, by reason."""

    reasons: Counter[str] = field(default_factory=Counter)
    #: Relay-worthy items first seen within ``recent`` of now (what ``--queue-recent`` takes).
    recent_worthy: int = 0


@dataclass
class Queued:
    """What ``queue_recent`` did (or would do, dry): rows added by target, others by reason."""

    added: dict[str, int] = field(default_factory=dict)
    left: Counter[str] = field(default_factory=Counter)


def _walk(store: Store, target: str, seen_since: datetime | None) -> list[list[Unqueued]]:
    pages: list[list[Unqueued]] = []
    after = 0
    while True:
        page = store.outbox.unqueued(target, seen_since=seen_since, after=after, limit=PAGE)
        if not page:
            return pages
        pages.append(page)
        after = page[-1].entry_id


def survey(store: Store, config: Config, *, now: datetime, recent: timedelta) -> Survey:
    """Count the items the relay will never see, by reason (synchronous: run in a thread)."""
    out = Survey()
    sources = {s.slug: s for s in config.sources}
    backlog = timedelta(seconds=config.relay.backlog)
    counted: set[int] = set()
    for target in config.relay.targets():
        after = 0
        while True:
            page = store.outbox.unqueued(target, after=after, limit=PAGE)
            if not page:
                break
            for item in page:
                if item.entry_id in counted:
                    continue
                counted.add(item.entry_id)
                reason = reason_for(item, sources, backlog)
                out.reasons[reason] += 1
                if reason == "worthy" and item.first_seen >= now - recent:
                    out.recent_worthy += 1
            after = page[-1].entry_id
    return out


def queue_recent(store: Store, config: Config, *, now: datetime, within: timedelta, dry_run: bool = False) -> Queued:
    """Queue the relay-worthy items first seen within ``within`` that have no row yet.

    One row per configured target (credentialed or not: rows wait for their account), due
    now; ``max_posts_per_hour`` still spaces the posts. Synchronous: run in a thread.
    """
    out = Queued()
    sources = {s.slug: s for s in config.sources}
    backlog = timedelta(seconds=config.relay.backlog)
    since = now - within
    for target in config.relay.targets():
        worthy: list[int] = []
        for page in _walk(store, target, since):
            for item in page:
                reason = reason_for(item, sources, backlog)
                if reason == "worthy":
                    worthy.append(item.entry_id)
                else:
                    out.left[reason] += 1
        if dry_run:
            out.added[target] = len(worthy)
            continue
        added = 0
        for start in range(0, len(worthy), PAGE):
            added += store.outbox.enqueue(worthy[start : start + PAGE], target, now)
        out.added[target] = added
    return out


async def explain_idle(store: Store, config: Config, *, now: datetime, recent: timedelta = timedelta(hours=6)) -> list[str]:
    """Why a round of the relay found nothing to post: one line per reason, with the fix.

    Shown by ``relay --dry-run`` and ``relay --once`` when they have nothing to show.
    """
    targets = config.relay.targets()
    lines: list[str] = []
    counts = await asyncio.to_thread(store.outbox.counts)
    waiting = sum(n for (target, state), n in counts.items() if target in targets and state == "pending")
    if waiting:
        due = await asyncio.to_thread(store.outbox.next_attempt, targets=targets)
        when = f"; the next is due at {due:%Y-%m-%d %H:%M} UTC" if due else ""
        lines.append(f"{waiting} items wait for a retry or for the hourly limit (max_posts_per_hour){when}")
    failed = sum(n for (target, state), n in counts.items() if target in targets and state == "failed")
    if failed:
        lines.append(f"{failed} items failed after relay.max_attempts attempts: "
                     "`aggregator relay --retry-failed` queues them again")
    found = await asyncio.to_thread(survey, store, config, now=now, recent=recent)
    hours = f"{recent.total_seconds() / 3600:g}h"
    backlog = f"{config.relay.backlog / 3600:g}h"
    if found.reasons["worthy"]:
        lines.append(
            f"{found.reasons['worthy']} items were stored before the relay (or this target) was configured, so they "
            f"never entered the outbox; {found.recent_worthy} of them were first seen in the last {hours}: "
            f"`aggregator relay --queue-recent {hours}` queues those")
    if found.reasons["backlog"]:
        lines.append(f"{found.reasons['backlog']} items are older than the backlog window ({backlog} before they "
                     "were first seen) and are never relayed (relay.backlog in sources.yaml)")
    if found.reasons["source"]:
        lines.append(f"{found.reasons['source']} items come from sources with relay: false")
    if found.reasons["reply"]:
        lines.append(f"{found.reasons['reply']} items are replies, which are never relayed")
    if found.reasons["unconfigured"]:
        lines.append(f"{found.reasons['unconfigured']} items come from sources no longer in the configuration")
    if not lines:
        posted = sum(n for (target, state), n in counts.items() if target in targets and state in ("posted", "skipped"))
        lines.append(f"every stored item has been handled ({posted} posted or skipped)" if posted
                     else "no item has been stored yet: `aggregator crawl --once` fetches the sources")
    return lines
