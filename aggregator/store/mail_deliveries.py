"""The newsletter's outbox: one row per (digest, recipient), modelled on the relay's.

States: ``pending`` (due at ``next_attempt``) -> ``sending`` (claimed: attempts + 1 and
``claimed_at``, committed BEFORE any SMTP command) -> ``sent`` | ``pending`` again (retry
with back-off) | ``failed``; ``skipped`` rows never send (nothing matched the subscriber's
filters, or the address is suppressed). While ``sending``, ``data_at`` is set (committed)
just before the SMTP ``DATA`` command: a row found ``sending`` without it after a crash was
certainly not delivered; with it, maybe (see ``aggregator/digest/deliver.py``).
Every transition is a conditional update on the expected state, so two processes can
never both claim one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from . import schema
from .base import Database

DL = schema.mail_deliveries
SUB = schema.subscribers

STATES = ("pending", "sending", "sent", "failed", "skipped")


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    digest_id: int
    subscriber_id: int | None
    recipient: str
    state: str
    message_id: str
    attempts: int
    next_attempt: datetime | None
    claimed_at: datetime | None
    data_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    created: datetime


def _row(r: Any) -> DeliveryRow:
    m = r._mapping
    return DeliveryRow(
        id=m["id"], digest_id=m["digest_id"], subscriber_id=m["subscriber_id"], recipient=m["recipient"],
        state=m["state"], message_id=m["message_id"], attempts=m["attempts"], next_attempt=m["next_attempt"],
        claimed_at=m["claimed_at"], data_at=m["data_at"], sent_at=m["sent_at"], last_error=m["last_error"],
        created=m["created"],
    )


class MailDeliveryRepo:
    def __init__(self, db: Database):
        self.db = db

    def for_digest(self, digest_id: int) -> list[DeliveryRow]:
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(select(DL).where(DL.c.digest_id == digest_id).order_by(DL.c.id))]

    def counts(self, digest_id: int | None = None) -> dict[str, int]:
        query = select(DL.c.state, func.count()).group_by(DL.c.state)
        if digest_id is not None:
            query = query.where(DL.c.digest_id == digest_id)
        out = dict.fromkeys(STATES, 0)
        with self.db.read() as conn:
            out.update({state: int(n) for state, n in conn.execute(query)})
        return out

    def subscribers_without_row(self, digest_id: int, *, confirmed_before: datetime) -> list[int]:
        """Confirmed subscribers who have no row for that digest yet (confirmed since it
        was cut): ``digest send`` reaches "every confirmed subscriber who has not had it"."""
        has_row = select(DL.c.id).where(DL.c.digest_id == digest_id, DL.c.subscriber_id == SUB.c.id).exists()
        query = (
            select(SUB.c.id)
            .where(SUB.c.state == "confirmed", SUB.c.confirmed_at <= confirmed_before, ~has_row)
            .order_by(SUB.c.id)
        )
        with self.db.read() as conn:
            return [r.id for r in conn.execute(query)]

    def add(self, digest_id: int, rows: Sequence[tuple[int | None, str, str]], now: datetime) -> int:
        """Insert (subscriber_id, recipient, message_id) rows; existing ones are kept."""
        if not rows:
            return 0
        values = [
            {"digest_id": digest_id, "subscriber_id": sid, "recipient": recipient, "message_id": mid,
             "state": "pending", "next_attempt": now, "created": now}
            for sid, recipient, mid in rows
        ]
        added = 0
        with self.db.write() as conn:
            for start in range(0, len(values), 500):
                stmt: Any = self.db.insert(DL).values(values[start : start + 500])
                stmt = stmt.on_conflict_do_nothing(index_elements=["digest_id", "recipient"]).returning(DL.c.id)
                added += len(conn.execute(stmt).all())
        return added

    def due(self, now: datetime, *, limit: int | None = None) -> list[DeliveryRow]:
        """Pending rows whose time has come, oldest digest and row first."""
        query = (
            select(DL)
            .where(DL.c.state == "pending", or_(DL.c.next_attempt.is_(None), DL.c.next_attempt <= now))
            .order_by(DL.c.digest_id, DL.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def stale_claims(self, claimed_before: datetime) -> list[DeliveryRow]:
        """``sending`` rows claimed before that time: their process died (or hangs)."""
        query = select(DL).where(DL.c.state == "sending", DL.c.claimed_at < claimed_before).order_by(DL.c.id)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def release(self, row: DeliveryRow, now: datetime, *, error: str, give_back: bool) -> bool:
        """A stale claim back to ``pending`` (due now); ``give_back`` returns the attempt
        (the claim never reached DATA, so nothing was tried)."""
        values: dict[str, Any] = {"state": "pending", "next_attempt": now, "claimed_at": None, "data_at": None,
                                  "last_error": error[:2000]}
        if give_back:
            values["attempts"] = DL.c.attempts - 1
        with self.db.write() as conn:
            return (conn.execute(
                update(DL).where(DL.c.id == row.id, DL.c.state == "sending", DL.c.claimed_at == row.claimed_at).values(**values)
            ).rowcount or 0) == 1

    def claim(self, row: DeliveryRow, now: datetime) -> DeliveryRow | None:
        """Record an attempt (``sending``, attempts + 1) in its own committed transaction;
        None when another process claimed the row first."""
        with self.db.write() as conn:
            count = conn.execute(
                update(DL)
                .where(DL.c.id == row.id, DL.c.state == row.state, DL.c.attempts == row.attempts)
                .values(state="sending", attempts=DL.c.attempts + 1, claimed_at=now, data_at=None)
            ).rowcount
            if count != 1:
                return None
            return _row(conn.execute(select(DL).where(DL.c.id == row.id)).one())

    def claim_many(self, rows: Sequence[DeliveryRow], now: datetime) -> list[DeliveryRow]:
        """``claim`` for a batch, in one transaction: the rows this process now holds, in
        the order given (those another process claimed first are left out)."""
        if not rows:
            return []
        won: list[int] = []
        with self.db.write() as conn:
            for row in rows:
                count = conn.execute(
                    update(DL)
                    .where(DL.c.id == row.id, DL.c.state == row.state, DL.c.attempts == row.attempts)
                    .values(state="sending", attempts=DL.c.attempts + 1, claimed_at=now, data_at=None)
                ).rowcount
                if count == 1:
                    won.append(row.id)
            found = {r.id: _row(r) for start in range(0, len(won), 500)
                     for r in conn.execute(select(DL).where(DL.c.id.in_(won[start : start + 500])))}
        return [found[i] for i in won if i in found]

    def give_back(self, row_ids: Sequence[int]) -> int:
        """Claims this process will not try after all (the round stopped): back to
        ``pending`` with the attempt returned. Only rows that never reached DATA."""
        if not row_ids:
            return 0
        with self.db.write() as conn:
            return conn.execute(
                update(DL).where(DL.c.id.in_(list(row_ids)), DL.c.state == "sending", DL.c.data_at.is_(None))
                .values(state="pending", attempts=DL.c.attempts - 1, claimed_at=None)
            ).rowcount or 0

    def mark_data(self, row_id: int, now: datetime) -> bool:
        """Committed just before SMTP DATA: from here on the message may be delivered."""
        with self.db.write() as conn:
            return (conn.execute(
                update(DL).where(DL.c.id == row_id, DL.c.state == "sending").values(data_at=now)
            ).rowcount or 0) == 1

    def _finish(self, row_id: int, **values: Any) -> bool:
        with self.db.write() as conn:
            return (conn.execute(update(DL).where(DL.c.id == row_id, DL.c.state == "sending").values(**values)).rowcount or 0) == 1

    def mark_sent(self, row_id: int, now: datetime) -> bool:
        return self._finish(row_id, state="sent", sent_at=now, next_attempt=None, last_error=None)

    def mark_retry(self, row_id: int, *, error: str, next_attempt: datetime, count_attempt: bool = True) -> bool:
        values: dict[str, Any] = {"state": "pending", "last_error": error[:2000], "next_attempt": next_attempt,
                                  "claimed_at": None, "data_at": None}
        if not count_attempt:
            values["attempts"] = DL.c.attempts - 1
        return self._finish(row_id, **values)

    def mark_failed(self, row_id: int, *, error: str) -> bool:
        return self._finish(row_id, state="failed", last_error=error[:2000], next_attempt=None)

    def mark_skipped(self, row: DeliveryRow, *, reason: str) -> bool:
        with self.db.write() as conn:
            return (conn.execute(
                update(DL).where(DL.c.id == row.id, DL.c.state == row.state, DL.c.attempts == row.attempts)
                .values(state="skipped", last_error=reason[:2000], next_attempt=None)
            ).rowcount or 0) == 1

    def skip_many(self, rows: Sequence[tuple[DeliveryRow, str]]) -> int:
        """``mark_skipped`` for a batch, in one transaction; how many were skipped."""
        done = 0
        with self.db.write() as conn:
            for row, reason in rows:
                done += conn.execute(
                    update(DL).where(DL.c.id == row.id, DL.c.state == row.state, DL.c.attempts == row.attempts)
                    .values(state="skipped", last_error=reason[:2000], next_attempt=None)
                ).rowcount or 0
        return done

    def sent_since(self, since: datetime) -> int:
        """Mails handed to the SMTP server since then: ``max_per_hour`` survives restarts."""
        query = select(func.count()).select_from(DL).where(
            or_(and_(DL.c.state == "sent", DL.c.sent_at >= since), and_(DL.c.state == "sending", DL.c.data_at >= since))
        )
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def open_count(self, digest_id: int) -> int:
        """Rows of that digest still to finish (pending or sending)."""
        query = select(func.count()).select_from(DL).where(DL.c.digest_id == digest_id, DL.c.state.in_(("pending", "sending")))
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)
