"""``bluesky publish``: the feed generator records, the list and the starter pack, once."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..factory import make_aggregator
from ..settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("bluesky", help="the Bluesky feed generator, list and starter pack")
    group = p.add_subparsers(dest="bluesky_command", required=True, metavar="SUBCOMMAND")
    publish = group.add_parser("publish", help="write (or update) the feed, list and starter pack records")
    publish.add_argument("--json", action="store_true", help="one object per record: kind, uri, name, state, url")
    publish.set_defaults(func=cmd_publish)


async def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        outcomes = await agg.bluesky_publisher().publish()
    for outcome in outcomes:
        if args.json:
            print(json.dumps(outcome.as_json(), ensure_ascii=False))
        else:
            line = f"{outcome.kind} {outcome.name}: {outcome.state} {outcome.url or outcome.uri}"
            if outcome.kind == "list":
                extra = outcome.extra
                line += f" ({extra['members']} accounts, +{extra['added']} -{extra['removed']})"
                if extra["unresolved"]:
                    line += f"; not found: {', '.join(extra['unresolved'])}"
            print(line)
    return 0
