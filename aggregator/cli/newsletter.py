"""``digest show``, ``digest send``, ``digest unsubscribe-mail``, ``subscribers``: the daily
newsletter by hand (``run`` sends it on schedule). Contracts in docs/commands.md and
docs/newsletter.md."""

from __future__ import annotations

import argparse
import asyncio
import email
import json
import sys
from datetime import date
from email import policy
from typing import Any

from .. import service
from ..digest.addresses import parse_address
from ..digest.deliver import SendCounts, reclaim_after_for
from ..digest.shapes import digest_json
from ..digest.tokens import unsubscribe_token_from_subject
from ..errors import AddressError, TokenError
from ..factory import make_aggregator
from ..model import to_iso
from ..settings import Settings

#: A mail piped to ``digest unsubscribe-mail`` is read up to this (only its headers matter).
MAX_MAIL = 1024 * 1024


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("digest", help="the daily newsletter: show or send the day's digest")
    digest = p.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    d = digest.add_parser("show", help="what a day's digest holds (default: today's)")
    d.add_argument("--date", type=_day, metavar="YYYY-MM-DD")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_digest_show)
    d = digest.add_parser("send", help="send the due digest now to every confirmed subscriber who has not had it")
    d.add_argument("--date", type=_day, metavar="YYYY-MM-DD")
    d.add_argument("--dry-run", action="store_true", help="count what would be sent; change nothing")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_digest_send)
    d = digest.add_parser("run", help="send on schedule until stopped (what run does for the newsletter)")
    d.set_defaults(func=cmd_digest_run)
    d = digest.add_parser("unsubscribe-mail",
                          help="read one mail on standard input and unsubscribe the token in its subject")
    d.set_defaults(func=cmd_unsubscribe_mail)

    p = sub.add_parser("subscribers", help="how many subscribers (never who); remove an address")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_subscribers)
    actions = p.add_subparsers(dest="subscribers_command", metavar="ACTION")
    r = actions.add_parser("remove", help="delete an address and never mail it again")
    r.add_argument("address", metavar="ADDRESS")
    r.set_defaults(func=cmd_subscribers_remove)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date such as 2026-11-20, got {text!r}") from None


async def cmd_digest_show(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        newsletter = agg.newsletter(sending=False)
        now = agg.clock()
        day = args.date or newsletter.today(now)
        digest = await asyncio.to_thread(newsletter.preview, day, now)
        cut = await asyncio.to_thread(agg.store.digests.get, day.isoformat()) is not None
    if args.json:
        print(json.dumps(digest_json(digest, cut=cut), ensure_ascii=False))
        return 0
    state = "cut" if cut else "not cut yet: what it would hold now"
    print(f"digest of {digest.day} ({state}), window {to_iso(digest.window_start)} to {to_iso(digest.window_end)}: "
          f"{digest.count} stories")
    for group in digest.groups:
        print(f"\n{group.label or '(no tag)'}")
        for item in group.items:
            also = f"  (also: {', '.join(a.source_name for a in item.also)})" if item.also else ""
            print(f"  {to_iso(item.published)}  [{item.source}]  {item.title}{also}\n    {item.url or ''}")
    return 0


async def cmd_digest_send(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        if args.dry_run:
            counts = await agg.newsletter(sending=False).send_due(day=args.date, dry_run=True)
        else:
            lock = agg.digest_lock()
            newsletter = agg.newsletter(reclaim_after=reclaim_after_for(lock.mechanism))
            if not await asyncio.to_thread(lock.try_acquire):
                print("digest: another process (run, or digest send) is sending the newsletter; nothing done",
                      file=sys.stderr)
                counts = SendCounts()
            else:
                try:
                    counts = await newsletter.send_due(day=args.date)
                finally:
                    await asyncio.to_thread(lock.release)
    if args.json:
        print(json.dumps(counts.as_dict()))
    else:
        verb = "would send" if args.dry_run else "sent"
        print(f"{verb} {counts.sent}, failed {counts.failed}, skipped {counts.skipped}")
    return 1 if counts.failed else 0


async def cmd_digest_run(settings: Settings, args: argparse.Namespace) -> int:
    """For deployments that run parts apart (docker compose): the newsletter alone, in one
    process of several (the digest lock), until SIGTERM."""
    async with make_aggregator(settings) as agg:
        agg.newsletter()  # refuses at once, in one line, without a base URL or an SMTP server
        async with service.stop_on_signals() as stop:
            await service.newsletter_while_leader(agg, stop)
    return 0


async def cmd_unsubscribe_mail(settings: Settings, args: argparse.Namespace) -> int:
    """For an MTA alias (``desabonnement: "|aggregator digest unsubscribe-mail"``): the
    ``mailto:`` of ``List-Unsubscribe`` sends ``unsubscribe-TOKEN`` as the subject."""
    raw = sys.stdin.buffer.read(MAX_MAIL)
    message = email.message_from_bytes(raw, policy=policy.default)
    token = unsubscribe_token_from_subject(str(message.get("Subject", "")))
    if token is None:
        print("digest: no unsubscribe token in the subject; nothing done", file=sys.stderr)
        return 2
    async with make_aggregator(settings) as agg:
        flows = agg.subscriptions(sending=False)
        try:
            done = await asyncio.to_thread(flows.unsubscribe, token)
        except TokenError as exc:
            print(f"digest: {exc}; nothing done", file=sys.stderr)
            return 2
    print("unsubscribed" if done else "already unsubscribed")
    return 0


async def cmd_subscribers(settings: Settings, args: argparse.Namespace) -> int:
    """Counts only: the addresses never leave the server, not even in this output."""
    async with make_aggregator(settings) as agg:
        agg.digest_config()
        counts = await asyncio.to_thread(agg.store.subscribers.counts)
    if args.json:
        print(json.dumps(counts))
    else:
        print(f"pending {counts['pending']}, confirmed {counts['confirmed']}, unsubscribed {counts['unsubscribed']}")
    return 0


async def cmd_subscribers_remove(settings: Settings, args: argparse.Namespace) -> int:
    try:
        parse_address(args.address)
    except AddressError as exc:
        print(f"subscribers remove: {exc}", file=sys.stderr)
        return 2
    async with make_aggregator(settings) as agg:
        removed = await asyncio.to_thread(agg.subscriptions(sending=False).remove_address, args.address)
    print("removed; it will never be mailed again" if removed
          else "not subscribed; it will never be mailed unless it subscribes again")
    return 0
