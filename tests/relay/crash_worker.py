"""The relay as a separate process, for the crash test: ``python -m tests.relay.crash_worker CONFIG.json``.

Prints ``ready`` once everything is imported and built, then delivers until the outbox has
nothing pending or in flight, and exits 0. The test kills it with SIGKILL at random moments.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from aggregator.activitypub.delivery import FanoutSettings
from aggregator.factory import Tuning, make_aggregator
from aggregator.model import ActivityPubConfig, BlueskyTarget, Config, MastodonTarget, RelayConfig
from aggregator.settings import load_settings
from tests.building import settings_for

#: The ActivityPub mode: a restarted worker takes over rows left ``sending`` at once (the
#: killed process is gone for sure), retries come within tenths of a second.
FANOUT = FanoutSettings(spread_max=0.0, stale_after=0.0, backoff_base=0.05, backoff_max=0.2)


async def main(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    if "base_url" in cfg:  # ActivityPub: the actor's target and its fan-out
        config = Config(sources=(), relay=RelayConfig(max_posts_per_hour=10_000), activitypub=ActivityPubConfig())
    else:
        config = Config(sources=(), relay=RelayConfig(
            mastodon=MastodonTarget(api_base_url=cfg["mastodon"], visibility="public"),
            bluesky=BlueskyTarget(service=cfg["pds"]),
            max_posts_per_hour=10_000,
        ))
    credentials = load_settings(os.environ, read_config=False).credentials
    settings = settings_for(config, database_url=cfg["database"], credentials=credentials, base_url=cfg.get("base_url"))
    async with make_aggregator(settings, migrate=False, mirror_config=False, tuning=Tuning(fanout=FANOUT)) as agg:
        relay = await agg.relay()
        print("ready", flush=True)
        deadline = time.monotonic() + float(cfg.get("timeout", 120))
        while time.monotonic() < deadline:
            for report in await relay.run_once(limit=5):
                print(json.dumps(report), flush=True)
            counts = agg.store.outbox.counts()
            busy = any(n for (_, state), n in counts.items() if state in ("pending", "sending"))
            deliveries = agg.store.ap_deliveries.counts()
            if not busy and not deliveries.get("pending") and not deliveries.get("sending"):
                return 0
            await asyncio.sleep(0.05)
        return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
