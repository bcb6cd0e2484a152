"""Small key/value facts that must survive restarts (the relay's Bluesky session, the
newsletter's secret)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select

from . import schema
from .base import Database

M = schema.meta


class MetaRepo:
    def __init__(self, db: Database):
        self.db = db

    def get(self, key: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(select(M.c.value).where(M.c.key == key)).scalar()

    def set(self, key: str, value: str) -> None:
        """Insert or replace, committed at once (a session token must not wait for a batch)."""
        now = self.db.clock().timestamp()
        stmt: Any = self.db.insert(M).values(key=key, value=value, updated=now)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated": now})
        with self.db.write() as conn:
            conn.execute(stmt)

    def get_or_create(self, key: str, make: Callable[[], str]) -> str:
        """The stored value, or ``make()`` stored once: concurrent first callers (several
        processes on PostgreSQL) all get the value of whichever insert won."""
        existing = self.get(key)
        if existing is not None:
            return existing
        now = self.db.clock().timestamp()
        stmt: Any = self.db.insert(M).values(key=key, value=make(), updated=now)
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
            return str(conn.execute(select(M.c.value).where(M.c.key == key)).scalar_one())

    def delete(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(M).where(M.c.key == key))
