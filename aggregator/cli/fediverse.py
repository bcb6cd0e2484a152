"""``followers``: who follows the aggregator's ActivityPub actor (for the operator only)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..activitypub.documents import Urls
from ..factory import make_aggregator
from ..model import to_iso
from ..settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("followers", help="the fediverse accounts that follow the ActivityPub actor")
    p.add_argument("--json", action="store_true", help="one JSON object per follower")
    p.set_defaults(func=cmd_followers)


async def cmd_followers(settings: Settings, args: argparse.Namespace) -> int:
    """Follower lists never leave the server (the followers collection shows a count): this is
    where the operator sees them. Oldest first."""
    async with make_aggregator(settings) as agg:
        actor = Urls.from_base(settings.base_url).actor if settings.base_url else None
        followers = agg.store.ap_followers.all(actor)
    for f in followers:
        if args.json:
            print(json.dumps({"actor": f.actor_id, "domain": f.domain, "inbox": f.inbox, "shared_inbox": f.shared_inbox,
                              "since": to_iso(f.since)}, ensure_ascii=False))
        else:
            print(f"{to_iso(f.since)}  {f.actor_id}")
    if not args.json:
        print(f"{len(followers)} follower(s)")
    return 0
