"""The command line, and the only composition root.

It reads settings (flags, environment, ``sources.yaml``), builds the store, the HTTP
client, the index, the relay and the web application, and wires them; nothing else in
the package creates engines, sessions or clients on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, logs
from .config import load_config
from .errors import AggregatorError, ConfigError, SearchQueryError
from .model import Config, to_iso
from .sources import health_fields, opml_to_sources, sources_to_opml, sources_to_yaml
from .store import Store, default_url

log = logging.getLogger("aggregator")


@dataclass
class Runtime:
    """What every command needs, built once from flags and environment."""

    config_path: Path
    data_dir: Path
    database_url: str
    allow_private: bool
    environ: Mapping[str, str]

    def config(self) -> Config:
        return load_config(self.config_path)

    @contextlib.contextmanager
    def store(self, config: Config | None = None, *, upgrade: bool = True) -> Iterator[Store]:
        """The store, migrated, with ``sources.yaml`` mirrored into it."""
        store = Store(self.database_url)
        try:
            if upgrade:
                store.upgrade()
            if config is not None:
                store.sources.sync(config.sources)
            yield store
        finally:
            store.close()

    @contextlib.contextmanager
    def index(self, store: Store) -> Iterator[Any]:
        """The search index over ``store`` (tantivy in the data dir, or PostgreSQL's), closed after."""
        from .index import open_index

        index = open_index(store, self.data_dir)
        try:
            yield index
        finally:
            index.close()


def build_runtime(args: argparse.Namespace, environ: Mapping[str, str]) -> Runtime:
    config_path = Path(args.config or environ.get("AGGREGATOR_CONFIG") or "sources.yaml")
    data_dir = Path(args.data_dir or environ.get("AGGREGATOR_DATA_DIR") or "data")
    database_url = environ.get("AGGREGATOR_DATABASE_URL") or default_url(data_dir)
    return Runtime(
        config_path=config_path,
        data_dir=data_dir,
        database_url=database_url,
        allow_private=environ.get("AGGREGATOR_ALLOW_PRIVATE_NETWORKS", "") in ("1", "true", "yes"),
        environ=environ,
    )


# -- crawling -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def crawler_for(rt: Runtime, config: Config, store: Store, *, workers: int | None = None) -> AsyncIterator[Any]:
    """An HTTP client, a parse pool and a crawler, closed together."""
    from .fetch.http import HttpClient
    from .update.crawler import Crawler
    from .update.readers import FeedParser, SourceReader

    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    # "spawn", not fork: a forked worker would inherit open descriptors such as the search
    # index's lock file (held while a sync runs) and keep the index locked forever.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    host_blocks = store.hosts if store.dialect == "postgresql" else None
    try:
        async with HttpClient(
            user_agent=config.settings.user_agent,
            allow_private=rt.allow_private,
            host_blocks=host_blocks,
            per_host_delay=config.settings.per_host_delay,
        ) as http:
            reader = SourceReader(http, FeedParser(pool), config.settings)
            yield Crawler(store, config, reader, lease_seconds=_lease_seconds(rt))
    finally:
        if pool is not None:
            # Wait for the workers to exit in order (queued parses are cancelled; a parse
            # under way takes a second at most): workers left behind by an exiting parent
            # print tracebacks when their queue breaks.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


def _lease_seconds(rt: Runtime) -> float:
    """``AGGREGATOR_LEASE_SECONDS``: how long a crawler keeps the sources it leased."""
    raw = rt.environ.get("AGGREGATOR_LEASE_SECONDS", "600")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"expected a number of seconds above 0, got {raw!r}", file="environment",
                          field="AGGREGATOR_LEASE_SECONDS")
    return value


def _progress_bar(stream: Any) -> Any:
    def show(done: int, total: int, slug: str) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {slug[:30]:30}")
        stream.flush()
        if done >= total:
            stream.write("\n")

    return show


