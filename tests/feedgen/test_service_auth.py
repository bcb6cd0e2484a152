"""The service JWT a logged-in reader's request carries: optional, but verified when sent.

Tokens are signed here with real ES256 (P-256) and ES256K (secp256k1) keys; the issuers'
DID documents are served by a PLC directory stand-in on 127.0.0.1 (plain HTTP answering
``GET /DID`` as plc.directory does), and did:web issuers by their own host. The real
route is called, built by the factory. (The AppView's real tokens are verified in
test_bluesky_network.py.)
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from atproto_crypto.did import format_multikey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aggregator.config import parse_config
from aggregator.model import BlueskyPublished
from aggregator.store import Store
from tests.building import aggregator_for

RELAY = "did:plc:relayrelayrelayrelayrelay"
READER = "did:plc:readerreaderreaderreader"
STRANGER = "did:plc:strangerstrangerstranger"
OUR_DID = "did:web:localhost%3A8080"
FEED = f"at://{RELAY}/app.bsky.feed.generator/reseau"
LXM = "app.bsky.feed.getFeedSkeleton"


class Key:
    def __init__(self, curve: ec.EllipticCurve | None = None):
        curve = curve or ec.SECP256R1()
        self.private = ec.generate_private_key(curve)
        self.alg = "ES256" if isinstance(curve, ec.SECP256R1) else "ES256K"

    def multikey(self) -> str:
        point = self.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return format_multikey(self.alg, point)

    def sign(self, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).decode().rstrip("=")

        head = header or {"typ": "JWT", "alg": self.alg}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
        r, s = utils.decode_dss_signature(self.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        order = {"ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
                 "ES256K": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141}[self.alg]
        s = min(s, order - s)  # atproto wants low-S signatures
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def document(did: str, key: Key) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"], "id": did,
        "verificationMethod": [{"id": f"{did}#atproto", "type": "Multikey", "controller": did,
                                "publicKeyMultibase": key.multikey()}],
    }


class Directory:
    """DID documents by DID, over real HTTP; counts the look-ups."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.hits: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        did = request.match_info["did"]
        self.hits.append(did)
        if did not in self.documents:
            return web.json_response({"message": "DID not registered"}, status=404)
        return web.json_response(self.documents[did])


@pytest.fixture
async def directory(aiohttp_server: Any) -> AsyncIterator[Directory]:
    d = Directory()
    app = web.Application()
    app.router.add_get("/{did}", d.handle)
    server = await aiohttp_server(app)
    d.url = str(server.make_url("")).rstrip("/")
    yield d


@pytest.fixture
async def client(tmp_path: Any, clock: Any, directory: Directory, aiohttp_client: Any) -> AsyncIterator[Any]:
    store = Store(f"sqlite:///{tmp_path / 'auth.sqlite3'}", clock=clock)
    store.upgrade()
    config = parse_config(f"sources: []\nbluesky_feed:\n  plc: {directory.url}\n  feeds:\n"
                          "    - {short_name: reseau, display_name: Réseau}\n")
    store.bluesky_feed.save_published(BlueskyPublished(did=RELAY, handle="relais.example"))
    async with aggregator_for(store, config, base_url="http://localhost:8080") as agg:
        yield await aiohttp_client(agg.web_app(with_index=False))
    store.close()


def claims(clock: Any, **overrides: Any) -> dict[str, Any]:
    base = {"iss": READER, "aud": OUR_DID, "exp": int(clock.now.timestamp()) + 60, "iat": int(clock.now.timestamp()),
            "lxm": LXM, "jti": str(time.monotonic_ns())}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


async def call(client: Any, token: str | None, *, scheme: str = "Bearer") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    resp = await client.get("/xrpc/app.bsky.feed.getFeedSkeleton", params={"feed": FEED}, headers=headers)
    return resp.status, await resp.json()


async def test_no_token_is_a_public_read_and_a_valid_one_passes(client: Any, directory: Directory, clock: Any) -> None:
    key = Key()
    directory.documents[READER] = document(READER, key)
    assert (await call(client, None))[0] == 200
    assert directory.hits == [], "an anonymous read fetches nothing"
    for _ in range(3):
        status, body = await call(client, key.sign(claims(clock)))
        assert status == 200 and body == {"feed": []}
    assert directory.hits == [READER], "the key is kept, not fetched at every request"
    k256 = Key(ec.SECP256K1())
    directory.documents[STRANGER] = document(STRANGER, k256)
    status, _ = await call(client, k256.sign(claims(clock, iss=STRANGER, lxm=None)))
    assert status == 200, "ES256K, and a token without lxm"


async def test_bad_tokens_are_refused_with_401(client: Any, directory: Directory, clock: Any) -> None:
    key, other = Key(), Key()
    directory.documents[READER] = document(READER, key)
    now = int(clock.now.timestamp())
    refused = {
        "expired": key.sign(claims(clock, exp=now - 120)),
        "no expiry": key.sign(claims(clock, exp=None)),
        "another audience": key.sign(claims(clock, aud="did:web:elsewhere.example")),
        "another method": key.sign(claims(clock, lxm="app.bsky.feed.getTimeline")),
        "signed by another key": other.sign(claims(clock)),
        "an access token": key.sign(claims(clock), {"typ": "at+jwt", "alg": "ES256"}),
        "HS256": key.sign(claims(clock), {"typ": "JWT", "alg": "HS256"}),
        "alg none": key.sign(claims(clock), {"typ": "JWT", "alg": "none"}).rsplit(".", 1)[0] + ".",
        "unknown issuer": key.sign(claims(clock, iss="did:plc:unknownunknownunknownunk")),
        "not a DID": key.sign(claims(clock, iss="https://evil.example/")),
        "garbage": "a.b.c",
        "empty": "",
        "huge": "x" * 5_000,
        "tampered": key.sign(claims(clock))[:-6] + "AAAAAA",
    }
    for why, token in refused.items():
        status, body = await call(client, token)
        assert status == 401, why
        assert body["error"] == "AuthenticationRequired", why
    status, _ = await call(client, key.sign(claims(clock)), scheme="Basic")
    assert status == 401
    assert "did:plc:unknownunknownunknownunk" in directory.hits
    assert "https://evil.example/" not in " ".join(directory.hits)
    # A failed look-up is remembered for a while: a flood of tokens naming it costs one fetch.
    before = len(directory.hits)
    for _ in range(5):
        await call(client, key.sign(claims(clock, iss="did:plc:unknownunknownunknownunk")))
    assert len(directory.hits) == before
    clock.advance(61)
    await call(client, key.sign(claims(clock, iss="did:plc:unknownunknownunknownunk")))
    assert len(directory.hits) == before + 1


async def test_a_rotated_key_is_read_again(client: Any, directory: Directory, clock: Any) -> None:
    old, new = Key(), Key()
    directory.documents[READER] = document(READER, old)
    assert (await call(client, old.sign(claims(clock))))[0] == 200
    directory.documents[READER] = document(READER, new)
    # Within a minute of the last look-up, a failing signature does not fetch again.
    assert (await call(client, new.sign(claims(clock))))[0] == 401
    assert directory.hits == [READER]
    clock.advance(61)
    assert (await call(client, new.sign(claims(clock))))[0] == 200
    assert directory.hits == [READER, READER]
    assert (await call(client, old.sign(claims(clock))))[0] == 401
    assert directory.hits == [READER, READER]
