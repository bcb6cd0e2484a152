"""``crawl``: one pass (``--once``) with a summary, or a crawler worker that loops."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .. import service
from ..factory import make_aggregator
from ..settings import Settings
from ..update.crawler import CrawlReport, Progress


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("crawl", help="crawl sources (loops as a worker unless --once)")
    p.add_argument("--once", action="store_true", help="one pass over due sources, then exit")
    p.add_argument("--all", action="store_true", help="with --once: every source, due or not")
    p.add_argument("--source", action="append", metavar="SLUG", help="only this source (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=cmd_crawl)


async def cmd_crawl(settings: Settings, args: argparse.Namespace) -> int:
    known = {c.slug for c in settings.config.sources}
    unknown = [s for s in args.source or [] if s not in known]
    if unknown:
        print(f"{settings.config_path}: no source with slug {', '.join(unknown)}", file=sys.stderr)
        return 2
    async with make_aggregator(settings) as agg:
        if not (args.once or args.all or args.source):
            async with service.stop_on_signals() as stop:
                await service.crawl_forever(agg, stop)
            return 0
        progress = progress_bar(sys.stderr) if sys.stderr.isatty() and not args.json else None
        await service.sync_follows(agg)
        crawler = await agg.crawler()
        report = await crawler.crawl(slugs=args.source or None, every=args.all, progress=progress)
    print_report(report, as_json=args.json)
    return 0


def print_report(report: CrawlReport, *, as_json: bool) -> None:
    summary = report.as_json()
    if as_json:
        print(json.dumps(summary))
        return
    for o in report.outcomes:
        if o.status == "failed":
            print(f"{o.slug}: failed: {o.error}")
    print(
        f"{summary['sources']} sources: {summary['ok']} ok, {summary['not_modified']} not modified, "
        f"{summary['failed']} failed; {summary['new_items']} new and {summary['updated_items']} updated items "
        f"in {summary['seconds']} s"
    )


def progress_bar(stream: TextIO) -> Progress:
    def show(done: int, total: int, slug: str) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {slug[:30]:30}")
        stream.flush()
        if done >= total:
            stream.write("\n")

    return show
