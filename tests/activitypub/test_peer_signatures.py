"""Real signed requests from the Fedify peer, verified by our code.

A tiny capture server on loopback poses as an actor; the peer is told to follow it, and
signs its Follow with RFC 9421 first. The capture server answers that first knock 401, so
the peer knocks again with draft-cavage. Both captured requests must verify with our code
against alice's real key, and fail when tampered with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from aggregator.activitypub import signatures
from aggregator.activitypub.keys import generate_keypair
from aggregator.activitypub.remote import Directory
from aggregator.activitypub.signatures import Message
from aggregator.activitypub.transport import Signer, Transport, make_session
from aggregator.errors import DigestMismatchError, SignatureWindowError
from tests.conftest import free_port
from tests.peers.activitypub import ActivityPubPeer

pytestmark = [pytest.mark.peers]


@dataclass
class Capture:
    origin: str
    requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=lambda: [401])  # then 202

    @property
    def actor(self) -> str:
        return f"{self.origin}/actor"


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    port = free_port()
    cap = Capture(origin=f"http://127.0.0.1:{port}")

    async def actor(_: web.Request) -> web.Response:
        doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": cap.actor, "type": "Service",
               "preferredUsername": "capture", "inbox": f"{cap.origin}/inbox"}
        return web.Response(body=json.dumps(doc).encode(), content_type="application/activity+json")

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        cap.requests.append((request.method, cap.origin + request.path_qs, list(request.headers.items()), body))
        status = cap.answers.pop(0) if cap.answers else 202
        return web.Response(status=status)

    app = web.Application()
    app.router.add_get("/actor", actor)
    app.router.add_post("/inbox", inbox)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield cap
    finally:
        await runner.cleanup()


@pytest.fixture
async def directory() -> AsyncIterator[Directory]:
    """Keys fetched the way the inbox fetches them: signed GETs through the guarded transport."""
    pair = generate_keypair()
    private = pair.private_key()
    assert isinstance(private, rsa.RSAPrivateKey)
    async with make_session(allow_private=True, user_agent="aggregator-tests/1.0") as session:
        transport = Transport(session, Signer("http://127.0.0.1:9/nobody#main-key", private), allow_private=True)
        yield Directory(transport.get)


async def test_fedify_double_knock_verifies(activitypub_peer: ActivityPubPeer, capture: Capture, directory: Directory) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        f"{activitypub_peer.origin}/_peer/follow", json={"target": capture.actor}
    ) as response:
        answer = await response.json()
        assert response.status == 200, answer
    assert answer["to"] == f"{capture.origin}/inbox"
    assert len(capture.requests) == 2, activitypub_peer.log_tail()
    (m1, url1, h1, b1), (m2, url2, h2, b2) = capture.requests
    first = Message.create(m1, url1, h1, b1)
    second = Message.create(m2, url2, h2, b2)
    # Fact: Fedify knocks with RFC 9421 first, then draft-cavage after our 401.
    assert first.header("signature-input") is not None and first.header("content-digest") is not None
    assert second.header("signature-input") is None and (second.header("signature") or "").startswith("keyId=")
    assert b1 == b2 and json.loads(b1)["type"] == "Follow"
    now = datetime.now(UTC)

    v1 = await signatures.verify(first, directory, now=now)
    v2 = await signatures.verify(second, directory, now=now)
    assert (v1.scheme, v2.scheme) == ("rfc9421", "cavage")
    assert v1.key.owner == v2.key.owner == activitypub_peer.actor == json.loads(b1)["actor"]
    assert v1.key.key_id == v2.key.key_id == f"{activitypub_peer.actor}#main-key"
    assert {"@method", "@target-uri", "content-digest"} <= set(v1.covered)
    assert {"(request-target)", "host", "date", "digest"} <= set(v2.covered)
    assert directory.fetches == 1  # the second verification used the cached key

    # Tampered: the same signatures over another body.
    forged = json.loads(b1) | {"type": "Undo"}
    for message in (first, second):
        tampered = Message(message.method, message.url, message.headers, json.dumps(forged).encode())
        with pytest.raises(DigestMismatchError):
            await signatures.verify(tampered, directory, now=now)
    # Replayed two hours later: out of the window.
    for message in (first, second):
        with pytest.raises(SignatureWindowError):
            await signatures.verify(message, directory, now=now + timedelta(hours=2))
