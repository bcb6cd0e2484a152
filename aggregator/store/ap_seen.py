"""The inbox's replay guard (satisfies ``activitypub.inbox.ReplayGuard``), shared by every process."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update

from . import schema
from .base import Database

SEEN = schema.ap_seen


class SeenRepo:
    def __init__(self, db: Database):
        self.db = db
        # Built once: the inbox records two keys per request, and building the statement
        # costs more than running it.
        insert: Any = self.db.insert(SEEN)
        self._insert = insert.on_conflict_do_nothing(index_elements=["key"]).returning(SEEN.c.key)

    def remember(self, key: str, expires: datetime) -> bool:
        """Record ``key`` until ``expires``; True when it was unknown (or had expired)."""
        return self.remember_all([(key, expires)])[0]

    def remember_all(self, keys: Sequence[tuple[str, datetime]]) -> list[bool]:
        """``remember`` for each key, in one transaction (the inbox records two per request)."""
        now = self.db.clock()
        out = []
        with self.db.write() as conn:
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT here.
            new = {r.key for r in conn.execute(self._insert, [{"key": k, "expires": e} for k, e in keys])}
            for key, expires in keys:
                if key in new:
                    out.append(True)
                    new.discard(key)  # the same key twice in one batch: the second is a replay
                    continue
                # Known: only an expired record may be taken over (one conditional update).
                taken = conn.execute(update(SEEN).where(SEEN.c.key == key, SEEN.c.expires <= now).values(expires=expires))
                out.append(bool(taken.rowcount))
        return out

    def forget(self, key: str) -> None:
        """Drop ``key`` (the handler failed: the sender's retry must not look like a replay)."""
        with self.db.write() as conn:
            conn.execute(delete(SEEN).where(SEEN.c.key == key))

    def purge(self) -> int:
        """Drop expired records; returns how many."""
        with self.db.write() as conn:
            return int(conn.execute(delete(SEEN).where(SEEN.c.expires <= self.db.clock())).rowcount or 0)
