"""The search index's change log: rows written with the entries, consumed after indexing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from . import schema
from .base import Database

L = schema.index_log


@dataclass(frozen=True)
class LogRow:
    id: int
    entry_id: int
    op: str  # "upsert" or "delete"


class IndexLogRepo:
    def __init__(self, db: Database):
        self.db = db

    def pending(self, limit: int = 1000) -> list[LogRow]:
        """The oldest unconsumed changes."""
        with self.db.read() as conn:
            rows = conn.execute(select(L.c.id, L.c.entry_id, L.c.op).order_by(L.c.id).limit(limit))
            return [LogRow(r.id, r.entry_id, r.op) for r in rows]

    def consume(self, ids: Iterable[int]) -> None:
        """Forget changes the index has committed.

        By id, not "up to id": on PostgreSQL a lower id can commit after a higher one.
        """
        ids = list(ids)
        with self.db.write() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(delete(L).where(L.c.id.in_(ids[start : start + 500])))

    def clear(self) -> None:
        """Before a full reindex, which reads every entry anyway."""
        with self.db.write() as conn:
            conn.execute(delete(L))

    def backlog(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(L)).scalar() or 0)
