"""Leases after a crash: a dead crawler of this machine is known, its sources taken back at once.

The processes are real: a child that has exited is a dead owner; this test's own parent
is a live one. Other machines' leases are left to run out, and an idle crawler is silent.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from aggregator.store import Store
from aggregator.update.owners import dead_here, host_name, process_owner, start_ticks
from tests.conftest import FrozenClock
from tests.feedserver import FeedServer

from .helpers import config_for, crawler, rss

HOST = host_name()


def exited_pid() -> int:
    """The pid of a process that has come and gone (reaped: nothing has that pid now)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_who_is_dead_here() -> None:
    me = process_owner()
    assert me.startswith(f"{HOST}:{os.getpid()}")
    assert not dead_here(me)
    parent = os.getppid()
    if (parent_start := start_ticks(parent)) is not None:
        assert not dead_here(f"{HOST}:{parent}+{parent_start}")  # alive, and the same process
        assert dead_here(f"{HOST}:{parent}+{parent_start + 1}")  # the pid now names another process
    gone = exited_pid()
    assert dead_here(f"{HOST}:{gone}+123") and dead_here(f"{HOST}:{gone}")
    assert not dead_here(f"{HOST}:{parent}")  # no start time: a pid that exists counts as alive
    # never judged: another machine, names of other forms
    for owner in (f"other-{HOST}:{gone}+1", "test", f"{HOST}:", f"{HOST}:abc", f"{HOST}:{gone}+x", f"{HOST}:0"):
        assert not dead_here(owner), owner


async def test_a_restarted_crawler_takes_back_a_dead_local_owner_leases_at_once(
    store: Store, clock: FrozenClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="aggregator.crawl")
    async with FeedServer() as server:
        names = ["dead1", "dead2", "remote", "free"]
        for name in names:
            server.add(f"/{name}.xml", rss([(name, f"Article de {name}")]))
        config = config_for("".join(f"  - name: {n}\n    slug: {n}\n    url: {server.url(f'/{n}.xml')}\n" for n in names))
        store.sources.sync(config.sources)
        now = clock()
        dead, remote = f"{HOST}:{exited_pid()}+1", f"elsewhere-{HOST}:{os.getpid()}+1"
        store.sources.lease_states(dead, now, seconds=600, limit=10, slugs=["dead1", "dead2"])
        store.sources.lease_states(remote, now, seconds=600, limit=10, slugs=["remote"])
        async with crawler(store, config) as c:
            report = await c.crawl()
            assert sorted(o.slug for o in report.outcomes) == ["dead1", "dead2", "free"]
            assert store.sources.leased(clock()) == {"remote": (remote, now + timedelta(seconds=600))}
            # the next pass is due when the other machine's lease runs out, not before
            assert c.next_due() == now + timedelta(seconds=600)
            caplog.clear()
            assert (await c.crawl()).outcomes == []
    reclaimed = [r for r in caplog.records if r.getMessage() == "crawl.reclaimed"]
    assert reclaimed == [], "taken back once, by the first pass"
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], "an idle pass says nothing"
    assert [len(server.requests_to(f"/{n}.xml")) for n in names] == [1, 1, 0, 1]


async def test_reclaim_is_logged_with_the_owner_and_count(store: Store, clock: FrozenClock,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aggregator.crawl")
    config = config_for("  - name: A\n    slug: a\n    url: http://127.0.0.1:9/a.xml\n")
    store.sources.sync(config.sources)
    dead = f"{HOST}:{exited_pid()}"
    store.sources.lease_states(dead, clock(), seconds=600, limit=10)
    async with crawler(store, config) as c:
        await c.reclaim_dead_leases()
    [line] = [r for r in caplog.records if r.getMessage() == "crawl.reclaimed"]
    assert line.fields == {"owner": dead, "sources": 1}  # type: ignore[attr-defined]
    assert store.sources.leased(clock()) == {}
