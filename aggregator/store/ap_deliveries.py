"""What our ActivityPub actors published, and its delivery to each remote inbox.

``ap_activities`` keeps every activity as sent (the outbox collection, the documents behind
``/ap/activities/...``, and the identical body of every retry). ``ap_deliveries`` has one
row per (activity, inbox): ``pending`` (due at ``next_attempt``) -> ``sending`` (claimed,
committed before the POST, as the relay outbox does) -> ``delivered`` | ``pending`` again
(retry with back-off) | ``failed``. Each transition is a conditional update on the expected
state, so two processes never both claim a row, and a 2xx is never followed by a second
POST of the same activity to the same inbox. ``ap_inboxes`` keeps each inbox's health: after
days of failures the inbox is ``dead`` and skipped, until it answers again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from yarl import URL

from . import schema
from .base import Database

A = schema.ap_activities
D = schema.ap_deliveries
I = schema.ap_inboxes  # noqa: E741

DELIVERY_STATES = ("pending", "sending", "delivered", "failed")


@dataclass(frozen=True)
class Delivery:
    id: int
    activity_id: str
    inbox: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt: datetime
    last_error: str | None


@dataclass(frozen=True)
class InboxHealth:
    inbox: str
    domain: str
    failures: int
    failing_since: datetime | None
    dead_since: datetime | None
    next_attempt: datetime | None
    last_error: str | None
    last_success: datetime | None


def _domain(url: str) -> str:
    try:
        return (URL(url).host or "").lower()
    except ValueError:
        return ""


class ActivityDeliveryRepo:
    def __init__(self, db: Database):
        self.db = db

    # -- activities ---------------------------------------------------------------------

    def publish(
        self, *, local_actor: str, activity: Mapping[str, Any], entry_id: int | None = None,
        public: bool = True, inboxes: Iterable[str] = (),
    ) -> int:
        """Keep ``activity`` and queue it for ``inboxes``, in one transaction; returns its row id.

        Publishing the same activity id again adds only the inboxes it was not queued for.
        """
        now = self.db.clock()
        activity_id = str(activity["id"])
        stmt: Any = self.db.insert(A).values(
            local_actor=local_actor, activity_id=activity_id, kind=str(activity.get("type", "")),
            entry_id=entry_id, public=public, payload=json.dumps(activity, ensure_ascii=False), created=now,
        )
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["activity_id"]))
            row_id = int(conn.execute(select(A.c.id).where(A.c.activity_id == activity_id)).scalar_one())
            targets = sorted(set(inboxes))
            if targets:
                insert: Any = self.db.insert(D)
                conn.execute(
                    insert.on_conflict_do_nothing(index_elements=["activity", "inbox"]),
                    [{"activity": row_id, "inbox": t, "state": "pending", "next_attempt": now, "created": now, "updated": now}
                     for t in targets],
                )
        return row_id

    def activity(self, activity_id: str) -> dict[str, Any] | None:
        """The document of one of our activities (``/ap/activities/...``)."""
        with self.db.read() as conn:
            payload = conn.execute(select(A.c.payload).where(A.c.activity_id == activity_id)).scalar()
        return json.loads(payload) if payload is not None else None

    def outbox_count(self, local_actor: str) -> int:
        with self.db.read() as conn:
            query = select(func.count()).select_from(A).where(A.c.local_actor == local_actor, A.c.public.is_(True))
            return int(conn.execute(query).scalar() or 0)

    def outbox_page(self, local_actor: str, *, offset: int, limit: int) -> list[dict[str, Any]]:
        """Public activities, newest first."""
        query = (
            select(A.c.payload).where(A.c.local_actor == local_actor, A.c.public.is_(True))
            .order_by(A.c.id.desc()).offset(max(0, offset)).limit(limit)
        )
        with self.db.read() as conn:
            return [json.loads(r[0]) for r in conn.execute(query)]

    # -- deliveries ---------------------------------------------------------------------

    def claim(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        """Due deliveries to live inboxes, marked ``sending`` (committed before any POST)."""
        due = (
            select(D.c.id)
            .select_from(D.outerjoin(I, I.c.inbox == D.c.inbox))
            .where(
                D.c.state == "pending", D.c.next_attempt <= now, I.c.dead_since.is_(None),
                or_(I.c.next_attempt.is_(None), I.c.next_attempt <= now),
            )
            .order_by(D.c.next_attempt, D.c.id).limit(limit)
        )
        claimed: list[int] = []
        with self.db.write() as conn:
            for (row_id,) in conn.execute(due).all():
                result = conn.execute(
                    update(D).where(D.c.id == row_id, D.c.state == "pending")
                    .values(state="sending", attempts=D.c.attempts + 1, updated=now)
                )
                if result.rowcount:
                    claimed.append(row_id)
        return self._deliveries(claimed)

    def _deliveries(self, ids: list[int]) -> list[Delivery]:
        if not ids:
            return []
        query = select(D, A.c.activity_id, A.c.payload).join(A, A.c.id == D.c.activity).where(D.c.id.in_(ids)).order_by(D.c.id)
        with self.db.read() as conn:
            return [
                Delivery(
                    id=r.id, activity_id=r.activity_id, inbox=r.inbox, payload=json.loads(r.payload), state=r.state,
                    attempts=r.attempts, next_attempt=r.next_attempt, last_error=r.last_error,
                )
                for r in conn.execute(query)
            ]

    def delivered(self, delivery_id: int) -> bool:
        return self._move(delivery_id, "sending", state="delivered", last_error=None)

    def retry(self, delivery_id: int, *, next_attempt: datetime, error: str) -> bool:
        return self._move(delivery_id, "sending", state="pending", next_attempt=next_attempt, last_error=error[:1000])

    def fail(self, delivery_id: int, *, error: str) -> bool:
        return self._move(delivery_id, "sending", state="failed", last_error=error[:1000])

    def _move(self, delivery_id: int, expected: str, **values: Any) -> bool:
        with self.db.write() as conn:
            result = conn.execute(
                update(D).where(D.c.id == delivery_id, D.c.state == expected).values(updated=self.db.clock(), **values)
            )
            return bool(result.rowcount)

    def counts(self) -> dict[str, int]:
        """Deliveries by state (``relay --json``, ``/metrics``)."""
        with self.db.read() as conn:
            return {r[0]: r[1] for r in conn.execute(select(D.c.state, func.count()).group_by(D.c.state))}

    def all(self) -> list[Delivery]:
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(select(D.c.id).order_by(D.c.id))]
        return self._deliveries(ids)

    # -- inbox health -------------------------------------------------------------------

    def inbox_health(self, inbox: str) -> InboxHealth | None:
        with self.db.read() as conn:
            r = conn.execute(select(I).where(I.c.inbox == inbox)).first()
        if r is None:
            return None
        return InboxHealth(
            inbox=r.inbox, domain=r.domain, failures=r.failures, failing_since=r.failing_since, dead_since=r.dead_since,
            next_attempt=r.next_attempt, last_error=r.last_error, last_success=r.last_success,
        )

    def inbox_succeeded(self, inbox: str) -> None:
        """A 2xx: the inbox is healthy again (a dead one resumes)."""
        now = self.db.clock()
        values = {"failures": 0, "failing_since": None, "dead_since": None, "next_attempt": None, "last_error": None,
                  "last_success": now, "updated": now}
        stmt: Any = self.db.insert(I).values(inbox=inbox, domain=_domain(inbox), **values)
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["inbox"], set_=values))

    def inbox_failed(self, inbox: str, *, error: str, next_attempt: datetime, dead_after: timedelta) -> InboxHealth:
        """A failure: count it, hold the inbox until ``next_attempt``; dead after ``dead_after`` of failures."""
        now = self.db.clock()
        with self.db.write() as conn:
            r = conn.execute(select(I.c.failures, I.c.failing_since, I.c.dead_since).where(I.c.inbox == inbox)).first()
            failures = (r.failures if r else 0) + 1
            since = (r.failing_since if r else None) or now
            dead = (r.dead_since if r else None) or (now if now - since >= dead_after else None)
            values = {"failures": failures, "failing_since": since, "dead_since": dead, "next_attempt": next_attempt,
                      "last_error": error[:1000], "updated": now}
            stmt: Any = self.db.insert(I).values(inbox=inbox, domain=_domain(inbox), **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["inbox"], set_=values))
        health = self.inbox_health(inbox)
        assert health is not None
        return health

    def dead_inboxes(self) -> list[str]:
        with self.db.read() as conn:
            return [r[0] for r in conn.execute(select(I.c.inbox).where(and_(I.c.dead_since.is_not(None))).order_by(I.c.inbox))]
