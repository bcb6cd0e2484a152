"""The relay outbox: one row per (entry, target), filled in the entries' transaction.

States: ``pending`` (due at ``next_attempt``) -> ``sending`` (an attempt is under way; the
mark is committed BEFORE the network call, so a row found in ``sending`` after a crash means
"maybe posted: reconcile first") -> ``posted`` | ``pending`` again (retry with back-off) |
``failed`` (attempts exhausted, error kept); ``skipped`` rows are never posted.
Every transition is a conditional update on the expected state, so two relay processes
can never both claim one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update

from ..model import to_iso
from . import schema
from .base import Database

OB = schema.outbox
E = schema.entries
S = schema.sources

STATES = ("pending", "sending", "posted", "failed", "skipped")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    entry_id: int
    target: str
    state: str
    attempts: int
    last_error: str | None
    next_attempt: datetime | None
    created: datetime
    updated: datetime
    remote_id: str | None
    remote_url: str | None


@dataclass(frozen=True)
class Unqueued:
    """A live entry that opened its story and has no outbox row for ``target``."""

    entry_id: int
    source: str
    kind: str
    published: datetime
    first_seen: datetime
    target: str


def _row(r: Any) -> OutboxRow:
    m = r._mapping
    return OutboxRow(
        id=m["id"], entry_id=m["entry_id"], target=m["target"], state=m["state"], attempts=m["attempts"],
        last_error=m["last_error"], next_attempt=m["next_attempt"], created=m["created"], updated=m["updated"],
        remote_id=m["remote_id"], remote_url=m["remote_url"],
    )


class OutboxRepo:
    def __init__(self, db: Database):
        self.db = db

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows by (target, state), for ``/metrics`` and health pages."""
        with self.db.read() as conn:
            rows = conn.execute(select(OB.c.target, OB.c.state, func.count()).group_by(OB.c.target, OB.c.state))
            return {(r[0], r[1]): r[2] for r in rows}

    # -- the relay's side ---------------------------------------------------------------

    def get(self, row_id: int) -> OutboxRow | None:
        with self.db.read() as conn:
            r = conn.execute(select(OB).where(OB.c.id == row_id)).first()
        return _row(r) if r else None

    def all(self, *, target: str | None = None) -> list[OutboxRow]:
        query = select(OB).order_by(OB.c.id)
        if target is not None:
            query = query.where(OB.c.target == target)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def due(self, now: datetime, *, targets: Sequence[str], limit: int | None = None) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first."""
        if not targets:
            return []
        query = (
            select(OB)
            .where(OB.c.state == "pending", OB.c.target.in_(list(targets)))
            .where(or_(OB.c.next_attempt.is_(None), OB.c.next_attempt <= now))
            .order_by(OB.c.next_attempt, OB.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def in_flight(self, *, targets: Sequence[str]) -> list[OutboxRow]:
        """Rows left in ``sending``: an attempt whose outcome nobody recorded (a crash)."""
        if not targets:
            return []
        query = select(OB).where(OB.c.state == "sending", OB.c.target.in_(list(targets))).order_by(OB.c.id)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def claim(self, row: OutboxRow, now: datetime) -> OutboxRow | None:
        """Record an attempt (state ``sending``, attempts + 1) in its own committed transaction.

        Conditional on the row being exactly as read (state and attempts), so a concurrent
        relay that claimed it first wins and this one gets None.
        """
        with self.db.write() as conn:
            count = conn.execute(
                update(OB)
                .where(OB.c.id == row.id, OB.c.state == row.state, OB.c.attempts == row.attempts)
                .values(state="sending", attempts=OB.c.attempts + 1, updated=now)
            ).rowcount
            if count != 1:
                return None
            r = conn.execute(select(OB).where(OB.c.id == row.id)).one()
        return _row(r)

    def _finish(self, row_id: int, now: datetime, **values: Any) -> bool:
        with self.db.write() as conn:
            count = conn.execute(
                update(OB).where(OB.c.id == row_id, OB.c.state == "sending").values(updated=now, **values)
            ).rowcount
        return count == 1

    def mark_posted(self, row_id: int, now: datetime, *, remote_id: str | None, remote_url: str | None) -> bool:
        return self._finish(row_id, now, state="posted", remote_id=remote_id, remote_url=remote_url,
                            last_error=None, next_attempt=None)

    def mark_retry(self, row_id: int, now: datetime, *, error: str, next_attempt: datetime, count_attempt: bool = True) -> bool:
        """Back to ``pending`` until ``next_attempt``; ``count_attempt=False`` gives the attempt
        back (a 429 or a paused target: nothing was tried)."""
        values: dict[str, Any] = {"state": "pending", "last_error": error[:2000], "next_attempt": next_attempt}
        if not count_attempt:
            values["attempts"] = OB.c.attempts - 1  # a sending row was claimed, so attempts >= 1
        return self._finish(row_id, now, **values)

    def mark_failed(self, row_id: int, now: datetime, *, error: str) -> bool:
        return self._finish(row_id, now, state="failed", last_error=error[:2000], next_attempt=None)

    def mark_skipped(self, row: OutboxRow, now: datetime, *, reason: str) -> bool:
        """Never post this row (deleted entry, relay switched off, nothing to post)."""
        with self.db.write() as conn:
            count = conn.execute(
                update(OB)
                .where(OB.c.id == row.id, OB.c.state == row.state, OB.c.attempts == row.attempts)
                .values(state="skipped", last_error=reason[:2000], updated=now, next_attempt=None)
            ).rowcount
        return count == 1

    def posted_since(self, target: str, since: datetime) -> int:
        """Posts made on ``target`` since then, for ``max_posts_per_hour`` (survives restarts)."""
        query = select(func.count()).select_from(OB).where(OB.c.target == target, OB.c.state == "posted", OB.c.updated >= since)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def retry_failed(self, now: datetime, *, target: str | None = None) -> int:
        """Give ``failed`` rows a fresh set of attempts (an operator's decision)."""
        stmt = update(OB).where(OB.c.state == "failed").values(state="pending", attempts=0, next_attempt=now, updated=now)
        if target is not None:
            stmt = stmt.where(OB.c.target == target)
        with self.db.write() as conn:
            return conn.execute(stmt).rowcount or 0

    # -- items that never entered the outbox (``relay --queue-recent``) -------------------

    def unqueued(
        self, target: str, *, seen_since: datetime | None = None, after: int = 0, limit: int = 1000
    ) -> list[Unqueued]:
        """Live entries that opened their story and have no row for ``target``, by id.

        Only a story's first entry is ever queued (a story is relayed once), so only those
        are listed; whether one is relay-worthy is the caller's rule (``update/decide.py``).
        Keyset pages: pass the last ``entry_id`` as ``after``.
        """
        has_row = exists().where(OB.c.entry_id == E.c.id, OB.c.target == target)
        query = (
            select(E.c.id, S.c.slug, E.c.kind, E.c.published, E.c.first_seen)
            .join(S, S.c.id == E.c.source_id)
            .where(E.c.id > after, E.c.deleted.is_(False), E.c.is_primary.is_(True), ~has_row)
            .order_by(E.c.id)
            .limit(limit)
        )
        if seen_since is not None:
            query = query.where(E.c.first_seen >= seen_since)
        with self.db.read() as conn:
            return [Unqueued(r.id, r.slug, r.kind, r.published, r.first_seen, target) for r in conn.execute(query)]

    def enqueue(self, entry_ids: Sequence[int], target: str, now: datetime) -> int:
        """Queue these entries for ``target`` (due now); rows that exist already are kept."""
        rows = [{"entry_id": i, "target": target, "state": "pending", "created": now, "updated": now,
                 "next_attempt": now} for i in entry_ids]
        if not rows:
            return 0
        with self.db.write() as conn:
            result = conn.execute(self.db.insert(OB).on_conflict_do_nothing().returning(OB.c.id), rows)
            return len(result.all())

    def next_attempt(self, *, targets: Sequence[str]) -> datetime | None:
        """When the earliest pending row of these targets is due (None: nothing pending)."""
        query = select(func.min(OB.c.next_attempt)).where(OB.c.state == "pending", OB.c.target.in_(list(targets)))
        with self.db.read() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    # -- status for `sources --json` and the web ----------------------------------------

    def status_by_source(self, source: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
        """Per source and target: counts by state, the last post and the last error.

        Returns ``{slug: {target: {"pending": n, "sending": n, "posted": n, "failed": n,
        "skipped": n, "last_posted": iso|None, "last_error": str|None}}}``; sources without
        outbox rows are absent.
        """
        out: dict[str, dict[str, dict[str, Any]]] = {}
        base = select(S.c.slug, OB.c.target).select_from(OB.join(E, E.c.id == OB.c.entry_id).join(S, S.c.id == E.c.source_id))
        if source is not None:
            base = base.where(S.c.slug == source)
        with self.db.read() as conn:
            counts = conn.execute(
                base.add_columns(OB.c.state, func.count(), func.max(OB.c.updated)).group_by(S.c.slug, OB.c.target, OB.c.state)
            )
            for slug, target, state, count, last in counts:
                entry = out.setdefault(slug, {}).setdefault(
                    target, {**dict.fromkeys(STATES, 0), "last_posted": None, "last_error": None}
                )
                entry[state] = count
                if state == "posted":
                    entry["last_posted"] = to_iso(last)
            errors = conn.execute(
                base.add_columns(OB.c.last_error)
                .where(OB.c.last_error.is_not(None), OB.c.state.in_(("pending", "failed")))
                .order_by(OB.c.updated.desc())
            )
            for slug, target, error in errors:
                entry = out[slug][target]
                if entry["last_error"] is None:
                    entry["last_error"] = error
        return out

    #: The name ``cli.py`` looks for (``sources --json``).
    by_source = status_by_source

    def for_entries(self, entry_ids: Sequence[int]) -> dict[int, list[OutboxRow]]:
        """Outbox rows of these entries (the web's item pages, the relay's reports)."""
        out: dict[int, list[OutboxRow]] = {}
        ids = list(entry_ids)
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                for r in conn.execute(select(OB).where(and_(OB.c.entry_id.in_(ids[start : start + 500]))).order_by(OB.c.id)):
                    row = _row(r)
                    out.setdefault(row.entry_id, []).append(row)
        return out
