"""Entries and stories: decide's verdicts applied in one transaction with the logs.

Writing an entry, its index change-log row and its relay outbox rows happens in the same
transaction, so the index and the relay (which pull from those tables) never miss an
item and never see one twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, func, or_, select, update

from ..model import Decision, EntryChange, ExistingEntry, StoredEntry
from . import schema
from .base import ENTRY_COLUMNS, LIGHT_ENTRY_COLUMNS, Database, row_to_entry

E = schema.entries
S = schema.sources
ST = schema.stories
T = schema.entry_tags


@dataclass(frozen=True)
class SaveResult:
    new: int
    updated: int
    new_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Cursor:
    """Keyset pagination position: the (published, id) of the last row shown."""

    published: datetime
    id: int


class EntryRepo:
    def __init__(self, db: Database):
        self.db = db

    # -- the crawler's side -------------------------------------------------------------

    def existing(self, source: str, guids: Iterable[str]) -> dict[str, ExistingEntry]:
        """What is already stored for these GUIDs of one source (decide's input)."""
        return self.existing_many([(source, guids)])[source]

    def existing_many(self, wanted: Sequence[tuple[str, Iterable[str]]]) -> dict[str, dict[str, ExistingEntry]]:
        """``existing`` for several sources on one connection: per slug, what is stored.

        A slug not in the store has nothing stored.
        """
        out: dict[str, dict[str, ExistingEntry]] = {}
        with self.db.read() as conn:
            for source, guids in wanted:
                out[source] = self._existing_in(conn, source, list(guids))
        return out

    def _existing_in(self, conn: Connection, source: str, guids: list[str]) -> dict[str, ExistingEntry]:
        out: dict[str, ExistingEntry] = {}
        source_id = conn.execute(select(S.c.id).where(S.c.slug == source)).scalar()
        if source_id is None:
            return out
        for start in range(0, len(guids), 500):
            chunk = guids[start : start + 500]
            rows = conn.execute(
                select(E.c.id, E.c.guid, E.c.content_hash, E.c.deleted, E.c.published, E.c.first_seen)
                .where(E.c.source_id == source_id, E.c.guid.in_(chunk))
            )
            for r in rows:
                out[r.guid] = ExistingEntry(r.id, r.content_hash, bool(r.deleted), r.published, r.first_seen)
        return out

    def save(
        self, source: str, decision: Decision, *, now: datetime, targets: Sequence[str] = (), synced: Sequence[str] = ()
    ) -> SaveResult:
        """Apply decide's verdict for one source in one transaction (``save_many`` of one)."""
        return self.save_many([(source, decision)], now=now, targets=targets, synced=synced)[0]

    def save_many(
        self, batch: Sequence[tuple[str, Decision]], *, now: datetime, targets: Sequence[str] = (),
        synced: Sequence[str] = (),
    ) -> list[SaveResult]:
        """Apply decide's verdicts for several sources in one transaction; one result each.

        Args:
            targets: relay targets that get an outbox row for each new entry decide marked
                ``relay``, provided it opened its story: which copy of a republished article
                came first only the database knows (crawlers write concurrently), and a
                story is relayed once.
            synced: targets that mirror edits (ActivityPub sends an Update): an edited
                entry's row for them that was posted (or is being posted) goes back to
                ``pending``, so the relay publishes the new version (``_rearm``).

        The sources are written one after the other, in batch order, exactly as separate
        ``save`` calls would (the first of the batch to carry an article opens its story);
        only the transaction is shared. A first crawl stores thousands of sources: one
        transaction each cost a commit and a turn at SQLite's write lock each, which is
        where a crawl's time went (bench/crawl.py). Statements are batched per feed
        (executemany), not issued per entry. A concurrent crawler that stored the same
        GUID first wins: the insert is a no-op (unique constraint) and not counted as new.
        """
        if not batch:
            return []
        with self.db.write() as conn:
            return [self._save_in(conn, source, decision, now, targets, synced) for source, decision in batch]

    def _save_in(
        self, conn: Connection, source: str, decision: Decision, now: datetime, targets: Sequence[str],
        synced: Sequence[str],
    ) -> SaveResult:
        updated_count = 0
        new, updated = decision.new, decision.updated
        source_id = conn.execute(select(S.c.id).where(S.c.slug == source)).scalar_one()
        inserted, primary = self._insert_new(conn, source_id, new, now)
        if inserted:
            conn.execute(schema.index_log.insert(), [
                {"entry_id": entry_id, "op": "upsert", "created": now} for entry_id, _ in inserted
            ])
            outbox_rows = [
                {"entry_id": entry_id, "target": target, "state": "pending", "created": now,
                 "updated": now, "next_attempt": now}
                for entry_id, change in inserted if change.relay and entry_id in primary
                for target in targets
            ]
            if outbox_rows:
                conn.execute(self.db.insert(schema.outbox).on_conflict_do_nothing(), outbox_rows)
            conn.execute(update(S).where(S.c.id == source_id).values(items=S.c["items"] + len(inserted)))
        for change in updated:
            assert change.existing_id is not None
            e = change.entry
            conn.execute(
                update(E)
                .where(E.c.id == change.existing_id)
                .values(
                    url=e.url, title=e.title, author=e.author, published=change.published,
                    updated=e.updated or now, last_seen=now, language=e.language,
                    summary=e.summary, content=e.content, text=e.text,
                    tags=json.dumps(list(e.tags)), image=e.image,
                    native_uri=e.native_uri, native_cid=e.native_cid, content_hash=e.content_hash,
                )
            )
            conn.execute(delete(T).where(T.c.entry_id == change.existing_id))
            self._write_tags(conn, [(change.existing_id, e.tags)])
            conn.execute(schema.index_log.insert().values(entry_id=change.existing_id, op="upsert", created=now))
            updated_count += 1
        if synced and updated:
            self._rearm(conn, [c.existing_id for c in updated if c.existing_id is not None], synced, now)
        new_ids = tuple(entry_id for entry_id, _ in inserted)
        return SaveResult(new=len(new_ids), updated=updated_count, new_ids=new_ids)

    def _insert_new(
        self, conn: Connection, source_id: int, new: Sequence[EntryChange], now: datetime
    ) -> tuple[list[tuple[int, EntryChange]], set[int]]:
        """Insert the new entries already joined to their stories.

        Returns (id, change) of the entries really inserted, in ``new``'s order, and the
        ids of those that opened their story (the relay's "first copy").

        Stories come first, so each entry row is written once, with its story: an insert
        followed by an update of ``story_id``/``is_primary`` rewrote every new row and two
        of its indexes (bench/crawl.py --profile). The story insert (``ON CONFLICT DO
        NOTHING RETURNING``) is the arbiter between concurrent crawlers: the stories it
        returns are the ones this transaction opens, and their first entry here is their
        primary one; on PostgreSQL a second transaction inserting the same key waits for
        the first and finds its row.
        """
        if not new:
            return [], set()
        planned: dict[str, int] = {}
        published: dict[str, datetime] = {}
        for change in new:
            planned[change.story_key] = planned.get(change.story_key, 0) + 1
            published.setdefault(change.story_key, change.published)
        keys = sorted(planned)  # key order, like every multi-row write here: no lock-order deadlocks
        opened_stmt = self.db.insert(ST).on_conflict_do_nothing(index_elements=["key"]).returning(ST.c.id, ST.c.key)
        opened = {row.key: row.id for row in conn.execute(
            opened_stmt, [{"key": key, "published": published[key], "source_count": planned[key]} for key in keys])}
        story_ids = dict(opened)
        joined = [key for key in keys if key not in opened]
        for start in range(0, len(joined), 500):
            for row in conn.execute(select(ST.c.id, ST.c.key).where(ST.c.key.in_(joined[start : start + 500]))):
                story_ids[row.key] = row.id
        rows = []
        first_of: set[str] = set()
        for change in new:
            e = change.entry
            is_primary = change.story_key in opened and change.story_key not in first_of
            first_of.add(change.story_key)
            rows.append({
                "source_id": source_id, "guid": e.guid, "url": e.url, "title": e.title, "author": e.author,
                "published": change.published, "updated": e.updated, "first_seen": now, "last_seen": now,
                "language": e.language, "summary": e.summary, "content": e.content, "text": e.text,
                "tags": json.dumps(list(e.tags)), "image": e.image, "kind": e.kind,
                "native_uri": e.native_uri, "native_cid": e.native_cid, "content_hash": e.content_hash,
                "story_id": story_ids[change.story_key], "is_primary": is_primary,
            })
        stmt = (
            self.db.insert(E)
            .on_conflict_do_nothing(index_elements=["source_id", "guid"])
            .returning(E.c.id, E.c.guid)
        )
        ids = {row.guid: row.id for row in conn.execute(stmt, rows)}
        inserted = [(ids[c.entry.guid], c) for c in new if c.entry.guid in ids]
        firsts: dict[str, int] = {}  # story key -> its first entry inserted here
        added: dict[str, int] = {}
        for entry_id, change in inserted:
            firsts.setdefault(change.story_key, entry_id)
            added[change.story_key] = added.get(change.story_key, 0) + 1
        if len(inserted) < len(new):
            self._repair_opened(conn, new, ids, opened, firsts, added)
        self._write_tags(conn, [(entry_id, c.entry.tags) for entry_id, c in inserted])
        primary = {firsts[key] for key in opened if key in firsts}
        if primary:
            conn.execute(
                update(ST).where(ST.c.id == bindparam("sid")).values(primary_entry_id=bindparam("eid")),
                [{"sid": opened[key], "eid": firsts[key]} for key in sorted(opened) if key in firsts],
            )
        bumps = [{"sid": story_ids[key], "n": added[key]} for key in joined if key in added]
        if bumps:
            conn.execute(
                update(ST).where(ST.c.id == bindparam("sid")).values(source_count=ST.c.source_count + bindparam("n")),
                bumps,
            )
        return inserted, primary

    def _repair_opened(
        self, conn: Connection, new: Sequence[EntryChange], ids: dict[str, int], opened: dict[str, int],
        firsts: dict[str, int], added: dict[str, int],
    ) -> None:
        """A concurrent crawler stored some of these GUIDs first (they were not inserted):
        the stories opened here count only the copies really inserted, their first copy
        inserted is their primary one, and a story left without any is removed."""
        planned_first: dict[str, str] = {}
        for change in new:
            planned_first.setdefault(change.story_key, change.entry.guid)
        for key, story_id in sorted(opened.items()):
            if key not in firsts:
                conn.execute(delete(ST).where(ST.c.id == story_id))
                continue
            conn.execute(update(ST).where(ST.c.id == story_id).values(source_count=added[key]))
            if planned_first[key] not in ids:
                conn.execute(update(E).where(E.c.id == firsts[key]).values(is_primary=True))

    def _write_tags(self, conn: Connection, tagged: Sequence[tuple[int, Sequence[str]]]) -> None:
        rows = [{"entry_id": entry_id, "tag": tag} for entry_id, tags in tagged for tag in tags]
        if rows:
            conn.execute(self.db.insert(T).on_conflict_do_nothing(), rows)

    @staticmethod
    def _rearm(conn: Connection, entry_ids: Sequence[int], synced: Sequence[str], now: datetime) -> None:
        """Rows of ``synced`` targets that were posted (or are in flight) become due again.

        A row in flight when this commits stays due: the relay's "posted" mark is conditional
        on ``sending`` and no longer applies, so the newer state is published after it.
        """
        OB = schema.outbox
        for start in range(0, len(entry_ids), 500):
            conn.execute(
                update(OB)
                .where(OB.c.entry_id.in_(entry_ids[start : start + 500]), OB.c.target.in_(list(synced)),
                       or_(OB.c.state.in_(("posted", "sending")), and_(OB.c.state == "pending", OB.c.remote_id.is_not(None))))
                .values(state="pending", attempts=0, next_attempt=now, last_error=None, updated=now)
            )

    def mark_deleted(self, entry_ids: Iterable[int], *, now: datetime, synced: Sequence[str] = ()) -> int:
        """The operator's delete: hidden everywhere, and a later crawl never brings it back.

        Pending relay rows are withdrawn, except the rows of ``synced`` targets that had
        published the entry: those become due again, so the relay sends a Delete.
        """
        ids = list(entry_ids)
        if not ids:
            return 0
        with self.db.write() as conn:
            count = conn.execute(update(E).where(E.c.id.in_(ids), E.c.deleted.is_(False)).values(deleted=True)).rowcount
            live = select(func.count()).select_from(E).where(E.c.source_id == S.c.id, E.c.deleted.is_(False))
            conn.execute(
                update(S)
                .where(S.c.id.in_(select(E.c.source_id).where(E.c.id.in_(ids))))
                .values(items=live.scalar_subquery())
            )
            conn.execute(schema.index_log.insert(), [{"entry_id": i, "op": "delete", "created": now} for i in ids])
            OB = schema.outbox
            withdraw = update(OB).where(OB.c.entry_id.in_(ids), OB.c.state == "pending")
            if synced:
                withdraw = withdraw.where(~and_(OB.c.target.in_(list(synced)), OB.c.remote_id.is_not(None)))
            conn.execute(withdraw.values(state="skipped", last_error="deleted by the operator", updated=now))
            if synced:
                self._rearm(conn, ids, synced, now)
        return count or 0

    # -- the readers' side --------------------------------------------------------------

    def get_many(self, ids: Iterable[int], *, with_content: bool = True) -> dict[int, StoredEntry]:
        ids = list(ids)
        columns = ENTRY_COLUMNS if with_content else LIGHT_ENTRY_COLUMNS
        out: dict[int, StoredEntry] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), 500):
                query = select(*columns).join(S, S.c.id == E.c.source_id).where(E.c.id.in_(ids[start : start + 500]))
                for row in conn.execute(query):
                    entry = row_to_entry(row)
                    out[entry.id] = entry
        return out

    def newest(
        self,
        *,
        source: str | None = None,
        tag: str | None = None,
        language: str | None = None,
        limit: int = 50,
        before: Cursor | None = None,
        stories_only: bool = False,
        with_content: bool = True,
        exclude: Sequence[str] = (),
    ) -> list[StoredEntry]:
        """Newest first with keyset pagination (never OFFSET).

        Args:
            stories_only: one row per story (its first entry), for the river; a source
                filter shows that source's own entries instead.
            exclude: source slugs left out. Their entries never show; in ``stories_only``
                mode a story whose first entry is theirs shows through its earliest copy
                from a source not excluded (``published``, then ``id``), and disappears
                when every copy is theirs.
        """
        columns = ENTRY_COLUMNS if with_content else LIGHT_ENTRY_COLUMNS
        query = select(*columns).join(S, S.c.id == E.c.source_id).where(E.c.deleted.is_(False))
        excluded = select(S.c.id).where(S.c.slug.in_(list(exclude))).scalar_subquery() if exclude else None
        if excluded is not None:
            query = query.where(E.c.source_id.not_in(excluded))
        if language is not None:
            query = query.where(or_(E.c.language == language, E.c.language.like(f"{language}-%")))
        if tag is not None:
            query = query.where(E.c.id.in_(select(T.c.entry_id).where(T.c.tag == tag.lower())))
        if before is not None:
            query = query.where(
                or_(E.c.published < before.published, and_(E.c.published == before.published, E.c.id < before.id))
            )
        order = (E.c.published.desc(), E.c.id.desc())
        if source is not None:
            query = query.where(S.c.slug == source)
        elif stories_only:
            queries = [query.where(E.c.is_primary.is_(True))]
            if excluded is not None:
                queries.append(query.where(*self._stand_in_for_excluded(excluded)))
            with self.db.read() as conn:
                rows = [row_to_entry(r) for q in queries for r in conn.execute(q.order_by(*order).limit(limit))]
            rows.sort(key=lambda e: (e.published, e.id), reverse=True)
            return rows[:limit]
        query = query.order_by(*order).limit(limit)
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query)]

    @staticmethod
    def _stand_in_for_excluded(excluded: Any) -> tuple[Any, ...]:
        """Conditions for a copy that stands in for its story's excluded first entry.

        A second query rather than an OR on the river's: the river's keyset scan stays on
        the ``(is_primary, published, id)`` index, and this one reads only the copies
        (``is_primary`` false), which are few.
        """
        first = E.alias("first_copy")
        other = E.alias("other_copy")
        first_is_excluded = exists().where(
            first.c.story_id == E.c.story_id, first.c.is_primary.is_(True), first.c.source_id.in_(excluded))
        earlier_copy_shown = exists().where(
            other.c.story_id == E.c.story_id, other.c.deleted.is_(False), other.c.source_id.not_in(excluded),
            other.c.is_primary.is_(False),
            or_(other.c.published < E.c.published, and_(other.c.published == E.c.published, other.c.id < E.c.id)),
        )
        return (E.c.is_primary.is_(False), E.c.story_id.is_not(None), first_is_excluded, ~earlier_copy_shown)

    def story_members(self, story_ids: Iterable[int], *, with_content: bool = True) -> dict[int, list[StoredEntry]]:
        """Every live entry of these stories, for "also published by ..."."""
        ids = list(story_ids)
        out: dict[int, list[StoredEntry]] = {}
        if not ids:
            return out
        query = (
            select(*(ENTRY_COLUMNS if with_content else LIGHT_ENTRY_COLUMNS))
            .join(S, S.c.id == E.c.source_id)
            .where(E.c.story_id.in_(ids), E.c.deleted.is_(False))
            .order_by(E.c.published, E.c.id)
        )
        with self.db.read() as conn:
            for row in conn.execute(query):
                entry = row_to_entry(row)
                assert entry.story_id is not None
                out.setdefault(entry.story_id, []).append(entry)
        return out

    def count(self, *, source: str | None = None) -> int:
        query = select(func.count()).select_from(E).where(E.c.deleted.is_(False))
        if source is not None:
            query = query.join(S, S.c.id == E.c.source_id).where(S.c.slug == source)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def all_ids(self, *, after: int = 0, limit: int = 1000) -> list[int]:
        """Live entry ids in id order, in pages: what ``reindex`` walks."""
        query = select(E.c.id).where(E.c.id > after, E.c.deleted.is_(False)).order_by(E.c.id).limit(limit)
        with self.db.read() as conn:
            return [r.id for r in conn.execute(query)]

