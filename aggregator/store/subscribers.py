"""Newsletter subscribers and the suppression list (keyed hashes of addresses never to mail).

What is stored, on purpose, and nothing more: the address, its filters, its interface
language, and the consent, confirmation and re-confirmation times. The address key is a
keyed hash (computed by ``aggregator/digest/tokens.py``; the store never sees the
secret) so the same address in another case finds its row, and so a suppression can
outlive the address. Unsubscribing deletes the row in the same transaction that writes
the suppression; unconfirmed addresses are purged after a few days.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from ..model import DigestFilters
from . import schema
from .base import Database

SUB = schema.subscribers
SUP = schema.suppressions

STATES = ("pending", "confirmed")
#: Why an address is suppressed: the reader unsubscribed, their server refused it for
#: good (5xx), the operator removed it, or it did not answer a re-confirmation.
REASONS = ("unsubscribed", "refused", "removed", "expired")


@dataclass(frozen=True)
class Subscriber:
    id: int
    address: str
    address_key: str
    filters: DigestFilters
    locale: str
    state: str
    salt: str
    consent_at: datetime
    confirm_sent_at: datetime | None
    confirmed_at: datetime | None
    reconfirmed_at: datetime | None
    reconfirm_sent_at: datetime | None


def filters_to_json(filters: DigestFilters) -> str:
    sources, tags, languages = filters.key()
    return json.dumps({"sources": list(sources), "tags": list(tags), "languages": list(languages)}, ensure_ascii=False)


def filters_from_json(value: str | None) -> DigestFilters:
    try:
        data = json.loads(value or "{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}

    def strings(key: str) -> tuple[str, ...]:
        items = data.get(key) or []
        return tuple(str(x) for x in items if isinstance(x, str)) if isinstance(items, list) else ()

    return DigestFilters(sources=strings("sources"), tags=strings("tags"), languages=strings("languages"))


def _row(r: Any) -> Subscriber:
    m = r._mapping
    return Subscriber(
        id=m["id"], address=m["address"], address_key=m["address_key"], filters=filters_from_json(m["filters"]),
        locale=m["locale"], state=m["state"], salt=m["salt"], consent_at=m["consent_at"],
        confirm_sent_at=m["confirm_sent_at"], confirmed_at=m["confirmed_at"], reconfirmed_at=m["reconfirmed_at"],
        reconfirm_sent_at=m["reconfirm_sent_at"],
    )


class SubscriberRepo:
    def __init__(self, db: Database):
        self.db = db

    # -- subscribing ----------------------------------------------------------------------

    def request(
        self, *, address: str, address_key: str, filters: DigestFilters, locale: str, now: datetime
    ) -> tuple[Subscriber, bool]:
        """Record a subscription request; returns the row and whether it is new.

        An address already pending gets its filters, language and consent time refreshed
        (the latest form wins); a confirmed one is returned unchanged (the form must not let
        a stranger change someone's filters).
        """
        with self.db.write() as conn:
            existing = conn.execute(select(SUB).where(SUB.c.address_key == address_key)).first()
            if existing is not None:
                row = _row(existing)
                if row.state == "pending":
                    conn.execute(
                        update(SUB).where(SUB.c.id == row.id).values(
                            address=address, filters=filters_to_json(filters), locale=locale, consent_at=now
                        )
                    )
                    row = _row(conn.execute(select(SUB).where(SUB.c.id == row.id)).one())
                return row, False
            stmt: Any = self.db.insert(SUB).values(
                address=address, address_key=address_key, filters=filters_to_json(filters), locale=locale,
                state="pending", salt=secrets.token_hex(16), consent_at=now,
            )
            inserted = conn.execute(stmt.on_conflict_do_nothing(index_elements=["address_key"]).returning(SUB.c.id)).first()
            if inserted is None:  # a concurrent request for the same address won
                return _row(conn.execute(select(SUB).where(SUB.c.address_key == address_key)).one()), False
            return _row(conn.execute(select(SUB).where(SUB.c.id == inserted[0])).one()), True

    def mark_confirm_sent(self, subscriber_id: int, now: datetime) -> None:
        """The confirmation mail went out (a second request within the hour sends none)."""
        with self.db.write() as conn:
            conn.execute(update(SUB).where(SUB.c.id == subscriber_id).values(confirm_sent_at=now))

    def confirm(self, subscriber_id: int, now: datetime) -> bool:
        """pending -> confirmed (idempotent); a suppression of the address is lifted: the
        person subscribed anew. False when the row is gone."""
        with self.db.write() as conn:
            row = conn.execute(select(SUB.c.address_key, SUB.c.state).where(SUB.c.id == subscriber_id)).first()
            if row is None:
                return False
            if row.state != "confirmed":
                conn.execute(
                    update(SUB).where(SUB.c.id == subscriber_id)
                    .values(state="confirmed", confirmed_at=now, reconfirmed_at=now, reconfirm_sent_at=None)
                )
            conn.execute(delete(SUP).where(SUP.c.address_key == row.address_key))
        return True

    def update_filters(self, subscriber_id: int, filters: DigestFilters, *, locale: str | None = None) -> bool:
        values: dict[str, Any] = {"filters": filters_to_json(filters)}
        if locale is not None:
            values["locale"] = locale
        with self.db.write() as conn:
            return (conn.execute(update(SUB).where(SUB.c.id == subscriber_id).values(**values)).rowcount or 0) == 1

    # -- reading --------------------------------------------------------------------------

    def get(self, subscriber_id: int) -> Subscriber | None:
        with self.db.read() as conn:
            r = conn.execute(select(SUB).where(SUB.c.id == subscriber_id)).first()
        return _row(r) if r else None

    def get_many(self, ids: Iterable[int]) -> dict[int, Subscriber]:
        ids = list(ids)
        out: dict[int, Subscriber] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                for r in conn.execute(select(SUB).where(SUB.c.id.in_(ids[start : start + 500]))):
                    out[r.id] = _row(r)
        return out

    def by_key(self, address_key: str) -> Subscriber | None:
        with self.db.read() as conn:
            r = conn.execute(select(SUB).where(SUB.c.address_key == address_key)).first()
        return _row(r) if r else None

    def confirmed(self) -> list[Subscriber]:
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(select(SUB).where(SUB.c.state == "confirmed").order_by(SUB.c.id))]

    def counts(self) -> dict[str, int]:
        """``subscribers --json``: ``pending``, ``confirmed`` and ``unsubscribed`` (every
        suppressed address, whatever the reason), plus the suppressions by reason."""
        out = {"pending": 0, "confirmed": 0, "unsubscribed": 0}
        with self.db.read() as conn:
            for state, n in conn.execute(select(SUB.c.state, func.count()).group_by(SUB.c.state)):
                out[state] = int(n)
            for reason, n in conn.execute(select(SUP.c.reason, func.count()).group_by(SUP.c.reason)):
                out["unsubscribed"] += int(n)
                out[f"suppressed_{reason}"] = int(n)
        return out

    # -- leaving --------------------------------------------------------------------------

    def is_suppressed(self, address_key: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(SUP.c.address_key).where(SUP.c.address_key == address_key)).first() is not None

    def suppressed_keys(self, keys: Sequence[str]) -> set[str]:
        out: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(keys), 500):
                out.update(r[0] for r in conn.execute(select(SUP.c.address_key).where(SUP.c.address_key.in_(keys[start : start + 500]))))
        return out

    def unsubscribe(self, subscriber_id: int, *, reason: str, now: datetime) -> bool:
        """Delete the address (its deliveries go with it) and keep only its keyed hash.

        False when there was no such row (already unsubscribed: callers answer the same).
        """
        with self.db.write() as conn:
            key = conn.execute(select(SUB.c.address_key).where(SUB.c.id == subscriber_id)).scalar()
            if key is None:
                return False
            self._suppress(conn, key, reason, now)
        return True

    def suppress(self, address_key: str, *, reason: str, now: datetime) -> bool:
        """Suppress an address by its key (a 5xx refusal, ``subscribers remove``); the
        subscriber row, if any, is deleted. True when a subscriber was removed."""
        with self.db.write() as conn:
            return self._suppress(conn, address_key, reason, now)

    def _suppress(self, conn: Connection, key: str, reason: str, now: datetime) -> bool:
        assert reason in REASONS, reason
        removed = conn.execute(delete(SUB).where(SUB.c.address_key == key)).rowcount or 0
        stmt: Any = self.db.insert(SUP).values(address_key=key, reason=reason, created=now)
        conn.execute(stmt.on_conflict_do_update(index_elements=["address_key"], set_={"reason": reason, "created": now}))
        return removed > 0

    def forget_pending(self, subscriber_id: int) -> bool:
        """Delete a request never confirmed (its confirmation was refused for good)."""
        with self.db.write() as conn:
            return (conn.execute(
                delete(SUB).where(SUB.c.id == subscriber_id, SUB.c.state == "pending")
            ).rowcount or 0) == 1

    def purge_unconfirmed(self, older_than: datetime) -> int:
        """Forget pending addresses whose request is older than that (no hash kept: they
        never consented, so there is nothing to honour)."""
        with self.db.write() as conn:
            return conn.execute(
                delete(SUB).where(SUB.c.state == "pending", SUB.c.consent_at < older_than)
            ).rowcount or 0

    # -- periodic re-confirmation -----------------------------------------------------------

    def due_reconfirmation(self, proved_before: datetime, *, limit: int = 1000) -> list[Subscriber]:
        """Confirmed subscribers whose last proof of interest is older than that and who
        have no re-confirmation request outstanding."""
        query = (
            select(SUB)
            .where(SUB.c.state == "confirmed", SUB.c.reconfirmed_at < proved_before, SUB.c.reconfirm_sent_at.is_(None))
            .order_by(SUB.c.reconfirmed_at, SUB.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_row(r) for r in conn.execute(query)]

    def mark_reconfirm_sent(self, subscriber_id: int, now: datetime) -> None:
        with self.db.write() as conn:
            conn.execute(update(SUB).where(SUB.c.id == subscriber_id).values(reconfirm_sent_at=now))

    def reconfirm(self, subscriber_id: int, now: datetime) -> bool:
        with self.db.write() as conn:
            return (conn.execute(
                update(SUB).where(SUB.c.id == subscriber_id, SUB.c.state == "confirmed")
                .values(reconfirmed_at=now, reconfirm_sent_at=None)
            ).rowcount or 0) == 1

    def expire_reconfirmations(self, asked_before: datetime, now: datetime) -> int:
        """Unsubscribe (reason ``expired``) those asked before that who never answered."""
        with self.db.write() as conn:
            keys = [r[0] for r in conn.execute(
                select(SUB.c.address_key).where(SUB.c.state == "confirmed", SUB.c.reconfirm_sent_at < asked_before)
            )]
            for key in keys:
                self._suppress(conn, key, "expired", now)
        return len(keys)
