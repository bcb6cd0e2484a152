"""Sources: configuration mirror, fetch state, health and leases."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from ..model import SourceConfig, SourceState
from . import schema
from .base import Database
from .locks import serialize_transaction

S = schema.sources


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A source fetched and stored (``record_success_many``): its validators and next fetch."""

    slug: str
    now: datetime
    next_fetch: datetime
    etag: str | None = None
    last_modified: str | None = None
    url: str | None = None
    feed_title: str | None = None
    feed_link: str | None = None
    resolved_id: str | None = None


def _state(row: Any) -> SourceState:
    m = row._mapping
    return SourceState(
        slug=m["slug"],
        url=m["url"],
        etag=m["etag"],
        last_modified=m["last_modified"],
        status=m["status"],
        last_fetch=m["last_fetch"],
        last_success=m["last_success"],
        last_error=m["last_error"],
        error_count=m["error_count"],
        next_fetch=m["next_fetch"],
        disabled=bool(m["disabled"]),
        failing_since=m["failing_since"],
        items=m["items"],
        resolved_id=m["resolved_id"],
        feed_title=m["feed_title"],
        feed_link=m["feed_link"],
    )


def config_json(source: SourceConfig) -> str:
    data = dataclasses.asdict(source)
    data["tags"] = list(source.tags)
    return json.dumps(data, sort_keys=True)


def config_from_json(text: str) -> SourceConfig:
    data = json.loads(text)
    data["tags"] = tuple(data.get("tags") or ())
    known = {f.name for f in dataclasses.fields(SourceConfig)}
    return SourceConfig(**{k: v for k, v in data.items() if k in known})


