"""``backup``, ``restore`` and ``doctor``: keeping an installation safe and healthy."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import OperationError
from ..factory import make_aggregator
from ..model import utcnow
from ..ops.backup import postgres_advice, rebuild_index, restore_files, take_backup
from ..ops.doctor import blocking, examine
from ..settings import Settings
from ..store import normalize_url, usage


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("backup", help="copy the database (consistently, even while run runs) and sources.yaml into DEST")
    p.add_argument("dest", metavar="DEST", help="a new (or empty) directory")
    p.set_defaults(func=cmd_backup, reads_config=False)

    p = sub.add_parser("restore", help="put a backup back in place (database and sources.yaml), rebuild the search index")
    p.add_argument("src", metavar="SRC", help="a directory made by `aggregator backup`")
    p.add_argument("--force", action="store_true",
                   help="restore even though an aggregator process is using the database")
    p.set_defaults(func=cmd_restore, reads_config=False)

    p = sub.add_parser("doctor", help="check configuration, database, index, disk, sources and relay accounts")
    p.add_argument("--json", action="store_true", help="one JSON object per finding")
    p.set_defaults(func=cmd_doctor, reads_config=False)


def add_db_parsers(dbsub: Any) -> None:
    """``db copy``, in the ``db`` group of ``maintenance``."""
    p = dbsub.add_parser("copy", help="copy the whole database into another, empty one (e.g. SQLite to PostgreSQL)")
    p.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql://user:pass@host/db")
    p.set_defaults(func=cmd_db_copy, reads_config=False)


async def cmd_db_copy(settings: Settings, args: argparse.Namespace) -> int:
    """Move an installation to another database (docs/single-vps.md, "From SQLite to PostgreSQL")."""
    target = replace(settings, database_url=args.to)
    if normalize_url(target.database_url) == normalize_url(settings.database_url):
        raise OperationError("--to names the database being copied")
    source_file = usage.sqlite_file(settings.database_url)
    if source_file is not None and not source_file.exists():
        raise OperationError(f"nothing to copy: there is no database at {source_file}")
    if source_file is not None and usage.in_use(source_file):
        raise OperationError(f"an aggregator process is using {source_file}: stop it first (e.g. `systemctl stop "
                             "aggregator`), or items it stores during the copy would be left behind")
    async with make_aggregator(settings, mirror_config=False) as source, \
            make_aggregator(target, mirror_config=False) as dest:
        counts = await asyncio.to_thread(source.store.copy_into, dest.store)
        indexed = await asyncio.to_thread(dest.index().reindex)
    shown = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    print(f"copied {shown or 'nothing (the database is empty)'}")
    print(f"search index rebuilt on the target: {indexed} items")
    print("now point the aggregator at it: AGGREGATOR_DATABASE_URL=<the --to URL>, then start it again",
          file=sys.stderr)
    return 0


async def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    database = usage.sqlite_file(settings.database_url)
    if database is not None and not database.exists():
        raise OperationError(f"nothing to back up: there is no database at {database}")
    async with make_aggregator(settings, migrate=False, mirror_config=False) as agg:
        if database is None:
            print(f"backup: {postgres_advice(agg.store, restoring=False)}", file=sys.stderr)
            return 2
        done = await asyncio.to_thread(take_backup, agg.store, settings, Path(args.dest), now=agg.clock())
    db = done.manifest["database"]
    config = done.manifest["config"]
    print(f"backed up {db['entries']} items and {db['sources']} sources (schema {db['revision']}) to {done.path}")
    if config:
        print(f"with the configuration {config['from']}")
    else:
        print(f"without a configuration file: {settings.config_path} does not exist", file=sys.stderr)
    print("not included: the search index (restore rebuilds it) and the secrets in your environment", file=sys.stderr)
    return 0


async def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    if usage.sqlite_file(settings.database_url) is None:
        async with make_aggregator(settings, migrate=False, mirror_config=False) as agg:
            print(f"restore: {postgres_advice(agg.store, restoring=True)}", file=sys.stderr)
        return 2
    done = await asyncio.to_thread(restore_files, settings, Path(args.src), force=args.force, now=utcnow())
    print(f"restored {done.info.entries} items and {done.info.sources} sources from {args.src} "
          f"(taken {done.taken or 'at an unknown time'})")
    if done.kept_database:
        print(f"the database it replaced is kept as {done.kept_database}")
    if done.config_written:
        print(f"the configuration was written to {settings.config_path}"
              + (f"; the one it replaced is kept as {done.kept_config}" if done.kept_config else ""))
    indexed = await rebuild_index(settings)
    if indexed is None:
        print("the search index is busy (a running process): run `aggregator reindex` once it is stopped",
              file=sys.stderr)
    else:
        print(f"search index rebuilt: {indexed} items")
    return 0


async def cmd_doctor(settings: Settings, args: argparse.Namespace) -> int:
    findings = await examine(settings)
    for finding in findings:
        if args.json:
            print(json.dumps(finding.as_json(), ensure_ascii=False))
        else:
            print(finding.line())
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = sum(1 for f in findings if f.severity == "warning")
    if not args.json:
        verdict = (f"{errors} problems stop the aggregator from working: fix the FAIL lines first" if errors
                   else "nothing blocks the aggregator")
        print(f"doctor: {verdict}; {warnings} warnings", file=sys.stderr)
    return 1 if blocking(findings) else 0
