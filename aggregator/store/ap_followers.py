"""Remote actors following our ActivityPub actors (satisfies ``activitypub.handlers.FollowerBook``).

Follower lists never leave the server: the followers collection shows a count only, and
``aggregator followers`` is for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from yarl import URL

from . import schema
from .base import Database

F = schema.ap_followers


@dataclass(frozen=True)
class Follower:
    local_actor: str
    actor_id: str
    inbox: str
    shared_inbox: str | None
    domain: str
    follow_id: str
    since: datetime

    @property
    def delivery_inbox(self) -> str:
        return self.shared_inbox or self.inbox


def _domain(actor_id: str) -> str:
    try:
        return (URL(actor_id).host or "").lower().rstrip(".")
    except ValueError:
        return ""


class FollowerRepo:
    def __init__(self, db: Database):
        self.db = db

    def add_follower(
        self, *, local_actor: str, actor_id: str, inbox: str, shared_inbox: str | None, follow_id: str
    ) -> bool:
        """Record a follower (a repeated Follow refreshes its inboxes and Follow id); True when new."""
        values = {"inbox": inbox, "shared_inbox": shared_inbox, "follow_id": follow_id}
        stmt: Any = self.db.insert(F).values(
            local_actor=local_actor, actor_id=actor_id, domain=_domain(actor_id), since=self.db.clock(), **values
        )
        with self.db.write() as conn:
            known = conn.execute(
                select(F.c.id).where(F.c.local_actor == local_actor, F.c.actor_id == actor_id)
            ).first()
            conn.execute(stmt.on_conflict_do_update(index_elements=["local_actor", "actor_id"], set_=values))
        return known is None

    def remove_follower(self, *, local_actor: str, actor_id: str, follow_id: str | None = None) -> bool:
        query = delete(F).where(F.c.local_actor == local_actor, F.c.actor_id == actor_id)
        if follow_id is not None:
            query = query.where(F.c.follow_id == follow_id)
        with self.db.write() as conn:
            return bool(conn.execute(query).rowcount)

    def remove_actor(self, actor_id: str) -> int:
        with self.db.write() as conn:
            return int(conn.execute(delete(F).where(F.c.actor_id == actor_id)).rowcount or 0)

    def remove_domain(self, domain: str) -> int:
        """Every follower on ``domain`` and its subdomains."""
        domain = domain.lower().strip(".")
        with self.db.write() as conn:
            result = conn.execute(delete(F).where(or_(F.c.domain == domain, F.c.domain.like(f"%.{domain}"))))
            return int(result.rowcount or 0)

    def count(self, local_actor: str) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(F).where(F.c.local_actor == local_actor)).scalar() or 0)

    def all(self, local_actor: str | None = None) -> list[Follower]:
        query = select(F).order_by(F.c.since, F.c.id)
        if local_actor is not None:
            query = query.where(F.c.local_actor == local_actor)
        with self.db.read() as conn:
            return [
                Follower(
                    local_actor=r.local_actor, actor_id=r.actor_id, inbox=r.inbox, shared_inbox=r.shared_inbox,
                    domain=r.domain, follow_id=r.follow_id, since=r.since,
                )
                for r in conn.execute(query)
            ]

    def delivery_inboxes(self, local_actor: str) -> list[str]:
        """Distinct inboxes to fan out to: one per shared inbox, else each follower's own."""
        target = func.coalesce(F.c.shared_inbox, F.c.inbox)
        with self.db.read() as conn:
            rows = conn.execute(select(target).where(F.c.local_actor == local_actor).distinct().order_by(target))
            return [r[0] for r in rows]
