"""``relay``: deliver the outbox once, keep delivering, or show what would be posted."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import service
from ..factory import make_aggregator
from ..relay.leader import relay_once_if_leader
from ..settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("relay", help="deliver the relay outbox to Mastodon and Bluesky")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--dry-run", action="store_true", help="print what would be posted; change nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_relay, long_running=lambda args: not (args.once or args.dry_run))


async def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        if not agg.relay_targets_enabled():
            print(
                "relay: no target is both configured (relay: in sources.yaml) and credentialed "
                "(MASTODON_ACCESS_TOKEN, or BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)",
                file=sys.stderr,
            )
            return 2
        relay = await agg.relay()
        if args.dry_run:
            rows = await relay.run_once(dry_run=True)
        elif args.once:
            found = await relay_once_if_leader(agg.relay_lock(), relay)
            if found is None:
                print("relay: another relay process holds the relay lock; nothing done", file=sys.stderr)
            rows = found or []
        else:
            async with service.stop_on_signals() as stop:
                await service.relay_forever(agg, stop)
            rows = []
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
        else:
            state = "would post" if args.dry_run else row.get("state")
            print(f"[{row.get('target')}] {state}: {row.get('text') or row.get('url') or ''}")
            if row.get("error"):
                print(f"    error: {row['error']}")
    return 0
