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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from yarl import URL

from ..model import to_iso
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
    entry_id: int | None = None  # the story, for Create/Update/Delete/Announce
    kind: str = ""  # the activity's type


@dataclass(frozen=True)
class Published:
    """One of our activities, without its document."""

    activity_id: str
    kind: str
    entry_id: int | None
    created: datetime


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
        public: bool = True, inboxes: Iterable[str] = (), not_before: Mapping[str, datetime] | None = None,
    ) -> int:
        """Keep ``activity`` and queue it for ``inboxes``, in one transaction; returns its row id.

        Publishing the same activity id again adds only the inboxes it was not queued for.
        ``not_before`` delays some inboxes (the fan-out's spread, so that the linked site is
        not fetched by every receiving server in the same second).
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
                    [{"activity": row_id, "inbox": t, "state": "pending", "next_attempt": (not_before or {}).get(t, now),
                      "created": now, "updated": now} for t in targets],
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

    def published(self, entry_id: int, *, local_actor: str | None = None) -> list[Published]:
        """What we published about one story, oldest first (Create, Update..., Delete)."""
        query = select(A.c.activity_id, A.c.kind, A.c.entry_id, A.c.created).where(A.c.entry_id == entry_id)
        if local_actor is not None:
            query = query.where(A.c.local_actor == local_actor)
        with self.db.read() as conn:
            return [Published(r.activity_id, r.kind, r.entry_id, r.created) for r in conn.execute(query.order_by(A.c.id))]

    # -- deliveries ---------------------------------------------------------------------

    def claim(self, now: datetime, *, limit: int = 100, activity_id: str | None = None) -> list[Delivery]:
        """Due deliveries to inboxes that are not held back, marked ``sending`` (committed before any POST).

        An inbox is held back while its ``next_attempt`` lies ahead: after a failure (back-off)
        and, once given up ("dead"), until its next daily probe.
        """
        due = (
            select(D.c.id)
            .select_from(D.outerjoin(I, I.c.inbox == D.c.inbox))
            .where(
                D.c.state == "pending", D.c.next_attempt <= now,
                or_(I.c.next_attempt.is_(None), I.c.next_attempt <= now),
            )
            .order_by(D.c.next_attempt, D.c.id).limit(limit)
        )
        if activity_id is not None:
            due = due.where(D.c.activity == select(A.c.id).where(A.c.activity_id == activity_id).scalar_subquery())
        with self.db.write() as conn:
            ids = [row_id for (row_id,) in conn.execute(due).all()]
            if not ids:
                return []
            claimed = [r[0] for r in conn.execute(
                update(D).where(D.c.id.in_(ids), D.c.state == "pending")
                .values(state="sending", attempts=D.c.attempts + 1, updated=now).returning(D.c.id)
            )]
        return self._deliveries(sorted(claimed))

    def _deliveries(self, ids: list[int]) -> list[Delivery]:
        if not ids:
            return []
        out: list[Delivery] = []
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                query = (
                    select(D, A.c.activity_id, A.c.payload, A.c.entry_id, A.c.kind).join(A, A.c.id == D.c.activity)
                    .where(D.c.id.in_(ids[start : start + 500])).order_by(D.c.id)
                )
                out.extend(
                    Delivery(
                        id=r.id, activity_id=r.activity_id, inbox=r.inbox, payload=json.loads(r.payload), state=r.state,
                        attempts=r.attempts, next_attempt=r.next_attempt, last_error=r.last_error, entry_id=r.entry_id,
                        kind=r.kind,
                    )
                    for r in conn.execute(query)
                )
        return out

    def requeue_stale(self, before: datetime, *, keep: Collection[int] = ()) -> int:
        """``sending`` rows untouched since ``before`` (their process died) become due again.

        Their outcome is unknown: the POST may have landed. Receivers drop an activity id
        they already have, so sending it again is the safe side (docs/activitypub.md).
        ``keep`` lists the rows this process has in flight.
        """
        query = update(D).where(D.c.state == "sending", D.c.updated < before)
        if keep:
            query = query.where(D.c.id.not_in(list(keep)))
        with self.db.write() as conn:
            return int(conn.execute(query.values(state="pending", next_attempt=before, updated=self.db.clock())).rowcount or 0)

    def give_up(self, inbox: str, *, error: str) -> int:
        """Fail the pending deliveries of an inbox given up (dead, or on a blocked domain)."""
        with self.db.write() as conn:
            result = conn.execute(
                update(D).where(D.c.inbox == inbox, D.c.state == "pending")
                .values(state="failed", last_error=error[:1000], updated=self.db.clock())
            )
            return int(result.rowcount or 0)

    def status_by_source(self, source: str | None = None) -> dict[str, dict[str, Any]]:
        """Deliveries of each source's stories: ``{slug: {"delivered": n, "pending": n, "failed": n, "last_error"}}``.

        ``sending`` counts as pending. Shown with the relay status (``sources --json``, ``/sources``).
        """
        E, S = schema.entries, schema.sources
        base = select(S.c.slug).select_from(D.join(A, A.c.id == D.c.activity).join(E, E.c.id == A.c.entry_id).join(S, S.c.id == E.c.source_id))
        if source is not None:
            base = base.where(S.c.slug == source)
        out: dict[str, dict[str, Any]] = {}
        with self.db.read() as conn:
            for slug, state, count in conn.execute(base.add_columns(D.c.state, func.count()).group_by(S.c.slug, D.c.state)):
                row = out.setdefault(slug, {"delivered": 0, "pending": 0, "failed": 0, "last_error": None})
                key = "pending" if state == "sending" else state
                row[key] = row.get(key, 0) + count
            errors = conn.execute(
                base.add_columns(D.c.last_error).where(D.c.last_error.is_not(None), D.c.state.in_(("pending", "failed")))
                .order_by(D.c.updated.desc())
            )
            for slug, error in errors:
                if out[slug]["last_error"] is None:
                    out[slug]["last_error"] = error
        return out

    def delivered(self, delivery_id: int) -> bool:
        return self.delivered_many([delivery_id])[0]

    def delivered_many(self, delivery_ids: list[int]) -> list[bool]:
        """Several 2xx in one transaction (the fan-out's group commit); True for each row moved."""
        with self.db.write() as conn:
            moved = {r[0] for r in conn.execute(
                update(D).where(D.c.id.in_(delivery_ids), D.c.state == "sending")
                .values(state="delivered", last_error=None, updated=self.db.clock()).returning(D.c.id)
            )}
        return [i in moved for i in delivery_ids]

    def retry(self, delivery_id: int, *, next_attempt: datetime, error: str, count_attempt: bool = True) -> bool:
        """Back to ``pending``; ``count_attempt=False`` gives the claimed attempt back (not tried)."""
        values: dict[str, Any] = {"state": "pending", "next_attempt": next_attempt, "last_error": error[:1000]}
        if not count_attempt:
            values["attempts"] = D.c.attempts - 1
        return self._move(delivery_id, "sending", **values)

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

    def inbox_failed(
        self, inbox: str, *, error: str, next_attempt: datetime, dead_after: timedelta, dead_retry: datetime | None = None,
    ) -> InboxHealth:
        """A failure: count it, hold the inbox until ``next_attempt``; dead after ``dead_after`` of failures.

        A dead inbox is held until ``dead_retry`` instead (the next probe), when given.
        """
        now = self.db.clock()
        with self.db.write() as conn:
            r = conn.execute(select(I.c.failures, I.c.failing_since, I.c.dead_since).where(I.c.inbox == inbox)).first()
            failures = (r.failures if r else 0) + 1
            since = (r.failing_since if r else None) or now
            dead = (r.dead_since if r else None) or (now if now - since >= dead_after else None)
            if dead is not None and dead_retry is not None:
                next_attempt = max(next_attempt, dead_retry)
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

    def inboxes(self) -> list[InboxHealth]:
        """Every inbox we have delivered to (``relay --json``'s summary, tests)."""
        with self.db.read() as conn:
            rows = conn.execute(select(I).order_by(I.c.inbox)).all()
        return [
            InboxHealth(inbox=r.inbox, domain=r.domain, failures=r.failures, failing_since=r.failing_since,
                        dead_since=r.dead_since, next_attempt=r.next_attempt, last_error=r.last_error,
                        last_success=r.last_success)
            for r in rows
        ]


def health_json(health: InboxHealth) -> dict[str, Any]:
    """An inbox's health as JSON (dates ISO 8601 UTC)."""
    return {
        "inbox": health.inbox, "domain": health.domain, "failures": health.failures,
        "failing_since": to_iso(health.failing_since), "dead_since": to_iso(health.dead_since),
        "next_attempt": to_iso(health.next_attempt), "last_error": health.last_error,
        "last_success": to_iso(health.last_success),
    }
