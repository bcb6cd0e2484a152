"""The inbox's replay guard (satisfies ``activitypub.inbox.ReplayGuard``), shared by every process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update

from . import schema
from .base import Database

SEEN = schema.ap_seen


class SeenRepo:
    def __init__(self, db: Database):
        self.db = db

    def remember(self, key: str, expires: datetime) -> bool:
        """Record ``key`` until ``expires``; True when it was unknown (or had expired)."""
        now = self.db.clock()
        stmt: Any = self.db.insert(SEEN).values(key=key, expires=expires)
        with self.db.write() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
            if conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]).returning(SEEN.c.key)).first():
                return True
            # Known: only an expired record may be taken over (one conditional update).
            taken = conn.execute(update(SEEN).where(SEEN.c.key == key, SEEN.c.expires <= now).values(expires=expires))
            return bool(taken.rowcount)

    def forget(self, key: str) -> None:
        """Drop ``key`` (the handler failed: the sender's retry must not look like a replay)."""
        with self.db.write() as conn:
            conn.execute(delete(SEEN).where(SEEN.c.key == key))

    def purge(self) -> int:
        """Drop expired records; returns how many."""
        with self.db.write() as conn:
            return int(conn.execute(delete(SEEN).where(SEEN.c.expires <= self.db.clock())).rowcount or 0)
