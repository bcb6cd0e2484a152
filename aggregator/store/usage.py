"""Who is using a SQLite database file: a shared lock every process holds, an exclusive one to restore.

Every process that opens the store through the factory (``run``, ``crawl``, ``serve``,
``relay``, and the short commands while they run) holds a *shared* ``flock`` on
``<database>.in-use.lock`` for as long as it has the database open. ``restore`` asks for
the *exclusive* lock without waiting: refused means some process is using the database,
so its data must not be swapped under it (unless the operator insists with ``--force``).
While ``restore`` holds it, a process that starts is refused at once with a clear error
instead of reading a half-restored file. The kernel drops a ``flock`` when its process
dies, so a crashed ``run`` never leaves a stale "running" mark.

PostgreSQL and in-memory databases have no such file: nothing is locked (their backups
are ``pg_dump``'s business).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from .. import logs
from ..errors import StoreError

try:  # POSIX only; elsewhere nothing is locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SUFFIX = ".in-use.lock"
log = logs.get("aggregator.store")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + SUFFIX)


def _open(database: Path) -> IO[str] | None:
    if fcntl is None:
        return None
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "a+")  # held open for the lock's lifetime


@contextlib.contextmanager
def using(database: Path | None) -> Iterator[None]:
    """Hold the shared "in use" lock while the block runs.

    Raises:
        StoreError: a restore holds the database right now.
    """
    try:
        handle = _open(database) if database is not None else None
    except OSError as exc:  # a read-only data dir: the database says what it can do
        log.warning("store.in_use_mark_unavailable", database=str(database), error=str(exc))
        handle = None
    if handle is None:
        yield
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise StoreError(
                f"{database} is being restored (aggregator restore); start again when it is done"
            ) from None
        yield
    finally:
        handle.close()  # closing the file releases the lock


@contextlib.contextmanager
def exclusive(database: Path) -> Iterator[bool]:
    """Try to hold the database alone; yields False when another process is using it.

    A False block runs without the lock (``restore --force``): the caller decides.
    """
    handle = _open(database)
    if handle is None:
        yield True
        return
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except OSError:
            alone = False
        yield alone
    finally:
        handle.close()


def in_use(database: Path) -> bool:
    """Whether some process holds the database open right now (an advisory answer)."""
    if not lock_path(database).exists():
        return False
    with exclusive(database) as alone:
        return not alone