def cmd_crawl(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    unknown = [s for s in args.source or [] if s not in {c.slug for c in config.sources}]
    if unknown:
        print(f"{rt.config_path}: no source with slug {', '.join(unknown)}", file=sys.stderr)
        return 2
    with rt.store(config) as store:
        if args.once or args.all or args.source:
            progress = _progress_bar(sys.stderr) if sys.stderr.isatty() and not args.json else None

            async def once() -> Any:
                async with crawler_for(rt, config, store) as crawler:
                    return await crawler.crawl(slugs=args.source or None, every=args.all, progress=progress)

            report = asyncio.run(once())
            summary = report.as_json()
            if args.json:
                print(json.dumps(summary))
            else:
                for o in report.outcomes:
                    if o.status == "failed":
                        print(f"{o.slug}: failed: {o.error}")
                print(
                    f"{summary['sources']} sources: {summary['ok']} ok, {summary['not_modified']} not modified, "
                    f"{summary['failed']} failed; {summary['new_items']} new and {summary['updated_items']} updated items "
                    f"in {summary['seconds']} s"
                )
            return 0

        async def forever() -> None:
            async with crawler_for(rt, config, store) as crawler, _stop_on_signals() as stop:
                await crawler.run_forever(stop, on_pass=_index_sync_callable(rt, store))

        asyncio.run(forever())
    return 0


def _index_sync_callable(rt: Runtime, store: Store) -> Any:
    """After each pass, bring the search index up to date (it pulls from the change log)."""
    from .index import open_index

    index = open_index(store, rt.data_dir)

    def sync() -> None:
        try:
            index.sync()
        except AggregatorError as exc:
            log.warning("index.sync_failed", extra={"fields": {"error": str(exc)}})

    return sync


@contextlib.asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """SIGTERM and SIGINT set an event: work in flight finishes or releases its leases."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


# -- reading ------------------------------------------------------------------------------


def cmd_items(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    with rt.store(config) as store:
        entries = store.entries.list(source=args.source, limit=args.limit)
    for e in entries:
        if args.json:
            print(json.dumps({
                "id": e.id, "source": e.source, "guid": e.guid, "url": e.url, "title": e.title,
                "author": e.author, "published": to_iso(e.published), "updated": to_iso(e.updated),
                "language": e.language, "summary": e.summary,
            }, ensure_ascii=False))
        else:
            print(f"{to_iso(e.published)}  [{e.source}]  {e.title}\n    {e.url or ''}")
    return 0


def cmd_delete(rt: Runtime, args: argparse.Namespace) -> int:
    """The operator's delete: hidden from the river, search and relay; never crawled back."""
    config = rt.config()
    with rt.store(config) as store:
        count = store.entries.mark_deleted(args.ids, now=store.db.clock())
    print(f"deleted {count} item(s)")
    return 0 if count == len(set(args.ids)) else 1


def source_rows(store: Store, config: Config) -> list[dict[str, Any]]:
    """The ``sources --json`` objects (and the relay status when there is an outbox)."""
    states = {s.slug: s for s in store.sources.states()}
    relay = store.outbox.by_source() if hasattr(store.outbox, "by_source") else {}
    rows = []
    for source in config.sources:
        state = states.get(source.slug)
        row: dict[str, Any] = {
            "slug": source.slug,
            "name": source.name,
            "kind": source.kind,
            "url": (state.url if state and state.url else None) or source.url or source.account or source.handle,
            **health_fields(state),
        }
        if relay:
            row["relay"] = relay.get(source.slug, {})
        rows.append(row)
    return rows


def cmd_sources(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    with rt.store(config) as store:
        rows = source_rows(store, config)
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            line = f"{row['slug']:30} {row['kind']:9} {row['status']:13} {row['items']:6} items  last {row['last_fetch'] or '-'}"
            if row["last_error"]:
                line += f"\n    error ({row['error_count']}x): {row['last_error']}"
            print(line)
    return 0


def cmd_search(rt: Runtime, args: argparse.Namespace) -> int:
    from .index import SearchRequest

    config = rt.config()
    with rt.store(config) as store, rt.index(store) as index:
        try:
            index.sync()
            results = index.search(SearchRequest(args.query, source=args.source, limit=args.limit))
        except SearchQueryError as exc:
            print(f"search: {exc}", file=sys.stderr)
            return 2
    for hit in results.hits:
        if args.json:
            print(json.dumps({
                "id": hit.id, "source": hit.source, "url": hit.url, "title": hit.title,
                "published": to_iso(hit.published), "score": round(hit.score, 4), "snippet": hit.snippet,
            }, ensure_ascii=False))
        else:
            print(f"{hit.score:7.3f}  {to_iso(hit.published)}  [{hit.source}]  {hit.title}\n    {hit.url or ''}")
    if not args.json:
        print(f"{results.total} results", file=sys.stderr)
    return 0


def cmd_reindex(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    with rt.store(config) as store, rt.index(store) as index:
        count = index.reindex()
    print(f"reindexed {count} entries")
    return 0


# -- serving and relaying -----------------------------------------------------------------


async def _serve_app(app: Any, host: str, port: int) -> Any:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("web.listening", extra={"fields": {"url": f"http://{host}:{port}/"}})
    return runner


def _make_app(rt: Runtime, config: Config, store: Store) -> tuple[Any, Any]:
    from .index import open_index
    from .webapp import PAGE_CACHE_SECONDS, create_app

    index = open_index(store, rt.data_dir)
    return create_app(store=store, config=config, index=index, cache_seconds=PAGE_CACHE_SECONDS), index


def cmd_serve(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    with rt.store(config) as store:

        async def main() -> None:
            app, index = _make_app(rt, config, store)
            runner = await _serve_app(app, args.host, args.port)
            try:
                async with _stop_on_signals() as stop:
                    await stop.wait()
            finally:
                await runner.cleanup()
                index.close()

        asyncio.run(main())
    return 0


RELAY_LOCK = "relay"


async def _relay_as_leader(store: Store, relay: Any, stop: asyncio.Event) -> None:
    """Relay only while this process holds the relay lock; stand by otherwise.

    Several relay processes may run (docker-compose restarts, a standby): exactly one
    posts, and another takes over within seconds when it dies (docs/deploy.md).
    """
    from .store.locks import LeaderLock, run_while_leader

    await run_while_leader(LeaderLock(store.db, RELAY_LOCK), stop, relay.run_forever, poll=5.0)


async def _relay_once_if_leader(store: Store, relay: Any) -> list[dict[str, Any]] | None:
    """``relay --once``: one round unless another relay process is active (then None)."""
    from .store.locks import LeaderLock

    lock = LeaderLock(store.db, RELAY_LOCK)
    if not await asyncio.to_thread(lock.try_acquire):
        return None
    try:
        return list(await relay.run_once())
    finally:
        await asyncio.to_thread(lock.release)


def _relay(rt: Runtime, config: Config, store: Store) -> Any:
    from .relay import Relay, RelayCredentials

    credentials = RelayCredentials.from_env(rt.environ)
    return Relay(store, config.relay, credentials, allow_private=rt.allow_private, user_agent=config.settings.user_agent)


def cmd_relay(rt: Runtime, args: argparse.Namespace) -> int:
    from .relay import RelayCredentials

    config = rt.config()
    if not RelayCredentials.from_env(rt.environ).enabled_targets(config.relay):
        print(
            "relay: no target is both configured (relay: in sources.yaml) and credentialed "
            "(MASTODON_ACCESS_TOKEN, or BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)",
            file=sys.stderr,
        )
        return 2
    with rt.store(config) as store:

        async def main() -> list[dict[str, Any]]:
            relay = _relay(rt, config, store)
            try:
                if args.dry_run:
                    return list(await relay.run_once(dry_run=True))
                if args.once:
                    rows = await _relay_once_if_leader(store, relay)
                    if rows is None:
                        print("relay: another relay process holds the relay lock; nothing done", file=sys.stderr)
                        return []
                    return rows
                async with _stop_on_signals() as stop:
                    await _relay_as_leader(store, relay, stop)
                return []
            finally:
                await relay.close()

        rows = asyncio.run(main())
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
        else:
            state = "would post" if args.dry_run else row.get("state")
            print(f"[{row.get('target')}] {state}: {row.get('text') or row.get('url') or ''}")
            if row.get("error"):
                print(f"    error: {row['error']}")
    return 0


def cmd_run(rt: Runtime, args: argparse.Namespace) -> int:
    """Everything in one process: crawling on schedule, the index, the web, the relay."""
    from .relay import RelayCredentials

    config = rt.config()
    with rt.store(config) as store:

        async def main() -> None:
            app, index = _make_app(rt, config, store)
            runner = await _serve_app(app, args.host, args.port)
            relay = None
            if RelayCredentials.from_env(rt.environ).enabled_targets(config.relay):
                relay = _relay(rt, config, store)
            try:
                async with crawler_for(rt, config, store) as crawler, _stop_on_signals() as stop:
                    tasks = [asyncio.create_task(crawler.run_forever(stop), name="crawler"),
                             asyncio.create_task(_index_loop(index, stop), name="index")]
                    if relay is not None:
                        tasks.append(asyncio.create_task(_relay_as_leader(store, relay, stop), name="relay"))
                    else:
                        log.info("relay.off", extra={"fields": {"reason": "no configured and credentialed target"}})
                    await stop.wait()
                    await asyncio.wait(tasks, timeout=30)
                    for task in tasks:
                        task.cancel()
            finally:
                if relay is not None:
                    await relay.close()
                await runner.cleanup()
                index.close()

        asyncio.run(main())
    return 0


async def _index_loop(index: Any, stop: asyncio.Event, every: float = 5.0) -> None:
    """The index pulls the change log on its own schedule, never from the write path."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(index.sync)
        except AggregatorError as exc:
            log.warning("index.sync_failed", extra={"fields": {"error": str(exc)}})
        except Exception:
            log.exception("index.bug")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


# -- maintenance --------------------------------------------------------------------------


def cmd_db(rt: Runtime, args: argparse.Namespace) -> int:
    with rt.store(None, upgrade=False) as store:
        store.upgrade()
        print(f"database is up to date ({store.dialect})")
    return 0


def cmd_opml(rt: Runtime, args: argparse.Namespace) -> int:
    config = rt.config()
    if args.opml_command == "export":
        sys.stdout.write(sources_to_opml(config.sources))
        return 0
    try:
        imported = opml_to_sources(Path(args.file).read_bytes())
    except (OSError, ValueError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    known_urls = {s.url for s in config.sources}
    known_slugs = {s.slug for s in config.sources}
    new = [s for s in imported if s.url not in known_urls and s.slug not in known_slugs]
    if not new:
        print("nothing to import: every feed of the OPML file is already configured", file=sys.stderr)
        return 0
    block = sources_to_yaml(new)
    if not args.write:
        sys.stdout.write(block)
        print(f"{len(new)} new sources: add them under sources: in {rt.config_path} (or rerun with --write)", file=sys.stderr)
        return 0
    original = rt.config_path.read_text(encoding="utf-8")
    indented = "".join(("  " + line if line.strip() else line) for line in block.splitlines(keepends=True))
    updated = original.rstrip("\n") + "\n  # imported from " + Path(args.file).name + "\n" + indented
    from .config import parse_config

    try:
        parse_config(updated, str(rt.config_path))
    except ConfigError as exc:
        print(f"not written: appending would make the file invalid ({exc}); "
              "sources: must be the last section. Add these entries by hand:", file=sys.stderr)
        sys.stdout.write(block)
        return 2
    rt.config_path.write_text(updated, encoding="utf-8")
    print(f"added {len(new)} sources to {rt.config_path}", file=sys.stderr)
    return 0


# -- argument parsing ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="A federated aggregator for independent media.",
    )
    parser.add_argument("--config", help="sources.yaml to use (default ./sources.yaml, or $AGGREGATOR_CONFIG)")
    parser.add_argument("--data-dir", help="directory for the database and index (default ./data, or $AGGREGATOR_DATA_DIR)")
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="crawl on schedule, serve the web and relay, in one process")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("crawl", help="crawl sources (loops as a worker unless --once)")
    p.add_argument("--once", action="store_true", help="one pass over due sources, then exit")
    p.add_argument("--all", action="store_true", help="with --once: every source, due or not")
    p.add_argument("--source", action="append", metavar="SLUG", help="only this source (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=cmd_crawl)

    p = sub.add_parser("items", help="list stored items, newest first")
    p.add_argument("--source", metavar="SLUG")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_items)

    p = sub.add_parser("delete", help="delete items by id (they stay deleted when crawled again)")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("sources", help="configured sources and their health")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("search", help="full-text search (French stemming)")
    p.add_argument("query")
    p.add_argument("--source", metavar="SLUG")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("serve", help="the web front end only")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("relay", help="deliver the relay outbox to Mastodon and Bluesky")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--dry-run", action="store_true", help="print what would be posted; change nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_relay)

    p = sub.add_parser("reindex", help="rebuild the search index from the store")
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="upgrade")
    dbsub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db)

    p = sub.add_parser("opml", help="import or export sources as OPML")
    osub = p.add_subparsers(dest="opml_command", required=True, metavar="import|export")
    pi = osub.add_parser("import", help="print (or --write) sources.yaml entries for an OPML file's feeds")
    pi.add_argument("file")
    pi.add_argument("--write", action="store_true", help="append them to the configuration file")
    pi.set_defaults(func=cmd_opml)
    osub.add_parser("export", help="print the feed sources as OPML").set_defaults(func=cmd_opml)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    logs.setup(environ.get("AGGREGATOR_LOG_LEVEL", "INFO"), environ.get("AGGREGATOR_LOG_FORMAT"))
    rt = build_runtime(args, environ)
    try:
        return int(args.func(rt, args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except AggregatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
