"""Keys and a key resolver for the ActivityPub tests (real RSA keys, generated once)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from aggregator.activitypub.keys import KeyPair, generate_keypair, load_public_key
from aggregator.activitypub.signatures import RemoteKey
from aggregator.errors import UnknownKeyError


@pytest.fixture(scope="session")
def keypair() -> KeyPair:
    return generate_keypair()


@pytest.fixture(scope="session")
def other_keypair() -> KeyPair:
    return generate_keypair()


@dataclass
class StaticResolver:
    """key id -> PEM; counts look-ups; ``stale`` serves an old key first, as a cache would."""

    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # key id -> (owner, pem)
    stale: dict[str, str] = field(default_factory=dict)  # key id -> outdated pem (cached)
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def add(self, key_id: str, owner: str, pem: str) -> None:
        self.keys[key_id] = (owner, pem)

    async def resolve(self, key_id: str, *, refresh: bool = False) -> RemoteKey:
        self.calls.append((key_id, refresh))
        if key_id not in self.keys:
            raise UnknownKeyError(f"no key {key_id}")
        owner, pem = self.keys[key_id]
        if not refresh and key_id in self.stale:
            return RemoteKey(key_id, owner, load_public_key(self.stale[key_id]), cached=True)
        return RemoteKey(key_id, owner, load_public_key(pem))


@pytest.fixture
def resolver() -> StaticResolver:
    return StaticResolver()
