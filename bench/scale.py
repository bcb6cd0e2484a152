"""Scale-out benchmark: 1, 2 and 4 ``aggregator crawl`` processes sharing one PostgreSQL.

Starts a throwaway PostgreSQL cluster (the server binaries under
/usr/lib/postgresql/*/bin, run as the ``postgres`` user when we are root) and a feed server
process with N generated French feeds (bench/crawl.py's, 20-50 items each) on several
127.0.0.x addresses. Then, for 1, 2 and 4 crawler processes, each on a fresh database:

- first pass: every feed answers 200 and is parsed and stored (parse-bound);
- second pass: every feed answers 304 to the stored validators (fetch- and store-bound).

Each process runs the real ``aggregator crawl --once --json`` (due sources only, leased
through the database, so the processes split the work); between the passes every source
is made due again. A pass's time is the longest of its processes' own pass times (their
JSON ``seconds``, interpreter start-up excluded as in bench/crawl.py). Politeness spacing
is 0 (``per_host_delay``): the point is the crawler's own cost.

Prints ONE JSON line: feeds/s per pass and process count, and the ratios against one
process. Not a test: figures depend on the machine (2 shared cores here).

    python bench/scale.py [--feeds 4000] [--hosts 20] [--procs 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.crawl import serve, urls  # noqa: E402
from tests.conftest import PostgresCluster  # noqa: E402


def crawl_pass(config: Path, data_dir: Path, database_url: str, procs: int) -> tuple[list[dict[str, float]], float]:
    """``procs`` crawler processes at once; returns their JSON summaries and the wall time."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AGGREGATOR_DATABASE_URL": database_url,
        "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1",
        "AGGREGATOR_LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data_dir),
            "crawl", "--once", "--json"]
    started = time.perf_counter()
    children = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(procs)]
    summaries = []
    for child in children:
        out, err = child.communicate(timeout=3600)
        if child.returncode != 0:
            lines = [line for line in err.splitlines() if "Error" in line or "error" in line]
            raise SystemExit(f"a crawler failed ({child.returncode}):\n" + "\n".join(x[:500] for x in lines[-12:]))
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    return summaries, time.perf_counter() - started


def make_all_due(database_url: str) -> None:
    """The second pass must find every source due: move next_fetch back to the last fetch."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE sources SET next_fetch = last_fetch"))
    engine.dispose()


def sync_sources(config: Path, database_url: str) -> None:
    """Migrate and mirror sources.yaml once, so the crawlers do not race to insert them."""
    from aggregator.config import load_config
    from aggregator.store import Store

    store = Store(database_url)
    try:
        store.upgrade()
        store.sources.sync(load_config(config).sources)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=4000, help="how many feeds (N)")
    parser.add_argument("--hosts", type=int, default=20, help="127.0.0.x addresses serving them")
    parser.add_argument("--procs", default="1,2,4", help="crawler process counts to measure")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    counts = [int(p) for p in args.procs.split(",")]

    hosts = [f"127.0.0.{i}" for i in range(2, 2 + args.hosts)]
    port = 19000 + os.getpid() % 1000
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.feeds, hosts, port, args.seed, ready), daemon=True)
    server.start()
    cluster = PostgresCluster()
    result: dict[str, object] = {"bench": "scale", "feeds": args.feeds, "hosts": args.hosts,
                                 "per_host_delay": 0, "cpus": os.cpu_count()}
    try:
        cluster.start()
        if not ready.wait(300):
            raise SystemExit("the feed server did not start")
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            tmpdir = Path(tmp)
            config = tmpdir / "sources.yaml"
            lines = ["settings:\n  per_host_delay: 0\n  min_interval: 5m\nsources:\n"]
            lines += [f"  - name: Site {n}\n    slug: site-{n}\n    url: {u}\n"
                      for n, u in enumerate(urls(args.feeds, hosts, port))]
            config.write_text("".join(lines), encoding="utf-8")
            first: dict[str, float] = {}
            second: dict[str, float] = {}
            for procs in counts:
                url = cluster.create_database(f"scale_{procs}")
                sync_sources(config, url)
                one, _ = crawl_pass(config, tmpdir / f"data{procs}", url, procs)
                assert sum(s["ok"] for s in one) == args.feeds and sum(s["failed"] for s in one) == 0, one
                make_all_due(url)
                two, _ = crawl_pass(config, tmpdir / f"data{procs}", url, procs)
                assert sum(s["not_modified"] for s in two) == args.feeds, two
                first[str(procs)] = round(args.feeds / max(s["seconds"] for s in one), 1)
                second[str(procs)] = round(args.feeds / max(s["seconds"] for s in two), 1)
                result["items"] = sum(s["new_items"] for s in one)
            base = str(counts[0])
            result.update({
                "first_feeds_s": first,
                "second_feeds_s": second,
                "first_ratio": {k: round(v / first[base], 2) for k, v in first.items()},
                "second_ratio": {k: round(v / second[base], 2) for k, v in second.items()},
            })
    except BaseException:
        # the server's side of a failure (deadlocks name both queries there)
        log = cluster.dir / "log"
        if log.exists():
            errors = [line for line in log.read_text(errors="replace").splitlines()
                      if any(w in line for w in ("ERROR", "DETAIL", "Process", "STATEMENT", "CONTEXT"))]
            print("\n".join(errors[-30:]), file=sys.stderr)
        raise
    finally:
        server.terminate()
        cluster.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
