"""SIGTERM makes a crawler worker stop cleanly: in-flight work finished, no lease left."""

from __future__ import annotations

import signal
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from sqlalchemy import text

from aggregator.config import load_config
from aggregator.store import Store

from .farm import start_farm
from .procs import Proc, aggregator_argv, child_env
from .test_crawl_processes import scalar, until

pytestmark = pytest.mark.postgres


async def test_sigterm_mid_pass_exits_zero_and_leaves_no_lease(pg_url: str, tmp_path: Path, procs: list[Proc]) -> None:
    async with AsyncExitStack() as stack:
        farm = await start_farm(stack, 24, 2)  # 12 per host, 1 s apart: a pass of about 12 s
        config = farm.write_config(tmp_path / "sources.yaml")
        store = Store(pg_url)
        store.upgrade()
        store.sources.sync(load_config(config).sources)
        worker = Proc(aggregator_argv("--config", str(config), "--data-dir", str(tmp_path), "crawl"),
                      child_env(pg_url, AGGREGATOR_LOG_FORMAT="json"))
        procs.append(worker)
        try:
            fetched = "SELECT count(*) FROM sources WHERE last_fetch IS NOT NULL"
            await until(lambda: scalar(store, fetched) >= 2, 60, "the pass to start", [worker])
            assert scalar(store, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") > 0
            worker.signal(signal.SIGTERM)
            await until(lambda: not worker.alive(), 60, "the worker to exit after SIGTERM", [worker])
            assert worker.popen.returncode == 0, worker.tail()
            assert scalar(store, "SELECT count(*) FROM sources WHERE lease_owner IS NOT NULL") == 0
            # what was fetched was also stored: no source left half-done
            with store.db.engine.connect() as conn:
                half_done = conn.execute(text(
                    "SELECT slug FROM sources s WHERE last_fetch IS NOT NULL AND status = 'ok' "
                    "AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.source_id = s.id)")).all()
            assert not half_done
        finally:
            store.close()
    # every source asked for before the stop was also recorded: finished, not dropped
    assert len(farm.requests_per_source()) == scalar_after(pg_url)
    assert all(r.end is not None for s in farm.servers for r in s.requests)
    assert not [line for line in worker.err if "Traceback" in line], worker.tail()


def scalar_after(url: str) -> int:
    store = Store(url)
    try:
        return scalar(store, "SELECT count(*) FROM sources WHERE last_fetch IS NOT NULL")
    finally:
        store.close()
