"""Where PostgreSQL search time goes (bench/search.py's corpus): the page queries, the exact
count of matches, and what a count capped at 10,001 would cost instead. One JSON line.

    .venv/bin/python bench/search_probe.py [ENTRIES]   # default 200000
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import search as sb  # noqa: E402
from sqlalchemy import event  # noqa: E402

from aggregator.index import SearchRequest, open_index  # noqa: E402
from aggregator.index.postgres import COUNT_CAP  # noqa: E402
from aggregator.store import Store  # noqa: E402
from tests.conftest import PostgresCluster  # noqa: E402

CAP = COUNT_CAP  # what the engine itself counts up to


def p95(values: list[float]) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * 0.95))], 1)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    cluster = PostgresCluster()
    cluster.start()
    try:
        store = Store(cluster.create_database(), clock=lambda: sb.NOW)
        sb.load_store(store, sb.generate(n))
        index = open_index(store, Path(tempfile.mkdtemp(prefix="bench-probe-")) / "data", clock=lambda: sb.NOW)
        index.reindex()
        spent = {"count": 0.0, "other": 0.0}
        started: list[float] = []
        counts: list[tuple[str, Any]] = []

        @event.listens_for(store.db.engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
            started.append(time.perf_counter())

        @event.listens_for(store.db.engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
            is_count = statement.lstrip().startswith("SELECT count(*)")
            spent["count" if is_count else "other"] += time.perf_counter() - started.pop()
            if is_count:
                counts.append((statement, params))

        out: dict[str, dict[str, float]] = {}
        for kind, items in sb.queries(random.Random(3), 60).items():
            total, count, pages, capped = [], [], [], []
            for q in items:
                spent["count"] = spent["other"] = 0.0
                counts.clear()
                t = time.perf_counter()
                index.search(SearchRequest(q, limit=20))
                total.append((time.perf_counter() - t) * 1000)
                count.append(spent["count"] * 1000)
                pages.append(spent["other"] * 1000)
                for statement, params in counts[:1]:
                    body = statement.lstrip()[len("SELECT count(*) AS count_1"):]
                    sql = f"SELECT count(*) FROM (SELECT 1 {body} LIMIT {CAP + 1}) AS c"
                    with store.db.engine.connect() as conn:
                        t = time.perf_counter()
                        conn.exec_driver_sql(sql, params).scalar()
                        capped.append((time.perf_counter() - t) * 1000)
            out[kind] = {
                "p95_total_ms": p95(total), "p95_count_ms": p95(count), "p95_pages_ms": p95(pages),
                "p95_capped_count_ms": p95(capped) if capped else 0.0,
                "p50_total_ms": round(statistics.median(total), 1), "p50_count_ms": round(statistics.median(count), 1),
            }
        print(json.dumps({"bench": "search-probe", "n": n, **out}))
        index.close()
        store.close()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