class SourceRepo:
    def __init__(self, db: Database):
        self.db = db

    def sync(self, configured: Iterable[SourceConfig]) -> None:
        """Mirror ``sources.yaml`` into the table; removed sources keep their history.

        A source whose configured URL changed starts over from that URL (validators
        dropped); a URL moved by a 301 is kept while the configuration is unchanged.
        """
        configured = sorted(configured, key=lambda c: c.slug)
        with self.db.write() as conn:
            # Every process mirrors the file when it starts: one at a time (PostgreSQL),
            # rows in slug order, and only rows that changed, so a process starting while
            # others crawl neither deadlocks with them nor trips the unique constraint.
            serialize_transaction(conn, "sources.sync")
            existing = {
                r.slug: r
                for r in conn.execute(select(S.c.slug, S.c.config_url, S.c.name, S.c.kind, S.c.config, S.c.configured))
            }
            for source in configured:
                url = source.url
                values = {
                    "name": source.name,
                    "kind": source.kind,
                    "config": config_json(source),
                    "configured": True,
                }
                row = existing.get(source.slug)
                if row is None:
                    conn.execute(S.insert().values(slug=source.slug, url=url, config_url=url, **values))
                elif row.config_url != url:
                    conn.execute(
                        update(S)
                        .where(S.c.slug == source.slug)
                        .values(url=url, config_url=url, etag=None, last_modified=None,
                                disabled=False, next_fetch=None, resolved_id=None, **values)
                    )
                elif (row.name, row.kind, row.config, bool(row.configured)) != (
                    values["name"], values["kind"], values["config"], True
                ):
                    conn.execute(update(S).where(S.c.slug == source.slug).values(**values))
            names = {s.slug for s in configured}
            gone = sorted(slug for slug, row in existing.items() if slug not in names and row.configured)
            if gone:
                conn.execute(update(S).where(S.c.slug.in_(gone)).values(configured=False))
            silenced = [s.slug for s in configured if not s.relay]
            if silenced:
                # The operator switched the relay off for these sources: what they had
                # waiting in the outbox is withdrawn, as an operator's delete withdraws it.
                OB, E = schema.outbox, schema.entries
                conn.execute(
                    update(OB)
                    .where(OB.c.state == "pending",
                           OB.c.entry_id.in_(select(E.c.id).join(S, S.c.id == E.c.source_id).where(S.c.slug.in_(silenced))))
                    .values(state="skipped", last_error="relay is switched off for this source", updated=self.db.clock())
                )

    def configs(self, *, include_unconfigured: bool = False) -> list[SourceConfig]:
        query = select(S.c.config).order_by(S.c.id)
        if not include_unconfigured:
            query = query.where(S.c.configured.is_(True))
        with self.db.read() as conn:
            return [config_from_json(r.config) for r in conn.execute(query)]

    def get(self, slug: str) -> SourceState | None:
        with self.db.read() as conn:
            row = conn.execute(select(S).where(S.c.slug == slug)).first()
        return _state(row) if row else None

    def states(self, *, include_unconfigured: bool = False) -> list[SourceState]:
        query = select(S).order_by(S.c.id)
        if not include_unconfigured:
            query = query.where(S.c.configured.is_(True))
        with self.db.read() as conn:
            return [_state(r) for r in conn.execute(query)]

    def lease(self, owner: str, now: datetime, **options: Any) -> list[str]:
        """The slugs of :meth:`lease_states` (same options)."""
        return [s.slug for s in self.lease_states(owner, now, **options)]

    def lease_states(
        self,
        owner: str,
        now: datetime,
        *,
        seconds: float,
        limit: int,
        slugs: list[str] | None = None,
        due_only: bool = True,
        include_disabled: bool = False,
        fetched_before: datetime | None = None,
    ) -> list[SourceState]:
        """Take up to ``limit`` sources for this worker until the lease expires.

        On PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several crawler processes lease
        disjoint sets without waiting on each other; an expired lease (dead worker) is
        taken over. SQLite serializes writers, so the same query is safe there too.
        Returns the leased sources' states, so the crawler needs no read per source.
        """
        until = now + timedelta(seconds=seconds)
        query = (
            select(S)
            .where(S.c.configured.is_(True))
            .where(or_(S.c.lease_until.is_(None), S.c.lease_until <= now, S.c.lease_owner == owner))
            .order_by(S.c.next_fetch.is_not(None), S.c.next_fetch, S.c.id)
            .limit(limit)
        )
        if due_only:
            query = query.where(or_(S.c.next_fetch.is_(None), S.c.next_fetch <= now))
        if not include_disabled:
            query = query.where(S.c.disabled.is_(False))
        if fetched_before is not None:
            # a pass over every source: what another process fetched during it is done
            query = query.where(or_(S.c.last_fetch.is_(None), S.c.last_fetch < fetched_before))
        if slugs is not None:
            query = query.where(S.c.slug.in_(slugs))
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=S)
        with self.db.write() as conn:
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(S).where(S.c.id.in_([r.id for r in rows])).values(lease_owner=owner, lease_until=until)
                )
        return [_state(r) for r in rows]

    def release(self, owner: str, slugs: Iterable[str] | None = None) -> int:
        """Hand back ``owner``'s leases (all, or those of ``slugs``); returns how many."""
        query = update(S).where(S.c.lease_owner == owner)
        if slugs is not None:
            query = query.where(S.c.slug.in_(list(slugs)))
        with self.db.write() as conn:
            return int(conn.execute(query.values(lease_owner=None, lease_until=None)).rowcount or 0)

    def leased(self, now: datetime) -> dict[str, tuple[str, datetime]]:
        """The leases running at ``now``: slug -> (owner, until)."""
        query = select(S.c.slug, S.c.lease_owner, S.c.lease_until).where(
            S.c.lease_owner.is_not(None), S.c.lease_until > now)
        with self.db.read() as conn:
            return {r.slug: (r.lease_owner, r.lease_until) for r in conn.execute(query)}

    def record_success(
        self,
        slug: str,
        *,
        now: datetime,
        next_fetch: datetime,
        etag: str | None = None,
        last_modified: str | None = None,
        url: str | None = None,
        feed_title: str | None = None,
        feed_link: str | None = None,
        resolved_id: str | None = None,
    ) -> None:
        """A document fetched and stored: clear the error state, keep validators, reschedule.

        (Not-modified answers go through :meth:`record_not_modified_many`.)
        """
        self.record_success_many([Fetched(slug, now, next_fetch, etag, last_modified, url, feed_title, feed_link, resolved_id)])

    def record_success_many(self, done: Sequence[Fetched]) -> None:
        """``record_success`` for several sources in one transaction (a crawl's batch)."""
        if not done:
            return
        with self.db.write() as conn:
            for f in sorted(done, key=lambda f: f.slug):  # slug order: no lock-order deadlocks
                values: dict[str, Any] = {
                    "disabled": False,
                    "status": "ok",
                    "last_fetch": f.now,
                    "last_success": f.now,
                    "last_error": None,
                    "error_count": 0,
                    "failing_since": None,
                    "next_fetch": f.next_fetch,
                    "lease_owner": None,
                    "lease_until": None,
                    "etag": f.etag,
                    "last_modified": f.last_modified,
                }
                if f.feed_title:
                    values["feed_title"] = f.feed_title
                if f.feed_link:
                    values["feed_link"] = f.feed_link
                if f.url:
                    values["url"] = f.url
                if f.resolved_id:
                    values["resolved_id"] = f.resolved_id
                conn.execute(update(S).where(S.c.slug == f.slug).values(**values))

    def record_not_modified_many(self, done: Sequence[tuple[str, datetime, datetime, str | None]]) -> None:
        """Record many ``304 Not Modified`` outcomes in one transaction.

        Args:
            done: (slug, fetch time, next fetch, new URL after a 301 or None) per source.

        A pass over unchanged feeds is mostly these: one write per batch instead of one
        per source keeps the second pass close to the speed of plain HTTP.
        """
        if not done:
            return
        rows = [  # in slug order, like every multi-row write here: no lock-order deadlocks
            {"b_slug": slug, "b_now": now, "b_next": next_fetch, "b_url": url}
            for slug, now, next_fetch, url in sorted(done, key=lambda d: d[0])
        ]
        stmt = (
            update(S)
            .where(S.c.slug == bindparam("b_slug"))
            .values(
                status="not_modified", last_fetch=bindparam("b_now"), last_success=bindparam("b_now"),
                last_error=None, error_count=0, failing_since=None, disabled=False,
                next_fetch=bindparam("b_next"), lease_owner=None, lease_until=None,
                url=func.coalesce(bindparam("b_url", type_=S.c.url.type), S.c.url),
            )
        )
        with self.db.write() as conn:
            conn.execute(stmt, rows)

    def record_failure(
        self,
        slug: str,
        *,
        now: datetime,
        error: str,
        next_fetch: datetime,
        disable: bool = False,
    ) -> None:
        """Count the failure; the status is ``failing`` (or ``disabled`` for 410 Gone).

        The source is never dropped: it keeps being retried with back-off, and
        ``failing_since`` tells the operator for how long it has been failing.
        """
        with self.db.write() as conn:
            row = conn.execute(select(S.c.failing_since, S.c.error_count).where(S.c.slug == slug)).first()
            conn.execute(
                update(S)
                .where(S.c.slug == slug)
                .values(
                    status="disabled" if disable else "failing",
                    last_fetch=now,
                    last_error=error[:2000],
                    error_count=(row.error_count if row else 0) + 1,
                    failing_since=(row.failing_since if row else None) or now,
                    next_fetch=next_fetch,
                    disabled=disable,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def id_for(self, slug: str) -> int | None:
        with self.db.read() as conn:
            return conn.execute(select(S.c.id).where(S.c.slug == slug)).scalar()

    def counts_by_status(self) -> dict[str, int]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(S.c.status, func.count()).where(S.c.configured.is_(True)).group_by(S.c.status)
            )
            return {r[0]: r[1] for r in rows}

    def refresh_item_counts(self, slugs: Iterable[str] | None = None) -> None:
        E = schema.entries
        counted = (
            select(func.count()).select_from(E).where(and_(E.c.source_id == S.c.id, E.c.deleted.is_(False)))
        ).scalar_subquery()
        query = update(S).values(items=counted)
        if slugs is not None:
            query = query.where(S.c.slug.in_(list(slugs)))
        with self.db.write() as conn:
            conn.execute(query)
