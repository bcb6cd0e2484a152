"""The dry run (``relay --dry-run``): what the next round would post, cards included.

It works before any account exists: it plans for every *configured* target (``relay:``
in ``sources.yaml``), credentials or not, and needs no poster. It reads the same rows in
the same order as the delivery loop (``delivery.load_round``) and honours the hourly
ceiling the same way, so what it prints is what the next round would do. For Bluesky it
builds the link card the real post would carry (the article page's OpenGraph data, and
whether its image would be attached after resizing), through the card HTTP client. It
writes nothing to the database and sends nothing to Mastodon or Bluesky.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import Clock, RelayConfig, utcnow
from .cards import PageGetter, fetch_card, fetch_thumbnail
from .delivery import load_round, report
from .plan import Job
from .ports import RelayStore


@dataclass
class Preview:
    """What a dry run found: one report per row the next round would handle."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    #: Rows left for a later round by ``max_posts_per_hour``, by target.
    deferred: dict[str, int] = field(default_factory=dict)


class RelayPreview:
    """Plans the next round for the configured targets; posts and writes nothing."""

    def __init__(
        self,
        store: RelayStore,
        config: RelayConfig,
        targets: Sequence[str],
        *,
        http: PageGetter | None,
        clock: Clock = utcnow,
    ):
        """
        Args:
            targets: every configured target, credentialed or not.
            http: the link cards' client; None shows Bluesky posts without their card.
        """
        self.store = store
        self.config = config
        self.targets = tuple(targets)
        self.http = http
        self.clock = clock

    async def run_once(self, *, limit: int | None = None) -> Preview:
        out = Preview()
        if not self.targets:
            return out
        batch = await load_round(self.store, self.config, self.targets, self.clock(), limit=limit)
        for row, job in batch.jobs:
            if job.action == "skip":
                out.reports.append(report(row, job, state="skipped", error=job.reason or None, attempts=row.attempts))
                continue
            if batch.budget[row.target] <= 0:
                out.deferred[row.target] = out.deferred.get(row.target, 0) + 1
                continue
            batch.budget[row.target] -= 1
            line = report(row, job, state=row.state, attempts=row.attempts)
            line["card"] = await self._card(job)
            out.reports.append(line)
        return out

    async def _card(self, job: Job) -> dict[str, Any] | None:
        """The Bluesky link card the post would carry; None where there is none to build.

        Mastodon builds its own preview card from the link when the status is published.
        """
        if job.target != "bluesky" or job.action != "post" or not job.url or self.http is None:
            return None
        card = await fetch_card(self.http, job.url, title=job.title, description=job.description, image=job.image)
        thumbnail = await fetch_thumbnail(self.http, card.image) if card.image else None
        return {
            "url": card.url,
            "title": card.title or job.title,
            "description": card.description,
            "image": card.image,
            "image_attached": thumbnail is not None,
            "image_bytes": len(thumbnail[0]) if thumbnail else None,
        }
