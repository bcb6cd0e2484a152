"""Copying a whole store into another database: SQLite today, PostgreSQL tomorrow.

``aggregator db copy --to postgresql://…`` moves a one-machine installation onto
PostgreSQL without losing its history (items, stories, sources and their health, the
relay outbox and its exactly-once marks, the newsletter and ActivityPub tables). Both
databases are migrated to the same schema first; the source is read in one transaction
(a consistent snapshot), the target written in one (all or nothing), table by table in
foreign-key order, in batches. PostgreSQL's id sequences are then moved past the copied
ids. The search documents are not copied: the target's own index is rebuilt from the
entries (tantivy and PostgreSQL's full-text search store different things).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, Integer, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from . import schema
from .base import Database
from .migrate import current_revision

BATCH = 1000
#: Rebuilt on the target by its own index, never copied.
SKIPPED = frozenset({schema.search_documents.name, schema.index_log.name})

Progress = Callable[[str, int], None]


def copy_store(source: Database, target: Database, *, progress: Progress | None = None) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``; returns rows copied by table.

    Raises:
        StoreError: the schemas differ, the target already holds data, or a write failed
            (then nothing was written).
    """
    revisions = current_revision(source.engine), current_revision(target.engine)
    if revisions[0] != revisions[1] or revisions[0] is None:
        raise StoreError(f"both databases must be migrated to the same schema first (found {revisions[0]} and "
                         f"{revisions[1]})")
    counts: dict[str, int] = {}
    try:
        with source.engine.connect() as src, target.engine.connect() as dst, src.begin(), dst.begin():
            for table in schema.metadata.sorted_tables:
                if dst.execute(select(func.count()).select_from(table)).scalar():
                    raise StoreError(f"the target database already holds data ({table.name}): copy into an "
                                     "empty database")
            for table in schema.metadata.sorted_tables:
                if table.name in SKIPPED:
                    continue
                copied = 0
                result = src.execution_options(yield_per=BATCH).execute(select(table))
                for rows in result.mappings().partitions(BATCH):
                    dst.execute(table.insert(), [dict(r) for r in rows])
                    copied += len(rows)
                    if progress is not None:
                        progress(table.name, copied)
                counts[table.name] = copied
            if target.dialect == "postgresql":
                _advance_sequences(dst)
    except SQLAlchemyError as exc:
        raise StoreError(f"the copy failed and nothing was kept: {exc.__class__.__name__}: {exc}") from exc
    return counts


def _advance_sequences(conn: Connection) -> None:
    """Rows were inserted with their ids: the next id PostgreSQL hands out must follow them."""
    for table in schema.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, Integer) or pk[0].name != "id":
            continue
        conn.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table.name}), 1), "
            f"(SELECT max(id) FROM {table.name}) IS NOT NULL)"
        ))
