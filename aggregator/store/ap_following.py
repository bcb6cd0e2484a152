"""Remote actors our ActivityPub actors follow (satisfies ``activitypub.handlers.FollowingBook``).

States: ``pending`` (our Follow was sent) -> ``accepted`` | ``rejected`` (their answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from . import schema
from .base import Database

FO = schema.ap_following

STATES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class Following:
    local_actor: str
    remote_actor: str
    source: str | None
    state: str
    follow_id: str
    inbox: str | None
    created: datetime
    updated: datetime


def _row(r: Any) -> Following:
    return Following(
        local_actor=r.local_actor, remote_actor=r.remote_actor, source=r.source, state=r.state,
        follow_id=r.follow_id, inbox=r.inbox, created=r.created, updated=r.updated,
    )


class FollowingRepo:
    def __init__(self, db: Database):
        self.db = db

    def follow(
        self, *, local_actor: str, remote_actor: str, follow_id: str, inbox: str | None = None,
        source: str | None = None,
    ) -> Following:
        """Record that our Follow ``follow_id`` was (or is about to be) sent: state ``pending``."""
        now = self.db.clock()
        values = {"follow_id": follow_id, "inbox": inbox, "source": source, "state": "pending", "updated": now}
        stmt: Any = self.db.insert(FO).values(local_actor=local_actor, remote_actor=remote_actor, created=now, **values)
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["local_actor", "remote_actor"], set_=values))
        found = self.get(local_actor=local_actor, remote_actor=remote_actor)
        assert found is not None
        return found

    def get(self, *, local_actor: str, remote_actor: str) -> Following | None:
        with self.db.read() as conn:
            r = conn.execute(select(FO).where(FO.c.local_actor == local_actor, FO.c.remote_actor == remote_actor)).first()
        return _row(r) if r else None

    def following_state(self, *, local_actor: str, remote_actor: str) -> str | None:
        found = self.get(local_actor=local_actor, remote_actor=remote_actor)
        return found.state if found else None

    def set_following_state(
        self, *, local_actor: str, remote_actor: str, state: str, follow_id: str | None = None
    ) -> bool:
        if state not in STATES:
            raise ValueError(f"unknown following state {state!r}")
        query = update(FO).where(FO.c.local_actor == local_actor, FO.c.remote_actor == remote_actor)
        if follow_id is not None:
            query = query.where(FO.c.follow_id == follow_id)
        with self.db.write() as conn:
            return bool(conn.execute(query.values(state=state, updated=self.db.clock())).rowcount)

    def unfollow(self, *, local_actor: str, remote_actor: str) -> Following | None:
        """Forget a follow (after sending its Undo); returns what was removed."""
        found = self.get(local_actor=local_actor, remote_actor=remote_actor)
        if found is not None:
            with self.db.write() as conn:
                conn.execute(delete(FO).where(FO.c.local_actor == local_actor, FO.c.remote_actor == remote_actor))
        return found

    def all(self, local_actor: str | None = None) -> list[Following]:
        query = select(FO).order_by(FO.c.created, FO.c.id)
        if local_actor is not None:
            query = query.where(FO.c.local_actor == local_actor)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def by_source(self, local_actor: str) -> dict[str, Following]:
        """The follows that ``activitypub`` sources asked for, by source slug."""
        return {f.source: f for f in self.all(local_actor) if f.source is not None}

    def touch(self, *, local_actor: str, remote_actor: str) -> None:
        """Note that the Follow was sent again now (a pending follow is re-sent after a day)."""
        with self.db.write() as conn:
            conn.execute(update(FO).where(FO.c.local_actor == local_actor, FO.c.remote_actor == remote_actor)
                         .values(updated=self.db.clock()))
