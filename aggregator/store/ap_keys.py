"""Key pairs of our ActivityPub actors (satisfies ``activitypub.keys.KeyStore``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from . import schema
from .base import Database

K = schema.ap_keys


class ActorKeyRepo:
    def __init__(self, db: Database):
        self.db = db

    def get(self, actor: str) -> tuple[str, str] | None:
        """``(private_pem, public_pem)`` of ``actor``, or None."""
        with self.db.read() as conn:
            row = conn.execute(select(K.c.private_pem, K.c.public_pem).where(K.c.actor == actor)).first()
        return (row[0], row[1]) if row else None

    def get_or_create(self, actor: str, create: Callable[[], tuple[str, str]]) -> tuple[str, str]:
        """The ``(private_pem, public_pem)`` kept for ``actor``; made by ``create`` when none is.

        Insert-or-ignore then read back: two processes racing on a new actor both end up
        with the pair that won.
        """
        existing = self.get(actor)
        if existing is not None:
            return existing
        private_pem, public_pem = create()
        stmt: Any = self.db.insert(K).values(
            actor=actor, private_pem=private_pem, public_pem=public_pem, created=self.db.clock()
        )
        with self.db.write() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["actor"]))
        kept = self.get(actor)
        assert kept is not None
        return kept
