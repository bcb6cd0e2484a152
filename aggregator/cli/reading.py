"""``items``, ``delete``, ``search``, ``reindex``: the store and index, for people and scripts.

(``sources`` and its ``add``/``remove`` are in ``cli/sources.py``.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..errors import SearchQueryError
from ..factory import make_aggregator
from ..index import SearchRequest
from ..model import to_iso
from ..settings import Settings
from ..shapes import item_json, search_hit_json
from .checks import check_slugs


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("items", help="list stored items, newest first")
    p.add_argument("--source", metavar="SLUG")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_items)

    p = sub.add_parser("delete", help="delete items by id (they stay deleted when crawled again)")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("search", help="full-text search (French stemming)")
    p.add_argument("query")
    p.add_argument("--source", metavar="SLUG")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("reindex", help="rebuild the search index from the store")
    p.set_defaults(func=cmd_reindex)


def _print_json(row: dict[str, Any]) -> None:
    print(json.dumps(row, ensure_ascii=False))


async def cmd_items(settings: Settings, args: argparse.Namespace) -> int:
    check_slugs(settings, [args.source])
    async with make_aggregator(settings) as agg:
        entries = agg.store.entries.newest(source=args.source, limit=args.limit)
    for e in entries:
        if args.json:
            _print_json(item_json(e))
        else:
            print(f"{to_iso(e.published)}  [{e.source}]  {e.title}\n    {e.url or ''}")
    return 0


async def cmd_delete(settings: Settings, args: argparse.Namespace) -> int:
    """The operator's delete: hidden from the river, search and relay; never crawled back."""
    async with make_aggregator(settings) as agg:
        count = agg.store.entries.mark_deleted(args.ids, now=agg.clock(), synced=agg.relay_policy().synced)
    print(f"deleted {count} item(s)")
    return 0 if count == len(set(args.ids)) else 1


async def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    check_slugs(settings, [args.source])
    async with make_aggregator(settings) as agg:
        index = agg.index()
        try:
            await asyncio.to_thread(index.sync)
            results = index.search(SearchRequest(args.query, source=args.source, limit=args.limit))
        except SearchQueryError as exc:
            print(f"search: {exc}", file=sys.stderr)
            return 2
    for hit in results.hits:
        if args.json:
            _print_json(search_hit_json(hit))
        else:
            print(f"{hit.score:7.3f}  {to_iso(hit.published)}  [{hit.source}]  {hit.title}\n    {hit.url or ''}")
    if not args.json:
        if results.total_capped:
            print(f"more than {results.total} results", file=sys.stderr)
        else:
            print(f"{results.total} result{'' if results.total == 1 else 's'}", file=sys.stderr)
    return 0


async def cmd_reindex(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        count = await asyncio.to_thread(agg.index().reindex)
    print(f"reindexed {count} entries")
    return 0
