"""Crash test: the relay, killed with SIGKILL at random moments, still posts every item exactly once.

The relay runs as a subprocess (``tests/relay/crash_worker.py``) against the real local
PDS and the stateful Mastodon fake; it is killed at least 20 times, restarted each time,
then allowed to finish. Between kills the fake forgets its Idempotency-Keys (as an hour
would), so Mastodon duplicates could only be avoided by reconciliation.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import secrets
import signal
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from aggregator.model import EntryData, SourceConfig
from aggregator.store import Store
from tests.conftest import ROOT
from tests.peers.bluesky import BlueskyNetwork, create_account, create_record
from tests.processes import send

from .bsky_helpers import list_records
from .conftest import ArticleSite, article, save
from .mastodon_fake import FakeMastodon

pytestmark = [pytest.mark.peers, pytest.mark.slow]
KILLS = 20
ARTICLES = 24
NATIVE = 4


async def _life(env: dict[str, str], config: Path, *, kill_after: float | None) -> tuple[int | None, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.relay.crash_worker", str(config), cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    first = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    lines.append(first.decode())
    if kill_after is None:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=180)
        return proc.returncode, [*lines, *out.decode().splitlines()]
    await asyncio.sleep(kill_after)
    send(proc, signal.SIGKILL)
    out, _ = await proc.communicate()
    return proc.returncode, [*lines, *out.decode().splitlines()]


async def test_sigkill_at_random_moments_posts_everything_exactly_once(
    bluesky_network: BlueskyNetwork, tmp_path: Path, site: ArticleSite, mastodon: FakeMastodon
) -> None:
    net = bluesky_network
    async with aiohttp.ClientSession() as http:
        relay_account = await create_account(http, net, f"relay-{secrets.token_hex(4)}.test")
        source_account = await create_account(http, net, f"medium-{secrets.token_hex(4)}.test")
        natives = [await create_record(http, net, source_account, "app.bsky.feed.post",
                                       {"text": f"Post natif {i}", "createdAt": "2026-11-20T11:00:00Z"}) for i in range(NATIVE)]
    db = f"sqlite:///{tmp_path / 'crash.sqlite3'}"
    store = Store(db)
    store.upgrade()
    web = SourceConfig(slug="site", name="Le Site", kind="feed", url=site.base + "/feed", language="fr")
    sky = SourceConfig(slug="sky", name="Le Média", kind="bluesky", handle=source_account.handle)
    store.sources.sync([web, sky])
    urls = [site.url(("big-" if i % 6 == 0 else "noimage-") + str(i)) for i in range(ARTICLES)]
    save(store, web, [article(str(i), f"Article numéro {i} du crash test", u) for i, u in enumerate(urls)],
         targets=("mastodon", "bluesky"))
    save(store, sky, [EntryData(guid=n["uri"], url=f"https://bsky.app/profile/x/post/{i}", title=f"Post natif {i}",
                                text=f"Post natif {i}", kind="post", native_uri=n["uri"], native_cid=n["cid"],
                                content_hash=str(i)) for i, n in enumerate(natives)], targets=("mastodon", "bluesky"))
    expected_rows = (ARTICLES + NATIVE) * 2
    assert sum(store.outbox.counts().values()) == expected_rows
    config = tmp_path / "worker.json"
    config.write_text(json.dumps({"database": db, "mastodon": mastodon.base, "pds": net.pds, "timeout": 150}))
    env = {**os.environ, "MASTODON_ACCESS_TOKEN": mastodon.token, "BLUESKY_HANDLE": relay_account.handle,
           "BLUESKY_APP_PASSWORD": "correct-horse-battery", "PYTHONPATH": str(ROOT)}

    rng = random.Random(int(os.environ.get("CRASH_SEED", secrets.randbits(32))))
    kills = 0
    mid_flight = 0
    while kills < KILLS:
        code, _ = await _life(env, config, kill_after=rng.uniform(0.0, 0.6))
        if code == 0:
            break  # it finished before the kill: nothing left to interrupt
        assert code == -signal.SIGKILL
        kills += 1
        mid_flight += sum(n for (_, state), n in store.outbox.counts().items() if state == "sending")
        mastodon.expire_keys()
    code, output = await _life(env, config, kill_after=None)
    assert code == 0, "\n".join(output[-20:])

    counts = store.outbox.counts()
    assert counts == {("mastodon", "posted"): ARTICLES + NATIVE, ("bluesky", "posted"): ARTICLES + NATIVE}, counts
    # Bluesky: one link post per article, one repost per native post; Mastodon: one link post each.
    async with aiohttp.ClientSession() as http:
        posts = await list_records(http, net, relay_account.did, "app.bsky.feed.post")
        reposts = await list_records(http, net, relay_account.did, "app.bsky.feed.repost")
    bsky_links = Counter(p["value"]["embed"]["external"]["uri"] for p in posts)
    bsky_reposts = Counter(r["value"]["subject"]["uri"] for r in reposts)
    masto_links = Counter(m.group(1) for s in mastodon.own_posts() for m in [re.search(r'href="([^"]+)"', s["content"])] if m)
    want_masto = Counter([*urls, *(f"https://bsky.app/profile/x/post/{i}" for i in range(NATIVE))])
    figures = {
        "kills": kills, "rows_in_flight_at_kills": mid_flight,
        "bluesky_posts": len(posts), "bluesky_reposts": len(reposts), "mastodon_posts": len(mastodon.own_posts()),
        "duplicates": sum(n - 1 for c in (bsky_links, bsky_reposts, masto_links) for n in c.values() if n > 1),
        "missing": len(set(urls) - set(bsky_links)) + len({n["uri"] for n in natives} - set(bsky_reposts))
        + len(set(want_masto) - set(masto_links)),
    }
    print("CRASH", json.dumps(figures))
    assert kills >= KILLS, figures
    assert bsky_links == Counter(urls), figures
    assert bsky_reposts == Counter(n["uri"] for n in natives), figures
    assert masto_links == want_masto, figures
    assert figures["duplicates"] == 0 and figures["missing"] == 0
    store.close()


AP_STORIES = 12
AP_INBOXES = 8
AP_KILLS = 10  # each life costs a Python start-up: half the kills of the test above keep it affordable


async def test_sigkill_activitypub_deliveries_none_twice_after_a_2xx_none_missing(tmp_path: Path) -> None:
    """The fan-out under SIGKILL: every activity reaches every follower inbox; none is POSTed
    again once its 2xx was recorded. Each receiving inbox checks that in the database at the
    moment it is called, so the invariant is watched as it happens, not reconstructed.

    A delivery whose POST landed but whose 2xx was not yet recorded when the kill came is sent
    again by the next process (its outcome is unknown; receivers drop an activity id they
    already have): those are counted and printed, and each must be a row the kill left
    ``sending``, never one whose 2xx was recorded.
    """
    from aiohttp import web

    from tests.building import store_entries
    from tests.conftest import free_port

    db = f"sqlite:///{tmp_path / 'crash-ap.sqlite3'}"
    store = Store(db)
    store.upgrade()
    source = SourceConfig(slug="site", name="Le Site", kind="feed", url="https://site.example/feed")
    store.sources.sync([source])
    port = free_port()
    base = "https://medias.example"
    actor = f"{base}/ap/actor"
    answers: Counter[tuple[str, str]] = Counter()
    after_recorded: list[tuple[str, str]] = []
    flaky_seen: set[tuple[str, str]] = set()

    async def inbox(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        url = f"http://127.0.0.1:{port}/{name}/inbox"
        activity = json.loads(await request.read())["id"]
        done = [d for d in store.ap_deliveries.all() if d.inbox == url and d.activity_id == activity]
        if done and done[0].state == "delivered":
            after_recorded.append((url, activity))
        if name in ("i0", "i1") and (url, activity) not in flaky_seen:
            flaky_seen.add((url, activity))
            return web.Response(status=503)  # every first knock on these two fails
        answers[(url, activity)] += 1
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/{name}/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    inboxes = [f"http://127.0.0.1:{port}/i{i}/inbox" for i in range(AP_INBOXES)]
    for i, url in enumerate(inboxes):
        store.ap_followers.add_follower(local_actor=actor, actor_id=f"https://f{i}.example/u", inbox=url,
                                        shared_inbox=None, follow_id=f"https://f{i}.example/follow")
    store_entries(store, source, [article(str(i), f"Article {i} du crash test", f"https://site.example/{i}")
                                  for i in range(AP_STORIES)], targets=("activitypub",))
    config = tmp_path / "worker-ap.json"
    config.write_text(json.dumps({"database": db, "base_url": base, "timeout": 150}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(int(os.environ.get("CRASH_SEED", secrets.randbits(32))))
    kills = mid_flight = 0
    unknown_outcome: set[tuple[str, str]] = set()
    try:
        while kills < AP_KILLS:
            code, _ = await _life(env, config, kill_after=rng.uniform(0.0, 0.4))
            if code == 0:
                break
            assert code == -signal.SIGKILL
            kills += 1
            in_flight = {(d.inbox, d.activity_id) for d in store.ap_deliveries.all() if d.state == "sending"}
            mid_flight += len(in_flight)
            unknown_outcome |= in_flight
        code, output = await _life(env, config, kill_after=None)
        assert code == 0, "\n".join(output[-20:])
    finally:
        await runner.cleanup()
    activities = {d.activity_id for d in store.ap_deliveries.all()}
    wanted = {(url, a) for url in inboxes for a in activities}
    figures = {
        "kills": kills, "deliveries_in_flight_at_kills": mid_flight, "activities": len(activities),
        "accepted": sum(answers.values()), "after_recorded_2xx": len(after_recorded),
        "resent_unknown_outcome": sum(n - 1 for n in answers.values() if n > 1),
        "missing": len(wanted - set(answers)),
    }
    print("CRASH_AP", json.dumps(figures))
    assert len(activities) == AP_STORIES and store.ap_deliveries.counts() == {"delivered": AP_STORIES * AP_INBOXES}
    assert after_recorded == [], figures
    assert figures["missing"] == 0, figures
    resent = {key for key, n in answers.items() if n > 1}
    assert resent <= unknown_outcome, figures  # only rows a kill left in flight are ever sent again
    store.close()
