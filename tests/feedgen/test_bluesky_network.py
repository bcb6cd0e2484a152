"""The feed generator, list and starter pack end to end on the real local Bluesky network.

PLC + PDS + the reference AppView (``tests/peers/bluesky.py``). Our web app serves the
generator on ``http://localhost:PORT`` (did:web:localhost%3APORT, read by the AppView over
plain http); the relay posts real link posts; ``bluesky publish`` writes the records with
the relay's session; the AppView then calls our generator and hydrates what it answers.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from aggregator.config import load_config
from aggregator.factory import Aggregator
from aggregator.feedgen.routes import FEED_ROUTES
from aggregator.model import Config, EntryData
from aggregator.settings import Credentials
from aggregator.store import Store
from tests.building import aggregator_for, store_entries
from tests.conftest import free_port
from tests.peers.bluesky import Account, BlueskyNetwork, create_account, create_record, poll, xrpc
from tests.processes import send

pytestmark = pytest.mark.peers
PASSWORD = "correct-horse-battery"
GENERATOR = "app.bsky.feed.generator"


@dataclass
class World:
    net: BlueskyNetwork
    relay: Account
    media: dict[str, Account]
    reader: Account
    outsider_post: dict[str, str]
    posts: dict[str, dict[str, str]]  # name -> {"uri", "cid"}


async def make_world(net: BlueskyNetwork) -> World:
    tag = secrets.token_hex(3)
    async with aiohttp.ClientSession() as http:
        relay, a, b, c, reader, outsider = await asyncio.gather(*(
            create_account(http, net, f"{name}-{tag}.test") for name in ("relais", "media-a", "media-b", "media-c", "lectrice", "dehors")))
        posts = {}
        for name, account, text in [("a1", a, "Premier post de A"), ("a2", a, "Deuxième post de A"),
                                    ("b1", b, "Un post de B")]:
            posts[name] = await create_record(http, net, account, "app.bsky.feed.post",
                                              {"text": text, "createdAt": "2026-11-20T10:00:00Z", "langs": ["fr"]})
        outsider_post = await create_record(http, net, outsider, "app.bsky.feed.post",
                                            {"text": "Un post repris par B", "createdAt": "2026-11-20T09:00:00Z"})
        posts["b-repost"] = await create_record(http, net, b, "app.bsky.feed.repost",
                                                {"subject": outsider_post, "createdAt": "2026-11-20T10:30:00Z"})
    return World(net, relay, {"a": a, "b": b, "c": c}, reader, outsider_post, posts)


def write_sources(tmp: Path, world: World, *, with_b: bool = True) -> Path:
    """sources.yaml: two Bluesky sources, a site with its own Bluesky account, a republisher."""
    m = world.media
    b_source = f"  - name: Média B\n    slug: sky-b\n    kind: bluesky\n    handle: {m['b'].handle}\n" if with_b else ""
    path = tmp / "sources.yaml"
    path.write_text(
        "sources:\n"
        f"  - name: Média A\n    slug: sky-a\n    kind: bluesky\n    handle: {m['a'].handle}\n    tags: [lyon]\n"
        f"{b_source}"
        f"  - name: Le Site\n    slug: site\n    url: http://127.0.0.1:9/feed\n    bluesky: '@{m['c'].handle}'\n    tags: [lyon]\n"
        "  - name: La Reprise\n    slug: reprise\n    url: http://127.0.0.1:9/autre\n"
        "relay:\n"
        f"  bluesky:\n    service: {world.net.pds}\n"
        "bluesky_feed:\n"
        f"  plc: {world.net.plc}\n"
        "  feeds:\n"
        "    - short_name: reseau\n      display_name: Médias indépendants\n"
        "      description: Les médias indépendants du réseau.\n      avatar: avatar.png\n"
        "    - short_name: lyon\n      display_name: Lyon\n      tags: [lyon]\n"
        "  list:\n    name: Les médias du réseau\n    description: Leurs propres comptes.\n"
        "  starter_pack:\n    name: Médias indépendants\n    description: Suivez-les d'un geste.\n",
        encoding="utf-8",
    )
    image = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 90, 160)).save(image, "PNG")
    (tmp / "avatar.png").write_bytes(image.getvalue())
    return path


def entry(guid: str, title: str, when: datetime, **kw: Any) -> EntryData:
    return EntryData(guid=guid, title=title, text=title, published=when, content_hash=guid, **kw)


def fill(store: Store, config: Config, world: World) -> dict[str, str]:
    """The write path, as crawls would: returns the expected at:// URI of each story's post."""
    by_slug = {s.slug: s for s in config.sources}
    t0 = datetime.now(UTC) - timedelta(hours=2)
    p = world.posts
    sky = [("a1", by_slug["sky-a"], 1), ("a2", by_slug["sky-a"], 5), ("b1", by_slug["sky-b"], 3)]
    for name, source, minutes in sky:
        store_entries(store, source, [entry(p[name]["uri"], f"Post {name}", t0 + timedelta(minutes=minutes), kind="post",
                                            native_uri=p[name]["uri"], native_cid=p[name]["cid"], url="https://bsky.app/x")],
                      targets=("bluesky",))
    store_entries(store, by_slug["sky-b"], [entry(p["b-repost"]["uri"], "Repost", t0 + timedelta(minutes=4), kind="repost",
                                                  native_uri=world.outsider_post["uri"], native_cid=world.outsider_post["cid"],
                                                  url="https://bsky.app/y")],
                  targets=("bluesky",))
    articles = [("art-1", "Grève des loyers à la Croix-Rousse ce matin", 2), ("art-2", "Assemblée générale du quartier ce soir", 6)]
    store_entries(store, by_slug["site"], [entry(g, t, t0 + timedelta(minutes=m), url=f"http://127.0.0.1:9/{g}", language="fr")
                                           for g, t, m in articles], targets=("bluesky",))
    # The same article republished: the same story, relayed and shown once.
    store_entries(store, by_slug["reprise"], [entry("copy", articles[0][1], t0 + timedelta(minutes=7), url="http://127.0.0.1:9/copy")],
                  targets=("bluesky",))
    return {name: p[name]["uri"] for name, _, _ in sky}


