"""Reading other servers' actors and keys, and the directory's cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from aggregator.activitypub.keys import KeyPair
from aggregator.activitypub.remote import Directory, parse_actor, parse_key
from aggregator.errors import PermanentRemoteError, TemporaryRemoteError, UnknownKeyError

ANA = "https://remote.example/users/ana"


def actor_doc(keypair: KeyPair, **changes: Any) -> dict[str, Any]:
    doc = {"id": ANA, "type": "Person", "inbox": ANA + "/inbox", "preferredUsername": "ana",
           "endpoints": {"sharedInbox": "https://remote.example/inbox"},
           "publicKey": {"id": ANA + "#main-key", "owner": ANA, "publicKeyPem": keypair.public_pem}}
    doc.update(changes)
    return doc


def test_parse_actor(keypair: KeyPair) -> None:
    actor = parse_actor(actor_doc(keypair), expected_id=ANA)
    assert (actor.id, actor.inbox, actor.shared_inbox, actor.username, actor.domain) == (
        ANA, ANA + "/inbox", "https://remote.example/inbox", "ana", "remote.example")
    assert actor.delivery_inbox == "https://remote.example/inbox"
    for bad in ({"type": "Note"}, {"inbox": None}, {"inbox": "javascript:x"}, {"id": None},
                {"inbox": "https://remote.example/" + "x" * 1100}):
        with pytest.raises(PermanentRemoteError):
            parse_actor(actor_doc(keypair, **bad))
    with pytest.raises(PermanentRemoteError, match="another origin"):
        parse_actor(actor_doc(keypair), expected_id="https://evil.example/ana")


def test_parse_key(keypair: KeyPair) -> None:
    key = parse_key(actor_doc(keypair), ANA + "#main-key")
    assert key.owner == ANA and isinstance(key.public_key, rsa.RSAPublicKey)
    # A separate Key document with an owner.
    standalone = {"id": ANA + "/key", "type": "Key", "owner": ANA, "publicKeyPem": keypair.public_pem}
    assert parse_key(standalone, ANA + "/key").owner == ANA
    # A list of keys, and an FEP-521a Ed25519 multikey.
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes_raw()
    multibase = "z" + _b58(b"\xed\x01" + raw)
    doc = actor_doc(keypair, assertionMethod=[{"id": ANA + "#ed", "type": "Multikey", "controller": ANA, "publicKeyMultibase": multibase}])
    ed = parse_key(doc, ANA + "#ed")
    assert isinstance(ed.public_key, ed25519.Ed25519PublicKey) and ed.public_key.public_bytes_raw() == raw
    with pytest.raises(UnknownKeyError):
        parse_key(actor_doc(keypair), ANA + "#other-key")
    with pytest.raises(UnknownKeyError, match="own origin"):  # a server vouching for another's actor
        parse_key({**standalone, "owner": "https://victim.example/u"}, ANA + "/key")
    with pytest.raises(UnknownKeyError):
        parse_key(actor_doc(keypair, publicKey={"id": ANA + "#main-key", "owner": ANA, "publicKeyPem": "garbage"}), ANA + "#main-key")


def _b58(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def test_directory_cache_refresh_and_errors(keypair: KeyPair, other_keypair: KeyPair) -> None:
    served = {"pair": keypair}
    fetched: list[str] = []

    async def fetch(url: str) -> Mapping[str, Any]:
        fetched.append(url)
        if "down" in url:
            raise TemporaryRemoteError("HTTP 503", url=url, status=503)
        return actor_doc(served["pair"])

    clock = Clock()
    directory = Directory(fetch, ttl=3600, refresh_interval=60, clock=clock, max_entries=2)
    first = await directory.resolve(ANA + "#main-key")
    assert first.cached is False and fetched == [ANA]
    second = await directory.resolve(ANA + "#main-key")
    assert second.cached is True and fetched == [ANA]
    assert (await directory.actor(ANA)).inbox == ANA + "/inbox" and fetched == [ANA]
    # A refresh within the refresh interval is not honoured (no fetch amplification).
    again = await directory.resolve(ANA + "#main-key", refresh=True)
    assert again.cached is False and fetched == [ANA]
    clock.t += 61
    served["pair"] = other_keypair  # the key rotated
    rotated = await directory.resolve(ANA + "#main-key", refresh=True)
    assert fetched == [ANA, ANA] and rotated.public_key.public_numbers() != first.public_key.public_numbers()  # type: ignore[union-attr]
    clock.t += 3601  # expired
    await directory.resolve(ANA + "#main-key")
    assert len(fetched) == 3
    with pytest.raises(UnknownKeyError, match="503"):
        await directory.resolve("https://down.example/u#k")


async def test_directory_coalesces_concurrent_fetches(keypair: KeyPair) -> None:
    import asyncio

    gate = asyncio.Event()
    calls = 0

    async def fetch(url: str) -> Mapping[str, Any]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return actor_doc(keypair)

    directory = Directory(fetch)
    tasks = [asyncio.create_task(directory.resolve(ANA + "#main-key")) for _ in range(20)]
    await asyncio.sleep(0.01)
    gate.set()
    keys = await asyncio.gather(*tasks)
    assert calls == 1 and {k.owner for k in keys} == {ANA}
