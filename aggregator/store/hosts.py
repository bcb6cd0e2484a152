"""Per-host politeness shared through the database by every crawler process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from . import schema
from .base import Database

H = schema.hosts


class HostRepo:
    def __init__(self, db: Database):
        self.db = db

    def blocked_until(self, host: str) -> datetime | None:
        with self.db.read() as conn:
            return conn.execute(select(H.c.blocked_until).where(H.c.host == host)).scalar()

    def block(self, host: str, until: datetime) -> None:
        """Remember a Retry-After for the whole host (429/503)."""
        stmt = self.db.insert(H).values(host=host, blocked_until=until)
        stmt = stmt.on_conflict_do_update(index_elements=["host"], set_={"blocked_until": until})
        with self.db.write() as conn:
            conn.execute(stmt)

    def all_blocked(self, now: datetime) -> dict[str, datetime]:
        with self.db.read() as conn:
            rows = conn.execute(select(H.c.host, H.c.blocked_until).where(H.c.blocked_until > now))
            return {r.host: r.blocked_until for r in rows}
