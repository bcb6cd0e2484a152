"""``relay``: deliver the outbox once, keep delivering, show what would be posted, housekeeping."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from .. import service
from ..config import parse_duration
from ..factory import Aggregator, make_aggregator
from ..ops.unrelayed import explain_idle, queue_recent
from ..relay.leader import relay_once_if_leader
from ..relay.preview import Preview
from ..settings import Settings

GUIDE = "docs/relay-setup.md"
CREDENTIALS = {"mastodon": "MASTODON_ACCESS_TOKEN", "bluesky": "BLUESKY_HANDLE and BLUESKY_APP_PASSWORD"}


def _duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds is None:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30m, 6h or 2d, got {text!r}")
    return seconds


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("relay", help="deliver the relay outbox to Mastodon and Bluesky")
    p.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be posted, link cards included; needs no credentials; changes nothing")
    p.add_argument("--json", action="store_true")
    p.add_argument("--queue-recent", type=_duration, metavar="DURATION",
                   help="queue the items first seen within DURATION (6h, 2d) that never entered the outbox "
                        "(stored before the relay was configured), by the relay's rules; then exit")
    p.add_argument("--retry-failed", action="store_true", help="give failed deliveries a fresh set of attempts; then exit")
    p.add_argument("--target", choices=("mastodon", "bluesky"), help="with --retry-failed: only this target")
    p.set_defaults(func=cmd_relay, long_running=lambda args: not (args.once or args.dry_run or args.queue_recent
                                                                  or args.retry_failed))


async def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    if args.target and not args.retry_failed:
        print("relay: --target goes with --retry-failed", file=sys.stderr)
        return 2
    if args.queue_recent and args.retry_failed:
        print("relay: --queue-recent and --retry-failed are separate steps; run one, then the other", file=sys.stderr)
        return 2
    async with make_aggregator(settings) as agg:
        configured = agg.relay_policy().targets  # relay: targets, and the ActivityPub actor when it is on
        if args.retry_failed:
            return await _retry_failed(agg, args)
        if not configured:
            print(f"relay: no target is configured: add a relay: section to {settings.config_path} "
                  f"(see {GUIDE}), or an activitypub: section with AGGREGATOR_BASE_URL", file=sys.stderr)
            return 2
        if args.queue_recent:
            return await _queue_recent(agg, args)
        if args.dry_run:
            return await _dry_run(agg, args)
        if not agg.relay_targets_enabled():
            print(
                "relay: no target is both configured (relay: in sources.yaml) and credentialed "
                "(MASTODON_ACCESS_TOKEN, or BLUESKY_HANDLE and BLUESKY_APP_PASSWORD), "
                "and no ActivityPub actor (activitypub: in sources.yaml with AGGREGATOR_BASE_URL); "
                f"`aggregator relay --dry-run` shows what would be posted without them ({GUIDE})",
                file=sys.stderr,
            )
            return 2
        relay = await agg.relay()
        if args.once:
            found = await relay_once_if_leader(agg.relay_lock(), relay)
            if found is None:
                print("relay: another relay process holds the relay lock; nothing done", file=sys.stderr)
            rows = found or []
            if found == []:
                await _explain(agg)
        else:
            async with service.stop_on_signals() as stop:
                await service.relay_forever(agg, stop)
            rows = []
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
        else:
            print(f"[{row.get('target')}] {row.get('state')}: {row.get('text') or row.get('url') or ''}")
            if row.get("error"):
                print(f"    error: {row['error']}")
    return 0


async def _explain(agg: Aggregator) -> None:
    lines = await explain_idle(agg.store, agg.config, now=agg.clock())
    print("nothing to post:", file=sys.stderr)
    for line in lines:
        print(f"  - {line}", file=sys.stderr)


async def _dry_run(agg: Aggregator, args: argparse.Namespace) -> int:
    preview = await (await agg.relay_preview()).run_once()
    for row in preview.reports:
        if args.json:
            print(json.dumps(row, ensure_ascii=False, default=str))
        else:
            _print_planned(row)
    _summary(agg, preview)
    if not preview.reports:
        await _explain(agg)
    return 0


def _print_planned(row: dict[str, Any]) -> None:
    where = f"[{row['target']}]"
    item = f"(item {row['entry_id']}, {row['source']})"
    if row["state"] == "skipped":
        print(f"{where} would skip {item}: {row['error']}")
        return
    if row["action"] in ("boost", "repost"):
        print(f"{where} would {row['action']} {item}: {row['url']}")
        return
    print(f"{where} would post {item}:")
    for line in (row["text"] or "").splitlines() or [""]:
        print(f"    {line}".rstrip())
    card = row.get("card")
    if card:
        print(f"    card: {card['title']!r} ({card['url']})")
        if card["description"]:
            print(f"    card description: {card['description'][:200]}")
        if card["image_attached"]:
            print(f"    card image: attached, {card['image_bytes']:,} bytes after resizing ({card['image']})")
        elif card["image"]:
            print(f"    card image: none: {card['image']} could not be fetched or is not a usable image")
        else:
            print("    card image: none: the page names no og:image")
    elif row["target"] == "mastodon":
        print("    (Mastodon makes the link's preview card itself)")


def _summary(agg: Aggregator, preview: Preview) -> None:
    posts: dict[str, int] = {}
    for row in preview.reports:
        if row["state"] != "skipped":
            posts[row["target"]] = posts.get(row["target"], 0) + 1
    if posts:
        counts = ", ".join(f"{target} {n}" for target, n in posts.items())
        print(f"dry run: {sum(posts.values())} posts would be made ({counts}); nothing was posted or written",
              file=sys.stderr)
    for target, n in preview.deferred.items():
        print(f"dry run: {n} more for {target} wait for a later round (relay.max_posts_per_hour: "
              f"{agg.config.relay.max_posts_per_hour})", file=sys.stderr)
    enabled = agg.relay_targets_enabled()
    for target in agg.config.relay.targets():
        if target not in enabled:
            print(f"dry run: {target} has no credentials yet ({CREDENTIALS[target]}): `aggregator relay` "
                  f"will not post there until they are set ({GUIDE})", file=sys.stderr)


async def _queue_recent(agg: Aggregator, args: argparse.Namespace) -> int:
    within = timedelta(seconds=args.queue_recent)
    done = await asyncio.to_thread(queue_recent, agg.store, agg.config, now=agg.clock(), within=within,
                                   dry_run=args.dry_run)
    verb = "would queue" if args.dry_run else "queued"
    for target, n in done.added.items():
        print(f"{verb} {n} items for {target}")
    left = ", ".join(f"{n} {_REASONS.get(reason, reason)}" for reason, n in sorted(done.left.items()))
    if left:
        print(f"left out by the relay's rules: {left}", file=sys.stderr)
    if any(done.added.values()) and not args.dry_run:
        print("`aggregator relay --dry-run` shows what will be posted; max_posts_per_hour spaces the posts",
              file=sys.stderr)
    return 0


_REASONS = {
    "backlog": "older than the backlog window",
    "reply": "replies",
    "source": "from sources with relay: false",
    "unconfigured": "from sources no longer configured",
}


async def _retry_failed(agg: Aggregator, args: argparse.Namespace) -> int:
    where = f" for {args.target}" if args.target else ""
    if args.dry_run:
        counts = await asyncio.to_thread(agg.store.outbox.counts)
        n = sum(c for (target, state), c in counts.items()
                if state == "failed" and (args.target is None or target == args.target))
        print(f"would re-queue {n} failed deliveries{where}")
        return 0
    n = await asyncio.to_thread(agg.store.outbox.retry_failed, agg.clock(), target=args.target)
    print(f"re-queued {n} failed deliveries{where}")
    return 0
