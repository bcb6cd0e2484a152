"""Consistent copies of a SQLite database, taken and put back while processes use it.

SQLite's online backup API (``sqlite3.Connection.backup``) copies every page inside one
read transaction: in WAL mode writers go on meanwhile and the copy is the database as it
was at one instant, never a torn file. The same API restores: pages are written into the
live file under SQLite's own locks, so the other connections see the old database, then
the new one, never a mix. Copying the file with ``cp`` while ``run`` writes can miss the
WAL or catch half a transaction: never do that.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from .base import Database

#: ``sqlite3`` waits this long for another process's write lock before giving up.
BUSY_SECONDS = 60.0


@dataclass(frozen=True)
class SnapshotInfo:
    """What a copy holds, read from the copy itself."""

    revision: str | None  # the migration it is at
    entries: int  # live (not deleted) items
    sources: int
    outbox: int


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    try:
        yield conn
    finally:
        conn.close()


def _copy(source: sqlite3.Connection, target: Path, what: str, *, standalone: bool = False) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _connect(target) as dest:
        try:
            # pages=-1: the whole database in one step, so in one read transaction.
            source.backup(dest, pages=-1)
            if standalone:
                # One self-contained file (no -wal/-shm beside it), checksummed as is.
                dest.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise StoreError(f"{what} failed: {exc}") from exc


def backup_to(db: Database, target: Path) -> None:
    """Copy the store's live database into ``target`` (a new file), consistently."""
    if db.dialect != "sqlite":
        raise StoreError("the online backup is for SQLite; use pg_dump for PostgreSQL")
    raw = db.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        _copy(source, target, "the backup", standalone=True)
    finally:
        raw.close()


def copy_file(source: Path, target: Path, *, standalone: bool = False) -> None:
    """Copy one database file into another (created or overwritten) through the backup API.

    Processes using ``target`` keep working: they see the old pages, then the new ones.
    ``standalone`` leaves a file in rollback-journal mode (a copy kept aside), else the
    target keeps its journal mode (a live database stays in WAL).
    """
    with _connect(source, read_only=True) as src:
        _copy(src, target, f"copying {source} to {target}", standalone=standalone)


def check(path: Path) -> str | None:
    """SQLite's own integrity check of a copy: None when sound, else what is wrong."""
    with _connect(path, read_only=True) as conn:
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        except sqlite3.Error as exc:
            return str(exc)
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows[:5])


def describe(path: Path) -> SnapshotInfo:
    """Read a copy's schema revision and sizes (without migrating or changing it)."""
    with _connect(path, read_only=True) as conn:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "entries" not in tables:
                raise StoreError(f"{path} is not an aggregator database (no entries table)")
            revision = None
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
            entries = conn.execute("SELECT count(*) FROM entries WHERE NOT deleted").fetchone()[0]
            sources = conn.execute("SELECT count(*) FROM sources").fetchone()[0]
            outbox = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {path}: {exc}") from exc
    return SnapshotInfo(revision=revision, entries=int(entries), sources=int(sources), outbox=int(outbox))
