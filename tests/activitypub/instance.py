"""An aggregator instance with its ActivityPub actor on http://127.0.0.1:PORT, built by the factory.

``running_instance`` serves ``agg.web_app()`` (the readers' pages plus the actor's routes,
as ``serve`` and ``run`` do) on a free loopback port, with ``AGGREGATOR_BASE_URL`` set to
that address; the fan-out is tuned for tests (no spread, no stale wait, short back-off).
``RemoteActor`` is a stranger's server: an actor with a key, and an inbox that records what
it is sent, so tests can sign requests to our inbox as somebody else.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from aggregator.activitypub import signatures
from aggregator.activitypub.delivery import FanoutSettings
from aggregator.activitypub.keys import KeyPair, generate_keypair
from aggregator.factory import Aggregator
from aggregator.fediverse.federation import Federation
from aggregator.model import ActivityPubConfig, Config
from aggregator.store import Store
from tests.building import aggregator_for
from tests.conftest import free_port

AP_JSON = "application/activity+json"
TEST_FANOUT = FanoutSettings(spread_max=0.0, stale_after=0.0, backoff_base=0.05, backoff_max=0.2, jitter=0.0)


@dataclass
class Instance:
    agg: Aggregator
    base: str

    @property
    def fed(self) -> Federation:
        return self.agg.federation()

    @property
    def store(self) -> Store:
        return self.agg.store

    @property
    def actor(self) -> str:
        return self.fed.urls.actor

    @property
    def inbox(self) -> str:
        return self.fed.urls.inbox


def with_actor(config: Config, **keys: Any) -> Config:
    """``config`` with an ``activitypub:`` section."""
    return replace(config, activitypub=ActivityPubConfig(**{"username": "relay", "name": "Médias libres", **keys}))


@asynccontextmanager
async def running_instance(store: Store, config: Config, *, port: int | None = None, **tuning: Any) -> AsyncIterator[Instance]:
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    tuning.setdefault("fanout", TEST_FANOUT)
    async with aggregator_for(store, config, base_url=base, **tuning) as agg:
        runner = web.AppRunner(agg.web_app(with_index=False), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Instance(agg, base)
        finally:
            await runner.cleanup()


@dataclass
class RemoteActor:
    """A stranger's server on loopback: ``/users/NAME`` (with its key) and a recording inbox."""

    origin: str
    keys: KeyPair
    name: str = "mallory"
    received: list[dict[str, Any]] = field(default_factory=list)
    inbox_status: int = 202

    @property
    def actor(self) -> str:
        return f"{self.origin}/users/{self.name}"

    @property
    def key_id(self) -> str:
        return f"{self.actor}#main-key"

    @property
    def inbox(self) -> str:
        return f"{self.actor}/inbox"

    def document(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": self.actor, "type": "Person", "preferredUsername": self.name, "inbox": self.inbox,
            "endpoints": {"sharedInbox": f"{self.origin}/inbox"},
            "publicKey": {"id": self.key_id, "owner": self.actor, "publicKeyPem": self.keys.public_pem},
        }

    def activity(self, kind: str, obj: Any, *, suffix: str = "1") -> dict[str, Any]:
        return {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{self.origin}/activities/{kind.lower()}/{suffix}",
                "type": kind, "actor": self.actor, "object": obj}

    def signed(self, inbox: str, body: bytes, *, key: KeyPair | None = None, key_id: str | None = None) -> dict[str, str]:
        headers = signatures.sign("cavage", "POST", inbox, {}, body, key_id=key_id or self.key_id,
                                  private_key=(key or self.keys).private_key(), now=datetime.now(UTC))
        return {**headers, "Content-Type": AP_JSON}

    async def post(self, inbox: str, doc: Any, **kwargs: Any) -> tuple[int, str]:
        body = json.dumps(doc).encode() if not isinstance(doc, bytes) else doc
        async with aiohttp.ClientSession() as http, http.post(inbox, data=body, headers=self.signed(inbox, body, **kwargs)) as r:
            return r.status, await r.text()


@asynccontextmanager
async def remote_actor(name: str = "mallory", keys: KeyPair | None = None) -> AsyncIterator[RemoteActor]:
    port = free_port()
    remote = RemoteActor(origin=f"http://127.0.0.1:{port}", keys=keys or generate_keypair(), name=name)

    async def actor(_: web.Request) -> web.Response:
        return web.Response(body=json.dumps(remote.document()).encode(), content_type=AP_JSON)

    async def inbox(request: web.Request) -> web.Response:
        remote.received.append(json.loads(await request.read()))
        return web.Response(status=remote.inbox_status)

    app = web.Application()
    app.router.add_get(f"/users/{name}", actor)
    app.router.add_post(f"/users/{name}/inbox", inbox)
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield remote
    finally:
        await runner.cleanup()
