"""The relay outbox: one row per (entry, target), filled in the entries' transaction."""

from __future__ import annotations

from sqlalchemy import func, select

from . import schema
from .base import Database

O = schema.outbox


class OutboxRepo:
    def __init__(self, db: Database):
        self.db = db

    def counts(self) -> dict[tuple[str, str], int]:
        """Rows by (target, state), for ``/metrics`` and health pages."""
        with self.db.read() as conn:
            rows = conn.execute(select(O.c.target, O.c.state, func.count()).group_by(O.c.target, O.c.state))
            return {(r[0], r[1]): r[2] for r in rows}
