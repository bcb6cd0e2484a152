"""``db upgrade`` and ``opml import|export``: the operator's maintenance commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..config_file import append_sources
from ..errors import ConfigError
from ..factory import make_aggregator
from ..settings import Settings
from ..sources import opml_to_sources, sources_to_opml, sources_to_yaml
from . import operations


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="upgrade|copy")
    dbsub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade, reads_config=False)
    operations.add_db_parsers(dbsub)

    p = sub.add_parser("opml", help="import or export sources as OPML")
    osub = p.add_subparsers(dest="opml_command", required=True, metavar="import|export")
    pi = osub.add_parser("import", help="print (or --write) sources.yaml entries for an OPML file's feeds")
    pi.add_argument("file")
    pi.add_argument("--write", action="store_true", help="append them to the configuration file")
    pi.set_defaults(func=cmd_opml_import)
    osub.add_parser("export", help="print the feed sources as OPML").set_defaults(func=cmd_opml_export)


async def cmd_db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings, migrate=False, mirror_config=False) as agg:
        agg.store.upgrade()
        print(f"database is up to date ({agg.store.dialect})")
    return 0


async def cmd_opml_export(settings: Settings, args: argparse.Namespace) -> int:
    sys.stdout.write(sources_to_opml(settings.config.sources))
    return 0


async def cmd_opml_import(settings: Settings, args: argparse.Namespace) -> int:
    config = settings.config
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
    if not args.write:
        sys.stdout.write(sources_to_yaml(new))
        print(f"{len(new)} new sources: add them under sources: in {settings.config_path} (or rerun with --write)",
              file=sys.stderr)
        return 0
    try:
        append_sources(settings.config_path, new, comment=f"imported from {Path(args.file).name}")
    except ConfigError as exc:
        print(f"not written: appending would make the file invalid ({exc}); "
              "sources: must be the last section. Add these entries by hand:", file=sys.stderr)
        sys.stdout.write(sources_to_yaml(new))
        return 2
    print(f"added {len(new)} sources to {settings.config_path}", file=sys.stderr)
    return 0
