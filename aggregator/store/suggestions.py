"""Sources suggested by readers, one row per URL, until the operator accepts or rejects them.

The same URL suggested twice is one row (``url_key`` is unique; the second insert is a
no-op), so nobody can push a suggestion up by repeating it. Nothing here is shown on the
public site: the operator reads it with ``aggregator suggestions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from ..model import Suggestion
from . import schema
from .base import Database

SG = schema.suggestions

OUTCOMES = ("ok", "no_feed", "unreadable", "timeout")
STATES = ("pending", "accepted", "rejected")


def _row(row: Any) -> Suggestion:
    m = row._mapping
    return Suggestion(
        id=m["id"], url=m["url"], note=m["note"], outcome=m["outcome"], state=m["state"], created=m["created"],
        feed_url=m["feed_url"], title=m["title"], items=m["items"], language=m["language"], error=m["error"],
        decided=m["decided"], source=m["source"],
    )


class SuggestionRepo:
    def __init__(self, db: Database):
        self.db = db

    def find(self, url_key: str) -> Suggestion | None:
        with self.db.read() as conn:
            row = conn.execute(select(SG).where(SG.c.url_key == url_key)).first()
        return _row(row) if row else None

    def get(self, suggestion_id: int) -> Suggestion | None:
        with self.db.read() as conn:
            row = conn.execute(select(SG).where(SG.c.id == suggestion_id)).first()
        return _row(row) if row else None

    def add(
        self,
        *,
        url: str,
        url_key: str,
        note: str,
        outcome: str,
        now: datetime,
        feed_url: str | None = None,
        title: str | None = None,
        items: int | None = None,
        language: str | None = None,
        error: str | None = None,
    ) -> tuple[Suggestion, bool]:
        """Store a suggestion; returns it and whether it is new (False: the URL was already there)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        values = {
            "url": url, "url_key": url_key, "note": note, "outcome": outcome, "feed_url": feed_url, "title": title,
            "items": items, "language": language, "error": error, "state": "pending", "created": now,
        }
        stmt = self.db.insert(SG).values(**values).on_conflict_do_nothing(index_elements=["url_key"])
        with self.db.write() as conn:
            created = bool(conn.execute(stmt).rowcount)
            row = conn.execute(select(SG).where(SG.c.url_key == url_key)).one()
        return _row(row), created

    def by_state(self, *states: str) -> list[Suggestion]:
        """Suggestions in these states (all when none is named), oldest first: the order to review them."""
        query = select(SG).where(SG.c.state.in_(list(states or STATES))).order_by(SG.c.created, SG.c.id)
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def decide(self, suggestion_id: int, state: str, *, now: datetime, source: str | None = None) -> bool:
        """Accept or reject a pending suggestion; False when it is not pending (or absent)."""
        if state not in ("accepted", "rejected"):
            raise ValueError(f"a decision is accepted or rejected, not {state!r}")
        stmt = (
            update(SG)
            .where(SG.c.id == suggestion_id, SG.c.state == "pending")
            .values(state=state, decided=now, source=source)
        )
        with self.db.write() as conn:
            return bool(conn.execute(stmt).rowcount)
