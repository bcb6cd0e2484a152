"""LeaderLock: one holder among processes; a standby takes over when the holder dies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import Store
from aggregator.store.locks import LeaderLock
from tests.conftest import PostgresCluster

from .procs import Proc, child_env


def holder(url: str, name: str = "relay") -> Proc:
    return Proc([sys.executable, "-m", "tests.scale.lockholder", url, name], child_env(url))


def last(lines: list[str]) -> str | None:
    return lines[-1] if lines else None


@pytest.mark.postgres
def test_two_processes_one_leader_and_takeover_after_kill_and_restart(own_cluster: PostgresCluster, procs: list[Proc]) -> None:
    url = own_cluster.create_database()
    a = holder(url)
    procs.append(a)
    a.wait_for(lambda out: last(out) == "leader", 20, "the first process to lead")
    b = holder(url)
    procs.append(b)
    b.wait_for(lambda out: last(out) == "standby", 20, "the second process to stand by")
    # several polling rounds later the standby still has not taken the lock
    other = holder(url, "something-else")
    procs.append(other)
    other.wait_for(lambda out: last(out) == "leader", 20, "an unrelated lock name to be granted")
    assert b.out == ["standby"] and a.out == ["leader"]

    a.kill()  # SIGKILL: no release; the server frees the lock when the session ends
    b.wait_for(lambda out: last(out) == "leader", 20, "the standby to take over")

    # a PostgreSQL restart ends every session: the leader notices and someone leads again
    own_cluster.restart()
    b.wait_for(lambda out: "lost" in out, 30, "the leader to notice the lost lock")
    b.wait_for(lambda out: out.count("leader") == 2, 30, "leadership regained after the restart")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lock_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_cluster").create_database()
    store = Store(url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


def test_one_holder_release_hands_over(lock_store: Store) -> None:
    first = LeaderLock(lock_store.db, "relay")
    second = LeaderLock(lock_store.db, "relay")
    try:
        assert first.try_acquire()
        assert first.try_acquire()  # already ours: still True
        assert not second.try_acquire()
        assert first.still_held() and not second.still_held()
        with LeaderLock(lock_store.db, "other") as other:
            assert other.try_acquire()  # names are independent
        first.release()
        assert not first.still_held()
        assert second.try_acquire() and second.still_held()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
    assert first.mechanism == ("advisory" if lock_store.dialect == "postgresql" else "file")


def test_in_memory_sqlite_lock_is_always_granted() -> None:
    store = Store("sqlite://")
    try:
        lock = LeaderLock(store.db, "relay")
        assert lock.try_acquire() and lock.still_held()
        lock.release()
        assert not lock.still_held()
    finally:
        store.close()


def test_serialized_read_then_write_transactions_lose_no_update(lock_store: Store) -> None:
    """Four threads read a counter, pause, write it + 1: serialized, none is lost."""
    import threading
    import time

    from sqlalchemy import select, update

    from aggregator.store import schema
    from aggregator.store.locks import serialize_transaction

    meta = schema.meta
    with lock_store.db.write() as conn:
        conn.execute(meta.insert().values(key="counter", value="0"))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with lock_store.db.write() as conn:
                serialize_transaction(conn, "counter")
                value = int(conn.execute(select(meta.c.value).where(meta.c.key == "counter")).scalar_one())
                time.sleep(0.05)  # widen the window a lost update would need
                conn.execute(update(meta).where(meta.c.key == "counter").values(value=str(value + 1)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    with lock_store.db.read() as conn:
        assert conn.execute(select(meta.c.value).where(meta.c.key == "counter")).scalar_one() == "4"


@pytest.mark.postgres
def test_run_while_leader_hands_work_over(own_cluster: PostgresCluster, procs: list[Proc]) -> None:
    """The loop the relay runs in: one works, the standby takes over, a restart is survived."""
    url = own_cluster.create_database()

    def leader() -> Proc:
        return Proc([sys.executable, "-m", "tests.scale.lockholder", url, "relay", "lead"], child_env(url))

    a = leader()
    procs.append(a)
    a.wait_for(lambda out: "working" in out, 20, "the first process to work")
    b = leader()
    procs.append(b)
    b.wait_for(lambda out: out == ["standby"], 20, "the second process to start")
    c = Proc([sys.executable, "-m", "tests.scale.lockholder", url, "other"], child_env(url))
    procs.append(c)  # several polls of b happen while c starts
    c.wait_for(lambda out: last(out) == "leader", 20, "an unrelated lock name to be granted")
    assert b.out == ["standby"]

    a.kill()
    b.wait_for(lambda out: "working" in out, 20, "the standby to take over the work")

    own_cluster.restart()  # the lock goes with the session: work stops, then resumes
    b.wait_for(lambda out: out.count("working") == 2 and "stopped" in out, 30, "work to stop and resume")
    assert b.out == ["standby", "working", "stopped", "working"]
    assert b.stop() == 0  # SIGTERM: work told to stop, lock released
    assert b.out[-2:] == ["stopped", "exited"]
