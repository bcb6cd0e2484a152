"""Search benchmark: our index (tantivy, PostgreSQL) against lemon24/reader's FTS5 search.

Generates French news entries, stores them the way the crawler does, builds each index,
then times single-word, two-word and phrase queries (top 20, snippets included) through
the public ``search`` function. Prints ONE JSON line. Not a test: run it by hand, e.g.

    .venv/bin/python bench/search.py --sizes 20000
    .venv/bin/python bench/search.py --sizes 2000 --queries 50 --no-postgres

reader is the optional ``bench`` extra (``pip install -e '.[bench]'``); without it, or
without PostgreSQL server binaries, those columns are reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aggregator.index import SearchRequest, open_index  # noqa: E402
from aggregator.model import EntryData, SourceConfig  # noqa: E402
from aggregator.store import Store  # noqa: E402
from aggregator.update.ingest import RelayPolicy, ingest  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SOURCES = 20

NOUNS = ["grève", "grèves", "manifestation", "manifestations", "police", "policières", "État", "élections", "réforme", "retraites", "logement", "loyers", "expulsion", "squat", "préfecture", "mairie", "tribunal", "procès", "syndicat", "cheminots", "enseignantes", "étudiants", "université", "lycée", "hôpital", "soignants", "salaires", "inflation", "précarité", "écologie", "climat", "sécheresse", "bassines", "agriculteurs", "paysannes", "forêt", "autoroute", "chantier", "migrants", "frontière", "rétention", "sans-papiers", "solidarité", "collectif", "assemblée", "quartier", "féminisme", "violences", "répression", "surveillance", "presse", "liberté", "justice", "prison", "détenus", "municipalité", "budget", "austérité", "chômage", "travailleurs", "usine", "licenciements", "patronat", "occupation", "blocage", "rassemblement", "cortège", "banderole", "pétition", "campagne", "mobilisation"]
VERBS = ["dénoncent", "appellent", "bloquent", "occupent", "manifestent", "réclament", "refusent", "soutiennent", "organisent", "condamne", "annonce", "expulse", "réprime", "interdit", "autorise", "reporte", "lance"]
GLUE = ["le", "la", "les", "des", "du", "de", "à", "au", "aux", "dans", "pour", "contre", "avec", "sans", "sur", "après", "avant", "et", "ou", "mais"]
PLACES = ["Lyon", "Paris", "Marseille", "Grenoble", "Nantes", "Rennes", "Toulouse", "Lille", "Bordeaux", "Montreuil", "Besançon", "Rouen"]
PHRASES = [
    "grève de la faim", "violences policières", "réforme des retraites", "sans-papiers en lutte",
    "assemblée générale", "état d'urgence", "crise du logement", "piquet de grève",
]


def sentence(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        roll = rng.random()
        if roll < 0.35:
            out.append(rng.choice(NOUNS))
        elif roll < 0.5:
            out.append(rng.choice(VERBS))
        elif roll < 0.55:
            out.append(rng.choice(PLACES))
        else:
            out.append(rng.choice(GLUE))
    if rng.random() < 0.3:
        out.insert(rng.randrange(len(out)), rng.choice(PHRASES))
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def generate(n: int, seed: int = 7) -> list[tuple[str, EntryData, datetime]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        title = sentence(rng, rng.randint(5, 10))[:-1]
        text = " ".join(sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(3, 6)))
        published = NOW - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
        source = f"media-{i % SOURCES}"
        out.append((source, EntryData(
            guid=f"g{i}", url=f"https://{source}.example/{i}", title=title, text=text,
            summary=f"<p>{text}</p>", language="fr", published=published, content_hash=f"h{i}",
        ), published))
    return out


def load_store(store: Store, docs: Sequence[tuple[str, EntryData, datetime]]) -> None:
    store.upgrade()
    store.sources.sync([
        SourceConfig(slug=f"media-{i}", name=f"Média {i}", kind="feed", url=f"https://media-{i}.example/feed",
                     relay=False)
        for i in range(SOURCES)
    ])
    configs = {f"media-{i}": SourceConfig(slug=f"media-{i}", name=f"Média {i}", kind="feed",
                                          url=f"https://media-{i}.example/feed", relay=False) for i in range(SOURCES)}
    by_source: dict[str, list[EntryData]] = {}
    for source, entry, _published in docs:
        by_source.setdefault(source, []).append(entry)
    for source, entries in by_source.items():
        for start in range(0, len(entries), 1000):
            ingest(store, configs[source], entries[start : start + 1000], now=NOW, policy=RelayPolicy())


def queries(rng: random.Random, count: int) -> dict[str, list[str]]:
    accentless = {"grève": "greve", "élections": "elections", "État": "etat", "réforme": "reforme"}
    singles = [rng.choice(NOUNS) for _ in range(count)]
    singles = [accentless.get(w, w) if rng.random() < 0.2 else w for w in singles]
    return {
        "word": singles,
        "two_words": [f"{rng.choice(NOUNS)} {rng.choice(NOUNS + PLACES)}" for _ in range(count)],
        "phrase": [f'"{rng.choice(PHRASES)}"' for _ in range(count)],
    }


def latencies(run: Callable[[str], Any], qs: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind, items in qs.items():
        for q in items[:5]:  # warm caches
            run(q)
        times = []
        for q in items:
            t = time.perf_counter()
            run(q)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out[kind] = {
            "p50_ms": round(statistics.median(times), 3),
            "p95_ms": round(times[min(len(times) - 1, int(len(times) * 0.95))], 3),
        }
    return out


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_ours(url: str, work: Path, docs: Sequence[Any], qs: dict[str, list[str]]) -> dict[str, Any]:
    store = Store(url, clock=lambda: NOW)
    try:
        t = time.perf_counter()
        load_store(store, docs)
        load_s = time.perf_counter() - t
        index = open_index(store, work / "data", clock=lambda: NOW)
        t = time.perf_counter()
        count = index.reindex()
        index_s = time.perf_counter() - t
        size = index.size_bytes()
        lat = latencies(lambda q: index.search(SearchRequest(q, limit=20)), qs)
        sample = index.search(SearchRequest(qs["word"][0], limit=20))
        index.close()
        print(f"{url.split(':')[0]}: load {load_s:.1f}s, index {index_s:.1f}s", file=sys.stderr)
        return {
            "entries": count,
            "store_load_s": round(load_s, 1),
            "index_docs_per_s": round(count / index_s),
            "index_bytes": size,
            "sample_total": sample.total,
            **lat,
        }
    finally:
        store.close()


def bench_reader(work: Path, docs: Sequence[Any], qs: dict[str, list[str]]) -> dict[str, Any]:
    try:
        from reader import make_reader
    except ImportError:
        return {"skipped": "reader is not installed (pip install -e '.[bench]')"}
    path = work / "reader.sqlite"
    reader = make_reader(str(path))
    try:
        for i in range(SOURCES):
            reader.add_feed(f"https://media-{i}.example/feed")
        for source, entry, published in docs:
            reader.add_entry({
                "feed_url": f"https://{source}.example/feed", "id": entry.guid, "title": entry.title,
                "summary": entry.text, "link": entry.url, "published": published, "updated": published,
            })
        reader.enable_search()
        before = du(work)
        t = time.perf_counter()
        reader.update_search()
        index_s = time.perf_counter() - t
        # FTS5 syntax: a hyphenated word must be quoted ("sans-papiers"), or it is an error.
        fts = {k: [" ".join(w if w.isalnum() or w.startswith('"') else f'"{w}"' for w in q.split(" "))
                   if k != "phrase" else q for q in v] for k, v in qs.items()}
        lat = latencies(lambda q: list(reader.search_entries(q, limit=20)), fts)
        return {
            "version": __import__("reader").__version__,
            "index_docs_per_s": round(len(docs) / index_s),
            "index_bytes": du(work) - before,
            **lat,
        }
    finally:
        reader.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="comma-separated entry counts")
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-tantivy", action="store_true", help="only PostgreSQL (and reader)")
    parser.add_argument("--no-reader", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    qs = queries(random.Random(11), args.queries)
    cluster = None
    if not args.no_postgres:
        try:
            from tests.conftest import PostgresCluster

            cluster = PostgresCluster()
            cluster.start()
        except Exception as exc:  # no server binaries: report, do not fail
            cluster = None
            pg_skip = f"no PostgreSQL: {exc}"
    result: dict[str, Any] = {"bench": "search", "cores": _cores(), "runs": []}
    try:
        for n in sizes:
            docs = generate(n)
            run: dict[str, Any] = {"n": n}
            if not args.no_tantivy:
                with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
                    work = Path(tmp)
                    run["tantivy"] = bench_ours(f"sqlite:///{work / 'db.sqlite3'}", work, docs, qs)
                    shutil.rmtree(work / "data", ignore_errors=True)
            if cluster is not None:
                with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
                    run["postgresql"] = bench_ours(cluster.create_database(), Path(tmp), docs, qs)
            elif not args.no_postgres:
                run["postgresql"] = {"skipped": pg_skip}
            if not args.no_reader:
                with tempfile.TemporaryDirectory(prefix="bench-reader-") as tmp:
                    run["reader_fts5"] = bench_reader(Path(tmp), docs, qs)
            result["runs"].append(run)
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


if __name__ == "__main__":
    sys.exit(main())
