"""The shared plumbing of the domain repositories: connections and transactions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from ..model import Clock, StoredEntry, utcnow
from . import schema
from .db import make_session_engine


class Database:
    """An engine plus the clock; every repository shares one.

    ``session_engine`` gives connections outside the pool, for what must own a whole
    database session (a leader's advisory lock); both engines are disposed by ``dispose``.
    """

    def __init__(self, engine: Engine, clock: Clock = utcnow):
        self.engine = engine
        self.clock = clock
        self.dialect = engine.dialect.name
        self._session_engine: Engine | None = None

    def session_engine(self) -> Engine:
        if self._session_engine is None:
            self._session_engine = make_session_engine(self.engine.url)
        return self._session_engine

    def dispose(self) -> None:
        self.engine.dispose()
        if self._session_engine is not None:
            self._session_engine.dispose()
            self._session_engine = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that takes the write lock up front on SQLite."""
        try:
            with self.engine.connect() as conn:
                conn.info["write"] = True
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.info.pop("write", None)
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed: {exc.__class__.__name__}: {exc}") from exc

    def insert(self, table: Any) -> Any:
        """A dialect insert, so ``on_conflict_do_*`` works on SQLite and PostgreSQL.

        Typed ``Any``: the two dialects' Insert classes share those methods but no base.
        """
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


ENTRY_COLUMNS = (
    schema.entries.c.id,
    schema.sources.c.slug,
    schema.entries.c.guid,
    schema.entries.c.url,
    schema.entries.c.title,
    schema.entries.c.author,
    schema.entries.c.published,
    schema.entries.c.updated,
    schema.entries.c.first_seen,
    schema.entries.c.language,
    schema.entries.c.summary,
    schema.entries.c.content,
    schema.entries.c.text,
    schema.entries.c.tags,
    schema.entries.c.image,
    schema.entries.c.kind,
    schema.entries.c.native_uri,
    schema.entries.c.native_cid,
    schema.entries.c.story_id,
    schema.entries.c.deleted,
)


#: The same columns without the full ``content`` (pages and feeds show the summary; the
#: content of long articles is most of a row's bytes).
LIGHT_ENTRY_COLUMNS = tuple(
    literal("").label("content") if c is schema.entries.c.content else c for c in ENTRY_COLUMNS
)


def row_to_entry(row: Any) -> StoredEntry:
    m = row._mapping
    return StoredEntry(
        id=m["id"],
        source=m["slug"],
        guid=m["guid"],
        url=m["url"],
        title=m["title"],
        author=m["author"],
        published=m["published"],
        updated=m["updated"],
        first_seen=m["first_seen"],
        language=m["language"],
        summary=m["summary"],
        content=m["content"],
        text=m["text"],
        tags=tuple(json.loads(m["tags"] or "[]")),
        image=m["image"],
        kind=m["kind"],
        native_uri=m["native_uri"],
        native_cid=m["native_cid"],
        story_id=m["story_id"],
        deleted=bool(m["deleted"]),
    )
