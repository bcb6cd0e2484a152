"""Per-host politeness shared through the database by every crawler process.

Two facts per host: ``blocked_until`` (a 429/503 Retry-After, for the whole host) and
``next_allowed`` (the earliest start of the next request, so that processes on several
machines keep about one request per delay to a host between them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update

from . import schema
from .base import Database

H = schema.hosts

# One statement, so the row lock taken by ON CONFLICT DO UPDATE serializes concurrent
# reservations for a host: each one starts where the previous one ended. The server's
# clock (clock_timestamp(), not the transaction's now()) is the one clock every crawler
# process agrees on, whatever machine it runs on. GREATEST ignores the NULL left by a
# row that block() created.
_PG_RESERVE = text(
    """
    INSERT INTO hosts (host, next_allowed)
    VALUES (:host, clock_timestamp() + make_interval(secs => :delay))
    ON CONFLICT (host) DO UPDATE
    SET next_allowed = GREATEST(hosts.next_allowed, clock_timestamp()) + make_interval(secs => :delay)
    RETURNING EXTRACT(EPOCH FROM (next_allowed - clock_timestamp()))::float8 - :delay
    """
)


class HostRepo:
    def __init__(self, db: Database):
        self.db = db

    def blocked_until(self, host: str) -> datetime | None:
        with self.db.read() as conn:
            return conn.execute(select(H.c.blocked_until).where(H.c.host == host)).scalar()

    def block(self, host: str, until: datetime) -> None:
        """Remember a Retry-After for the whole host (429/503)."""
        stmt: Any = self.db.insert(H)  # a dialect insert: it has on_conflict_do_update
        stmt = stmt.values(host=host, blocked_until=until).on_conflict_do_update(index_elements=["host"], set_={"blocked_until": until})
        with self.db.write() as conn:
            conn.execute(stmt)

    def reserve(self, host: str, delay: float) -> float:
        """Book the next request slot for ``host``; returns how many seconds to wait for it.

        Every crawler process calls this right before a request: slots are handed out
        ``delay`` seconds apart, so two requests to one host never start closer than
        ``delay`` whichever processes send them. 0.0 means "go now".

        On PostgreSQL the database server's clock decides; on SQLite (one process, where
        the in-process politeness already spaces requests) the store's injected clock.
        """
        delay = max(0.0, float(delay))
        if self.db.dialect == "postgresql":
            with self.db.write() as conn:
                wait = conn.execute(_PG_RESERVE, {"host": host, "delay": delay}).scalar()
            return max(0.0, float(wait or 0.0))
        now = self.db.clock()
        with self.db.write() as conn:  # BEGIN IMMEDIATE on SQLite: read and write as one
            current = conn.execute(select(H.c.next_allowed).where(H.c.host == host)).scalar()
            slot = max(current, now) if current is not None else now
            nxt = slot + timedelta(seconds=delay)
            if current is None:
                insert: Any = self.db.insert(H)
                conn.execute(
                    insert.values(host=host, next_allowed=nxt)
                    .on_conflict_do_update(index_elements=["host"], set_={"next_allowed": nxt})
                )
            else:
                conn.execute(update(H).where(H.c.host == host).values(next_allowed=nxt))
        return max(0.0, (slot - now).total_seconds())
