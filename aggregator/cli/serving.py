"""``run`` and ``serve``: the long-running web front end, alone or with everything else."""

from __future__ import annotations

import argparse
from typing import Any

from .. import service
from ..factory import make_aggregator
from ..settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="crawl on schedule, serve the web and relay, in one process")
    _address(p)
    p.set_defaults(func=cmd_run, long_running=lambda args: True)

    p = sub.add_parser("serve", help="the web front end only")
    _address(p)
    p.set_defaults(func=cmd_serve, long_running=lambda args: True)


def _address(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080; make run PORT=...)")


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Everything in one process: crawling on schedule, the index, the web, the relay."""
    async with make_aggregator(settings) as agg, service.stop_on_signals() as stop:
        await service.run_everything(agg, args.host, args.port, stop)
    return 0


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg, service.stop_on_signals() as stop:
        await service.serve(agg, args.host, args.port, stop)
    return 0
