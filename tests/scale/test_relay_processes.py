"""Two ``aggregator relay`` processes on one PostgreSQL: one posts, the other takes over when it dies.

The leader is killed with SIGKILL while a post it sent is committed on the server but
not recorded in the outbox (still ``sending``); the fake then forgets its Idempotency-Keys
(as an hour would), so only the standby's reconciliation can keep that row from being
posted twice. At the end every entry is on the fake exactly once.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from aggregator.store import Store

from .procs import Proc, aggregator_argv, child_env
from .relay_farm import PacedMastodon, fill_outbox, named, posted, write_config
from .test_crawl_processes import until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ENTRIES = 12
HANG_ON = 5  # four posts answered, the fifth committed on the server and never answered


def relay_process(url: str, config: Path, data_dir: Path) -> Proc:
    env = child_env(url, AGGREGATOR_LOG_FORMAT="json", MASTODON_ACCESS_TOKEN="test", AGGREGATOR_CONFIG=str(config))
    return Proc(aggregator_argv("--data-dir", str(data_dir), "relay"), env)


async def test_one_relay_posts_standby_takes_over_after_sigkill_no_duplicates(
    pg_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    fake = PacedMastodon(token="test", delay=0.4, hang_on=HANG_ON)
    await fake.start()
    store = Store(pg_url)
    try:
        store.upgrade()
        config = write_config(tmp_path / "sources.yaml", fake.base)
        urls = fill_outbox(store, ENTRIES)
        assert store.outbox.counts() == {("mastodon", "pending"): ENTRIES}

        relays = [relay_process(pg_url, config, tmp_path / name) for name in ("a", "b")]
        procs.extend(relays)
        await until(lambda: any(named(p.err, "lock.acquired") for p in relays), 60,
                    "one relay process to take the relay lock", relays)
        await until(fake.hanging.is_set, 30, f"the leader to send post {HANG_ON}", relays)
        await until(lambda: len(fake.own_posts()) == HANG_ON, 10, "the hanging post to be committed", relays)
        leader, standby = relays if named(relays[0].err, "lock.acquired") else relays[::-1]

        # Only the lock holder delivers; the other has neither the lock nor a post.
        first = posted(leader.err)
        assert len(first) == HANG_ON - 1, leader.tail()
        assert not named(standby.err, "lock.acquired") and not posted(standby.err), standby.tail()
        assert standby.alive(), standby.tail()
        assert store.outbox.counts() == {("mastodon", "posted"): HANG_ON - 1, ("mastodon", "sending"): 1,
                                         ("mastodon", "pending"): ENTRIES - HANG_ON}

        leader.kill()  # SIGKILL: no release, no outcome recorded for the hanging post
        fake.expire_keys()  # an Idempotency-Key would hide a repost; reading back must find it

        def all_posted() -> bool:
            return store.outbox.counts() == {("mastodon", "posted"): ENTRIES}

        # the standby polls the lock every 5 s, then reconciles the `sending` row first
        await until(all_posted, 60, "the standby to deliver the rest", [standby])
        await until(lambda: len(posted(standby.err)) == ENTRIES - len(first), 10,
                    "the standby's log to show its deliveries", [standby])
        assert fake.links() == Counter(urls), fake.links()
        assert len(fake.own_posts()) == ENTRIES

        second = posted(standby.err)
        assert named(standby.err, "lock.acquired"), standby.tail()
        assert not {p["entry"] for p in first} & {p["entry"] for p in second}
        reconciled = [p for p in second if p["reconciled"] == "True"]
        assert len(reconciled) == 1, second  # the hanging post: found on the server, not sent again
        remote_ids = {p["remote"] for p in first + second}
        assert remote_ids == {s["id"] for s in fake.own_posts()}

        standby.signal(signal.SIGTERM)
        await until(lambda: not standby.alive(), 30, "the standby to exit on SIGTERM", [standby])
        assert standby.popen.returncode == 0, standby.tail()
        assert named(standby.err, "lock.released"), standby.tail()
        assert not [line for p in relays for line in p.err if "Traceback" in line]
    finally:
        store.close()
        await fake.stop()
