"""``suggestions``, ``suggestions accept ID``, ``suggestions reject ID``: readers' suggestions, for the operator."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config_file import append_sources
from ..errors import ConfigError
from ..factory import make_aggregator
from ..model import Suggestion, to_iso
from ..settings import Settings
from ..shapes import suggestion_json
from ..sources import sources_to_yaml
from ..suggestions import source_for, url_key


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("suggestions", help="sources readers suggested: list, accept into sources.yaml, reject")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--all", action="store_true", help="also the accepted and rejected ones")
    p.set_defaults(func=cmd_list)
    ssub = p.add_subparsers(dest="suggestions_command", metavar="accept|reject")
    a = ssub.add_parser("accept", help="append the suggested source to sources.yaml (comments kept)")
    a.add_argument("id", type=int, metavar="ID")
    a.set_defaults(func=cmd_accept)
    r = ssub.add_parser("reject", help="reject a suggestion (it stays recorded, so it is not suggested again)")
    r.add_argument("id", type=int, metavar="ID")
    r.set_defaults(func=cmd_reject)


def _line(s: Suggestion) -> str:
    found = f"{s.items} items, feed {s.feed_url}" if s.outcome == "ok" else f"{s.outcome}: {s.error or ''}"
    text = f"#{s.id}  {to_iso(s.created)}  [{s.state}]  {s.url}\n    {s.title or '(no title)'} — {found}"
    if s.note:
        text += f"\n    note: {s.note}"
    return text


async def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        rows = agg.store.suggestions.by_state() if args.all else agg.store.suggestions.by_state("pending")
    for s in rows:
        print(json.dumps(suggestion_json(s), ensure_ascii=False) if args.json else _line(s))
    if not rows and not args.json:
        print("no suggestions waiting" if not args.all else "no suggestions", file=sys.stderr)
    return 0


async def _pending(agg: Any, suggestion_id: int) -> Suggestion | None:
    s = agg.store.suggestions.get(suggestion_id)
    if s is None:
        print(f"no suggestion #{suggestion_id}", file=sys.stderr)
        return None
    if s.state != "pending":
        print(f"suggestion #{suggestion_id} was already {s.state}", file=sys.stderr)
        return None
    return s


async def cmd_accept(settings: Settings, args: argparse.Namespace) -> int:
    """Append the source to ``sources.yaml`` (validated first; the file keeps its comments), then record it."""
    async with make_aggregator(settings) as agg:
        s = await _pending(agg, args.id)
        if s is None:
            return 1
        configured = settings.config.sources
        known = {url_key(u) for c in configured for u in (c.url, c.website) if u}
        if {url_key(u) for u in (s.url, s.feed_url) if u} & known:
            print(f"suggestion #{s.id} is already configured in {settings.config_path}; "
                  f"reject it with: aggregator suggestions reject {s.id}", file=sys.stderr)
            return 1
        source = source_for(s, {c.slug for c in configured})
        try:
            append_sources(settings.config_path, [source], comment=f"suggested by a reader (suggestion #{s.id})")
        except ConfigError as exc:
            print(f"not written: appending would make the file invalid ({exc}); sources: must be the last "
                  "section. Add this entry by hand, then run this command again:", file=sys.stderr)
            sys.stdout.write(sources_to_yaml([source]))
            return 2
        agg.store.suggestions.decide(s.id, "accepted", now=agg.clock(), source=source.slug)
    print(f"added {source.slug} ({source.kind}, {source.url}) to {settings.config_path}; "
          "restart `aggregator run` (or the crawlers) to crawl it", file=sys.stderr)
    return 0


async def cmd_reject(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        s = await _pending(agg, args.id)
        if s is None:
            return 1
        agg.store.suggestions.decide(s.id, "rejected", now=agg.clock())
    print(f"rejected suggestion #{s.id} ({s.url})", file=sys.stderr)
    return 0
