"""Leader election: one active relay among several processes, without a home-made cluster.

On PostgreSQL the lock is a session-level advisory lock (``pg_try_advisory_lock``) taken on
a dedicated connection that stays open for as long as this process leads. The server frees
the lock when that session ends, whatever the cause: a clean release, a killed process
(the kernel closes the socket), or a PostgreSQL restart. So a standby polling
``try_acquire`` takes over on its own, and a leader that lost its session learns it from
``still_held`` and must stop.

On SQLite the lock is an exclusive ``flock`` on a file beside the database
(``<database>.<name>.lock``). SQLite deployments are one process, but an operator may
start ``aggregator relay`` next to ``aggregator run`` on the same file: the lock file keeps
them from both posting. The kernel drops a ``flock`` when the process dies. An in-memory
database, or a platform without ``fcntl``, gets a lock that is always granted (nothing
else can share such a database anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .. import logs
from ..waits import pause
from .base import Database

try:  # POSIX only; see the module docstring for the fallback
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logs.get("aggregator.store.locks")

def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks are keyed by bigint)."""
    digest = hashlib.sha256(f"aggregator:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderLock:
    """A named lock held by at most one process at a time; see the module docstring.

    Not thread-safe: one owner (the relay loop) calls it.

    Args:
        db: the store's database (its URL and dialect pick the mechanism).
        name: what is being led, e.g. ``"relay"``; different names never conflict.
    """

    def __init__(self, db: Database, name: str):
        self.db = db
        self.name = name
        self.key = lock_key(name)
        self.mechanism = "advisory" if db.dialect == "postgresql" else "file"
        self._conn: Connection | None = None
        self._file: Any = None
        self._held = False

    # -- public -------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it (now or already).

        Never blocks on another holder. A database that cannot be reached counts as
        "not acquired" (logged), so a standby loop just tries again later.
        """
        if self._held and self.still_held():
            return True
        if self.mechanism == "advisory":
            self._held = self._try_advisory()
        else:
            self._held = self._try_file()
        if self._held:
            log.info("lock.acquired", lock=self.name, mechanism=self.mechanism)
        return self._held

    def still_held(self) -> bool:
        """Whether the lock is still ours; False once the session behind it is gone.

        On PostgreSQL this asks the server (one small query on the dedicated connection):
        after a restart the old session, and so the lock, no longer exists.
        """
        if not self._held:
            return False
        if self.mechanism != "advisory":
            return True
        assert self._conn is not None
        try:
            held = self._conn.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                    "AND pid = pg_backend_pid() AND granted AND objsubid = 1 "
                    "AND classid::bigint = :hi AND objid::bigint = :lo)"
                ),
                # a bigint key shows in pg_locks split in two unsigned 32-bit halves
                {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF},
            ).scalar()
        except SQLAlchemyError as exc:
            log.warning("lock.lost", lock=self.name, error=str(exc))
            held = False
        if not held:
            self._drop_connection()
            self._held = False
        return bool(held)

    def still_held_cached(self) -> bool:
        """What the last ``try_acquire``/``still_held`` found, without asking the server."""
        return self._held

    def release(self) -> None:
        """Give the lock up (idempotent); the next standby's ``try_acquire`` gets it."""
        if self.mechanism == "advisory":
            if self._conn is not None and self._held:
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._drop_connection()
        elif self._file is not None:
            with contextlib.suppress(OSError):
                if fcntl is not None:
                    fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                self._file.close()
            self._file = None
        if self._held:
            log.info("lock.released", lock=self.name)
        self._held = False

    def __enter__(self) -> LeaderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- PostgreSQL ---------------------------------------------------------------------

    def _try_advisory(self) -> bool:
        try:
            if self._conn is None:
                # A connection of its own, outside the pool: the session *is* the lock, so it
                # must never be handed back to a pool and reused by someone else.
                # Autocommit: the session is idle between checks, never "idle in transaction".
                self._conn = self.db.session_engine().connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
        except SQLAlchemyError as exc:
            log.warning("lock.unavailable", lock=self.name, error=str(exc))
            self._drop_connection()
            return False
        # When refused, the connection stays for the next attempt: reconnecting every
        # poll would be waste.
        return bool(got)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- SQLite -------------------------------------------------------------------------

    def _lock_path(self) -> Path | None:
        database = make_url(str(self.db.engine.url)).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(f"{database}.{self.name}.lock")

    def _try_file(self) -> bool:
        path = self._lock_path()
        if path is None or fcntl is None:
            return True  # one process owns such a database: nothing to elect
        handle = open(path, "a+")  # noqa: SIM115 - held open for the leader's lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True


def serialize_transaction(conn: Connection, name: str) -> None:
    """Hold the lock ``name`` until the current transaction ends, waiting for it if taken.

    For read-then-write transactions that several processes may run at once, such as the
    mirroring of ``sources.yaml`` that every process does when it starts: without it, two
    processes starting together on an empty PostgreSQL database both see no sources and
    both insert them, and one fails on the unique constraint. On SQLite ``BEGIN
    IMMEDIATE`` already serializes writers, so there is nothing to do.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


async def run_while_leader(
    lock: LeaderLock,
    stop: asyncio.Event,
    work: Callable[[asyncio.Event], Awaitable[None]],
    *,
    poll: float = 5.0,
) -> None:
    """Stand by until ``lock`` is ours, run ``work`` while it stays ours; until ``stop``.

    ``work`` gets an event that is set when it must return: on ``stop`` (SIGTERM), or
    when the lock is lost (the database restarted, the session was cut). Then this goes
    back to standing by and tries again every ``poll`` seconds. A lost lock is noticed
    within ``poll`` seconds, so a standby may already lead for that long: what ``work``
    does must stay safe in that window (the relay's outbox marks each row before posting
    and every post carries an idempotency key).
    """
    try:
        while not stop.is_set():
            if not await asyncio.to_thread(lock.try_acquire):
                await pause(stop, poll)
                continue
            done = asyncio.Event()

            async def watch(done: asyncio.Event = done) -> None:
                while not done.is_set():
                    await pause(stop, poll)
                    if stop.is_set() or not await asyncio.to_thread(lock.still_held):
                        done.set()

            watcher = asyncio.create_task(watch())
            try:
                await work(done)
            finally:
                done.set()
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            if not stop.is_set() and not lock.still_held_cached():
                log.warning("lock.lost", lock=lock.name, then="standing by")
            elif not stop.is_set():
                # work returned by itself while we still lead: do not spin on it
                await pause(stop, poll)
    finally:
        await asyncio.to_thread(lock.release)
