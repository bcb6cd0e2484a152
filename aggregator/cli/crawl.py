"""``crawl``: one pass (``--once``) with a summary, or a crawler worker that loops."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import service
from ..factory import make_aggregator
from ..settings import Settings
from ..update.crawler import CrawlReport, SourceOutcome
from .checks import check_slugs
from .progress import ProgressBar, events_said_by_the_command


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("crawl", help="crawl sources (loops as a worker unless --once)")
    p.add_argument("--once", action="store_true", help="one pass over due sources, then exit")
    p.add_argument("--all", action="store_true", help="with --once: every source, due or not")
    p.add_argument("--source", action="append", metavar="SLUG", help="only this source (repeatable)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=cmd_crawl, long_running=lambda args: not (args.once or args.all or args.source))


async def cmd_crawl(settings: Settings, args: argparse.Namespace) -> int:
    check_slugs(settings, args.source or [])
    async with make_aggregator(settings) as agg:
        if not (args.once or args.all or args.source):
            async with service.stop_on_signals() as stop:
                await service.crawl_forever(agg, stop)
            return 0
        await service.sync_follows(agg)
        crawler = await agg.crawler()
        if args.json:  # the summary counts failures; the log (stderr) names them
            report = await crawler.crawl(slugs=args.source or None, every=args.all)
        elif sys.stderr.isatty():
            # each failure is said once, above the bar, as it happens; its log record is not
            bar = ProgressBar(sys.stderr)

            def progress(done: int, total: int, outcome: SourceOutcome) -> None:
                if outcome.status == "failed":
                    bar.say(failure_line(outcome))
                bar.update(done, total, outcome.slug)

            with events_said_by_the_command("crawl.failed"), bar.above_logs():
                report = await crawler.crawl(slugs=args.source or None, every=args.all, progress=progress)
        else:
            with events_said_by_the_command("crawl.failed"):
                report = await crawler.crawl(slugs=args.source or None, every=args.all)
    print_report(report, as_json=args.json, failures_said=sys.stderr.isatty())
    return 0


def failure_line(outcome: SourceOutcome) -> str:
    """``slug: failed: why (next try in 5 min)``, the one sentence said about a failure."""
    when = "the source is disabled" if outcome.retry_in is None else f"next try in {human_seconds(outcome.retry_in)}"
    return f"{outcome.slug}: failed: {outcome.error} ({when})"


def human_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


def print_report(report: CrawlReport, *, as_json: bool, failures_said: bool = False) -> None:
    """The summary on stdout; failures listed unless they were already said above the bar."""
    summary = report.as_json()
    if as_json:
        print(json.dumps(summary))
        return
    if not failures_said:
        for o in report.outcomes:
            if o.status == "failed":
                print(failure_line(o))
    print(
        f"{summary['sources']} sources: {summary['ok']} ok, {summary['not_modified']} not modified, "
        f"{summary['failed']} failed; {summary['new_items']} new and {summary['updated_items']} updated items "
        f"in {summary['seconds']} s"
    )
