"""Benchmark of the ActivityPub actor: the fan-out and the inbox, each beside its ceiling.

* **Fan-out**: one story to 1,000 followers on 100 loopback servers (10 followers each,
  behind one shared inbox: 100 deliveries), through the real path (the write path queues
  the story, ``relay.run_once`` publishes the Create and the fan-out signs and POSTs it,
  recording every outcome in the store). Ceiling: the same 100 signed POSTs (draft-cavage,
  the same key) from one aiohttp client at the same concurrency. Several stories in a row;
  the median is kept.
* **Inbox**: 2,000 signed ``Create(Note)`` activities from 20 actors (keys served by a
  loopback server, fetched once and cached) POSTed to ``/ap/inbox`` of the app ``serve``
  builds, which verifies every signature and digest, records each id in the replay guard
  and hands it to the handler. Ceiling: an aiohttp handler that only reads the body.
  The per-host rate limit is lifted for the run (every actor is on 127.0.0.1).

The receivers (and, for the inbox, our server) run in another process. Prints ONE JSON
line. Not a test: figures depend on the machine.

    .venv/bin/python bench/activitypub.py [--followers 1000] [--servers 100] [--stories 5]
                                          [--activities 2000] [--actors 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import queue
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import ClientSession, TCPConnector, web  # noqa: E402

from aggregator.activitypub import signatures  # noqa: E402
from aggregator.activitypub.delivery import FanoutSettings  # noqa: E402
from aggregator.activitypub.keys import generate_keypair, load_private_key  # noqa: E402
from aggregator.factory import Tuning, make_aggregator  # noqa: E402
from aggregator.model import ActivityPubConfig, Config, EntryData, RelayConfig, SourceConfig  # noqa: E402
from aggregator.settings import Settings  # noqa: E402
from aggregator.store import Store  # noqa: E402
from aggregator.update.ingest import RelayPolicy, ingest  # noqa: E402

AP_JSON = "application/activity+json"
SOURCE = SourceConfig(slug="media", name="Média", kind="feed", url="https://media.example/feed", language="fr")


def bound_socket() -> socket.socket:
    """A listening address of our own: the server process binds it, so no other process
    on a busy machine can take the port between its choice and its use."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def settings(data: Path, base_url: str) -> Settings:
    config = Config(sources=(SOURCE,), relay=RelayConfig(max_posts_per_hour=1_000_000), activitypub=ActivityPubConfig())
    return Settings(config_path=data / "sources.yaml", data_dir=data, database_url=f"sqlite:///{data / 'ap.sqlite3'}",
                    config=config, allow_private_networks=True, base_url=base_url)


# -- processes ----------------------------------------------------------------------------


def receivers(count: int, ready: Any) -> None:
    """Follower servers: one shared inbox per port, answering 202 after reading the body."""
    async def main() -> None:
        async def inbox(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=202)
        app = web.Application()
        app.router.add_post("/inbox", inbox)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        socks = [bound_socket() for _ in range(count)]
        for sock in socks:
            await web.SockSite(runner, sock).start()
        ready.put([sock.getsockname()[1] for sock in socks])
        await asyncio.Event().wait()
    asyncio.run(main())


def inbox_server(data: str, ceiling: bool, ready: Any) -> None:
    """Our app as ``serve`` builds it (or the ceiling: a handler that only reads the body)."""
    async def main() -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        if ceiling:
            async def read(request: web.Request) -> web.Response:
                await request.read()
                return web.Response(status=202)
            app = web.Application(client_max_size=1 << 20)
            app.router.add_post("/ap/inbox", read)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            ready.put(port)
            await asyncio.Event().wait()
        async with make_aggregator(settings(Path(data), f"http://127.0.0.1:{port}"), tuning=Tuning(page_cache_seconds=0)) as agg:
            app = agg.web_app(with_index=False)
            limiter = agg.federation().inbox.limiter
            limiter.rate, limiter.burst = 1e9, 1e9
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            ready.put(port)
            await asyncio.Event().wait()
    asyncio.run(main())


def actors_server(pems: dict[str, str], ready: Any) -> None:
    async def main() -> None:
        sock = bound_socket()
        port = sock.getsockname()[1]
        async def actor(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            me = f"http://127.0.0.1:{port}/users/{name}"
            doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": me, "type": "Person", "inbox": f"{me}/inbox",
                   "publicKey": {"id": f"{me}#main-key", "owner": me, "publicKeyPem": pems[name]}}
            return web.Response(body=json.dumps(doc).encode(), content_type=AP_JSON)
        app = web.Application()
        app.router.add_get("/users/{name}", actor)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        ready.put(port)
        await asyncio.Event().wait()
    asyncio.run(main())


