"""Digests: one row per day the newsletter was cut, with its window and its stories.

The window rule lives here as data: a digest's window starts where the previous one
ended, so no story falls between two days or lands in both. The stories are frozen when
the digest is cut (the first entries of the stories, in order): every recipient's mail,
a resend after a crash and ``/digest/YYYY-MM-DD`` all show the same set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from . import schema
from .base import Database

D = schema.digests
DL = schema.mail_deliveries
E = schema.entries

#: Entries that are not stories of their own in a digest: answers in threads, and boosts
#: of other people's posts.
NOT_STORIES = ("reply", "repost")


@dataclass(frozen=True)
class DigestRow:
    id: int
    day: str  # YYYY-MM-DD
    window_start: datetime
    window_end: datetime
    entry_ids: tuple[int, ...]
    stories: int
    created: datetime
    sent: datetime | None


@dataclass(frozen=True)
class NewDelivery:
    """A delivery row to create with its digest: ``subscriber_id`` None is the list."""

    subscriber_id: int | None
    recipient: str
    message_id: str


def _row(r: Any) -> DigestRow:
    m = r._mapping
    return DigestRow(
        id=m["id"], day=m["day"], window_start=m["window_start"], window_end=m["window_end"],
        entry_ids=tuple(int(x) for x in json.loads(m["entry_ids"] or "[]")), stories=m["stories"],
        created=m["created"], sent=m["sent"],
    )


class DigestRepo:
    def __init__(self, db: Database):
        self.db = db

    def latest(self) -> DigestRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(D).order_by(D.c.day.desc()).limit(1)).first()
        return _row(r) if r else None

    def get(self, day: str) -> DigestRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(D).where(D.c.day == day)).first()
        return _row(r) if r else None

    def get_by_id(self, digest_id: int) -> DigestRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(D).where(D.c.id == digest_id)).first()
        return _row(r) if r else None

    def before(self, day: str) -> DigestRow | None:
        """The last digest cut before that day (whose end starts that day's window)."""
        with self.db.read() as conn:
            r = conn.execute(select(D).where(D.c.day < day).order_by(D.c.day.desc()).limit(1)).first()
        return _row(r) if r else None

    def archive(self, *, limit: int = 60, before_day: str | None = None) -> list[DigestRow]:
        """Days that had something, newest first (``/digest``, ``/digest.atom``)."""
        query = select(D).where(D.c.stories > 0).order_by(D.c.day.desc()).limit(limit)
        if before_day is not None:
            query = query.where(D.c.day < before_day)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def stories_first_seen(self, start: datetime, end: datetime, *, published_after: datetime, limit: int) -> list[int]:
        """First entries of the stories first seen in ``[start, end)``, newest first.

        A story is first seen when its first entry is (the primary entry is the first one
        stored); entries deleted by the operator, replies and reposts are left out, and so
        are entries published before ``published_after`` (a new source's back catalogue is
        not news).
        """
        query = (
            select(E.c.id)
            .where(
                E.c.is_primary.is_(True), E.c.deleted.is_(False), E.c.kind.not_in(NOT_STORIES),
                E.c.first_seen >= start, E.c.first_seen < end, E.c.published >= published_after,
            )
            .order_by(E.c.published.desc(), E.c.id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            return [r.id for r in conn.execute(query)]

    def create(
        self, *, day: str, window_start: datetime, window_end: datetime, entry_ids: Sequence[int], now: datetime,
        deliveries: Sequence[NewDelivery],
    ) -> DigestRow | None:
        """Cut the day's digest and its delivery rows in one transaction.

        None when that day's digest exists already (another process cut it first: its
        deliveries came with it).
        """
        stmt: Any = self.db.insert(D).values(
            day=day, window_start=window_start, window_end=window_end, entry_ids=json.dumps(list(entry_ids)),
            stories=len(entry_ids), created=now, sent=None if entry_ids else now,
        )
        with self.db.write() as conn:
            inserted = conn.execute(stmt.on_conflict_do_nothing(index_elements=["day"]).returning(D.c.id)).first()
            if inserted is None:
                return None
            digest_id = inserted[0]
            if deliveries:
                conn.execute(DL.insert(), [
                    {"digest_id": digest_id, "subscriber_id": d.subscriber_id, "recipient": d.recipient,
                     "message_id": d.message_id, "state": "pending", "next_attempt": now, "created": now}
                    for d in deliveries
                ])
            return _row(conn.execute(select(D).where(D.c.id == digest_id)).one())

    def mark_sent(self, digest_id: int, now: datetime) -> bool:
        """Every delivery of the digest is finished (sent, failed or skipped)."""
        with self.db.write() as conn:
            return (conn.execute(update(D).where(D.c.id == digest_id, D.c.sent.is_(None)).values(sent=now)).rowcount or 0) == 1