@asynccontextmanager
async def serving(agg: Aggregator, port: int) -> AsyncIterator[web.Application]:
    app = agg.web_app(with_index=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app
    finally:
        await runner.cleanup()


async def cli_publish(config: Path, store: Store, world: World, base_url: str) -> list[dict[str, Any]]:
    """``aggregator bluesky publish --json`` as a real process on the same database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "BLUESKY_"))}
    env.update({"AGGREGATOR_LOG_FORMAT": "json", "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_DATABASE_URL": store.url,
                "AGGREGATOR_BASE_URL": base_url, "BLUESKY_HANDLE": world.relay.handle, "BLUESKY_APP_PASSWORD": PASSWORD})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(config.parent / "data"),
        "bluesky", "publish", "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_feed_list_and_starter_pack_through_the_appview(bluesky_network: BlueskyNetwork, tmp_path: Path) -> None:
    net = bluesky_network
    world = await make_world(net)
    port = free_port()
    base_url = f"http://localhost:{port}"
    did = f"did:web:localhost%3A{port}"
    config_path = write_sources(tmp_path, world)
    config = load_config(config_path)
    store = Store(f"sqlite:///{tmp_path / 'feed.sqlite3'}")  # the real clock: the PDS signs with it
    store.upgrade()
    credentials = Credentials(None, world.relay.handle, PASSWORD)
    try:
        async with aggregator_for(store, config, credentials=credentials, base_url=base_url) as agg, \
                serving(agg, port) as app, aiohttp.ClientSession() as http:
            fill(store, config, world)
            reports = await (await agg.relay()).run_once()
            assert sorted(r["action"] for r in reports) == ["post", "post", "repost", "repost", "repost", "repost"]
            relayed = {r["url"]: r["remote_id"] for r in reports if r["action"] == "post"}

            outcomes = [o.as_json() for o in await agg.bluesky_publisher().publish()]
            assert [(o["kind"], o["name"], o["state"]) for o in outcomes] == [
                ("feed", "reseau", "created"), ("feed", "lyon", "created"),
                ("list", "Les médias du réseau", "created"), ("starterpack", "Médias indépendants", "created")]
            feed_uri = outcomes[0]["uri"]
            assert feed_uri == f"at://{world.relay.did}/{GENERATOR}/reseau"
            assert outcomes[2]["members"] == 3 and outcomes[2]["added"] == 3 and outcomes[2]["unresolved"] == []

            # The AppView resolved our did:web over http://localhost:PORT.
            async def generator_view() -> dict[str, Any] | None:
                async with http.get(f"{net.appview}/xrpc/app.bsky.feed.getFeedGenerator", params={"feed": feed_uri}) as r:
                    return await r.json() if r.status == 200 else None

            view = await poll(generator_view, what="the generator record indexed and its DID resolved")
            assert view["isOnline"] is True and view["isValid"] is True
            assert view["view"]["did"] == did and view["view"]["displayName"] == "Médias indépendants"
            assert view["view"]["avatar"]

            # Newest first, each story once: the republished article appears once, as the
            # relay's post of its first copy (art-1), at that copy's date.
            expected = [relayed["http://127.0.0.1:9/art-2"], world.posts["a2"]["uri"], world.outsider_post["uri"],
                        world.posts["b1"]["uri"], relayed["http://127.0.0.1:9/art-1"], world.posts["a1"]["uri"]]

            async def indexed() -> bool:
                data = await xrpc(http, net.appview, "app.bsky.feed.getPosts", params=[("uris", u) for u in expected])  # type: ignore[arg-type]
                return len(data["posts"]) == len(expected)

            await poll(indexed, what="the posts indexed by the AppView")
            seen: list[str] = []
            reasons: list[str | None] = []
            cursor = None
            for _ in range(10):
                params = {"feed": feed_uri, "limit": "4"}
                if cursor:
                    params["cursor"] = cursor
                page = await xrpc(http, net.appview, "app.bsky.feed.getFeed", params=params)
                seen += [item["post"]["uri"] for item in page["feed"]]
                reasons += [item.get("reason", {}).get("by", {}).get("did") for item in page["feed"]]
                assert page.get("cursor") != cursor
                cursor = page.get("cursor")
                if not cursor:
                    break
            assert seen == expected
            assert reasons[2] == world.media["b"].did, "b's repost shows as reposted by b"
            assert all(r is None for i, r in enumerate(reasons) if i != 2)

            # Through a reader's PDS: it mints a service JWT that the AppView forwards; we verify it.
            lyon = outcomes[1]["uri"]
            assert not app[FEED_ROUTES].auth.keys.knows(world.reader.did)
            page = await xrpc(http, net.pds, "app.bsky.feed.getFeed", params={"feed": lyon}, token=world.reader.access_jwt)
            assert [i["post"]["uri"] for i in page["feed"]] == [relayed["http://127.0.0.1:9/art-2"], world.posts["a2"]["uri"],
                                                                  relayed["http://127.0.0.1:9/art-1"], world.posts["a1"]["uri"]]
            assert app[FEED_ROUTES].auth.keys.knows(world.reader.did), "the reader's key was read from the PLC"

            list_uri, pack_uri = outcomes[2]["uri"], outcomes[3]["uri"]
            members = {world.media[name].did for name in ("a", "b", "c")}

            async def list_members(want: set[str]) -> set[str] | None:
                data = await xrpc(http, net.appview, "app.bsky.graph.getList", params={"list": list_uri})
                got = {item["subject"]["did"] for item in data["items"]}
                return got if got == want else None

            await poll(lambda: list_members(members), what="the three accounts in getList")
            pack = (await xrpc(http, net.appview, "app.bsky.graph.getStarterPack", params={"starterPack": pack_uri}))["starterPack"]
            assert pack["list"]["uri"] == list_uri and pack["list"]["listItemCount"] == 3
            assert [f["uri"] for f in pack["feeds"]] == [feed_uri, lyon]
            assert pack["record"]["name"] == "Médias indépendants"

        # Again, by the command line, with Média B removed from sources.yaml: its account
        # leaves the list; nothing else changes.
        config_path = write_sources(tmp_path, world, with_b=False)
        again = await cli_publish(config_path, store, world, base_url)
        assert [(o["kind"], o["state"]) for o in again] == [("feed", "unchanged"), ("feed", "unchanged"),
                                                             ("list", "unchanged"), ("starterpack", "unchanged")]
        assert {o["uri"] for o in again} == {o["uri"] for o in outcomes}
        assert again[2]["removed"] == 1 and again[2]["members"] == 2
        async with aiohttp.ClientSession() as http:
            await poll(lambda: list_members({world.media["a"].did, world.media["c"].did}),
                       what="media B gone from getList")

            # ``run`` keeps the records in sync from its start: media B, back in the file, rejoins.
            config_path = write_sources(tmp_path, world)
            with config_path.open("a", encoding="utf-8") as f:  # crawl the local AppView, never the internet
                f.write(f"settings:\n  bluesky_appview: {net.appview}\n")
            async with running(config_path, store, world, base_url):
                await poll(lambda: list_members(members), what="media B back in getList, by run", timeout=60)
    finally:
        store.close()


@asynccontextmanager
async def running(config: Path, store: Store, world: World, base_url: str) -> AsyncIterator[None]:
    """``aggregator run`` as a real process on the same database; stopped with SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "BLUESKY_", "MASTODON_"))}
    env.update({"AGGREGATOR_LOG_FORMAT": "json", "AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_DATABASE_URL": store.url,
                "AGGREGATOR_BASE_URL": base_url, "BLUESKY_HANDLE": world.relay.handle, "BLUESKY_APP_PASSWORD": PASSWORD})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(config.parent / "data"),
        "run", "--port", str(free_port()), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        yield
    finally:
        send(proc, signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()[-3000:]
    assert b'"event": "feedgen.sync"' in err, "the sync loop ran and succeeded"