def start(target: Any, *args: Any) -> tuple[multiprocessing.Process, Any]:
    """The server process, and what it reports once listening (its port or ports)."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, ready), daemon=True)
    process.start()
    try:
        return process, ready.get(timeout=120)
    except queue.Empty:
        process.terminate()
        raise RuntimeError(f"{target.__name__} did not start") from None


# -- the fan-out ----------------------------------------------------------------------------


async def fanout(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    process, ports = start(receivers, args.servers)
    try:
        inboxes = [f"http://127.0.0.1:{p}/inbox" for p in ports]
        fan = FanoutSettings(spread_max=0.0, concurrency=args.concurrency)
        ours: list[float] = []
        async with make_aggregator(settings(data, "https://medias.example"), tuning=Tuning(fanout=fan)) as agg:
            store = agg.store
            actor = agg.federation().urls.actor
            for i in range(args.followers):
                server = i % args.servers
                store.ap_followers.add_follower(
                    local_actor=actor, actor_id=f"http://127.0.0.1:{ports[server]}/users/u{i}",
                    inbox=f"http://127.0.0.1:{ports[server]}/users/u{i}/inbox", shared_inbox=inboxes[server],
                    follow_id=f"http://127.0.0.1:{ports[server]}/follows/{i}")
            relay = await agg.relay()
            policy = RelayPolicy(targets=("activitypub",), synced=("activitypub",))
            for n in range(args.stories + 1):
                entry = EntryData(guid=f"s{n}", url=f"https://media.example/{n}", title=f"Histoire numéro {n}",
                                  text="Un résumé de l'histoire.", tags=("communs", "grève"), content_hash=str(n))
                ingest(store, SOURCE, [entry], now=store.db.clock(), policy=policy)
                started = time.perf_counter()
                reports = await relay.run_once()
                seconds = time.perf_counter() - started
                delivered = sum(1 for r in reports if r.get("state") == "delivered")
                assert delivered == args.servers, reports[:3]
                if n:  # the first story warms the connections
                    ours.append(seconds)
            key_id, private_pem = agg.federation().urls.key_id, agg.federation().keys.private_pem
        ceiling = await signed_posts(inboxes, key_id, private_pem, args)
        our_rate = args.servers / statistics.median(ours)
        return {"followers": args.followers, "servers": args.servers, "deliveries": args.servers,
                "seconds": round(statistics.median(ours), 4), "deliveries_per_s": round(our_rate, 1),
                "ceiling_per_s": round(ceiling, 1), "ratio": round(our_rate / ceiling, 3)}
    finally:
        process.terminate()


async def signed_posts(inboxes: list[str], key_id: str, private_pem: str, args: argparse.Namespace) -> float:
    """The ceiling: the same number of signed POSTs from one aiohttp client (median of rounds)."""
    key = load_private_key(private_pem)
    rates = []
    async with ClientSession(connector=TCPConnector(limit=0)) as http:
        gate = asyncio.Semaphore(args.concurrency)

        async def one(inbox: str, n: int) -> None:
            body = json.dumps({"@context": "https://www.w3.org/ns/activitystreams", "id": f"https://medias.example/x/{n}",
                               "type": "Create", "actor": "https://medias.example/ap/actor",
                               "object": {"type": "Note", "content": "x" * 600}}).encode()
            async with gate:
                headers = signatures.sign("cavage", "POST", inbox, {}, body, key_id=key_id, private_key=key,
                                          now=datetime.now(UTC))
                async with http.post(inbox, data=body, headers={**headers, "Content-Type": AP_JSON}) as r:
                    await r.read()
                    assert r.status == 202

        for n in range(args.stories + 1):
            started = time.perf_counter()
            await asyncio.gather(*(one(inbox, n) for inbox in inboxes))
            if n:
                rates.append(len(inboxes) / (time.perf_counter() - started))
    return statistics.median(rates)


# -- the inbox ------------------------------------------------------------------------------


async def inbox(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    keys = {f"a{i}": generate_keypair() for i in range(args.actors)}
    actors, actors_port = start(actors_server, {name: k.public_pem for name, k in keys.items()})
    results: dict[str, float] = {}
    try:
        for kind in ("ours", "ceiling"):
            server, port = start(inbox_server, str(data / kind), kind == "ceiling")
            try:
                target = f"http://127.0.0.1:{port}/ap/inbox"
                requests = []
                for n in range(args.activities):
                    name = f"a{n % args.actors}"
                    me = f"http://127.0.0.1:{actors_port}/users/{name}"
                    body = json.dumps({
                        "@context": "https://www.w3.org/ns/activitystreams", "id": f"{me}/creates/{n}", "type": "Create",
                        "actor": me, "to": ["https://www.w3.org/ns/activitystreams#Public"],
                        "object": {"id": f"{me}/notes/{n}", "type": "Note", "attributedTo": me,
                                   "content": "<p>" + "Un message de quelques phrases. " * 12 + "</p>"},
                    }).encode()
                    headers = signatures.sign("cavage", "POST", target, {}, body, key_id=f"{me}#main-key",
                                              private_key=keys[name].private_key(), now=datetime.now(UTC))
                    requests.append((body, {**headers, "Content-Type": AP_JSON}))
                results[kind] = await drive(target, requests, args.concurrency)
            finally:
                server.terminate()
    finally:
        actors.terminate()
    return {"activities": args.activities, "actors": args.actors, "per_s": round(results["ours"], 1),
            "ceiling_per_s": round(results["ceiling"], 1), "ratio": round(results["ours"] / results["ceiling"], 3)}


async def drive(target: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int) -> float:
    async with ClientSession(connector=TCPConnector(limit=0)) as http:
        pending = list(reversed(requests))
        statuses: dict[int, int] = {}

        async def worker() -> None:
            while pending:
                body, headers = pending.pop()
                async with http.post(target, data=body, headers=headers) as r:
                    await r.read()
                    statuses[r.status] = statuses.get(r.status, 0) + 1

        # Warm up: the first request of each actor fetches its key.
        warm, pending[:] = pending[-20:], pending[:-20]
        for body, headers in reversed(warm):
            async with http.post(target, data=body, headers=headers) as r:
                await r.read()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        assert set(statuses) == {202}, statuses
        return (len(requests) - len(warm)) / seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--stories", type=int, default=5)
    parser.add_argument("--activities", type=int, default=2000)
    parser.add_argument("--actors", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ap-") as tmp:
        data = Path(tmp)
        for sub in ("fanout", "ours", "ceiling"):
            (data / sub).mkdir()
            Store(f"sqlite:///{data / sub / 'ap.sqlite3'}").upgrade()
        fan = await fanout(args, data / "fanout")
        box = await inbox(args, data)
    print(json.dumps({"benchmark": "activitypub", "fanout": fan, "inbox": box}))


if __name__ == "__main__":
    asyncio.run(main())
