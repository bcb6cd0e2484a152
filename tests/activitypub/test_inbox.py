"""The inbox's verification pipeline: every rejection path, with hostile bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.activitypub import signatures
from aggregator.activitypub.inbox import (
    DomainBlocklist,
    Inbox,
    InboxRequest,
    InboxSettings,
    MemoryReplayGuard,
    RateLimiter,
)
from aggregator.activitypub.keys import KeyPair
from aggregator.errors import (
    ActivityTooLargeError,
    BlockedDomainError,
    InboxRejected,
    MalformedActivityError,
    MethodNotAllowedError,
    RateLimitedError,
    UnauthenticatedActivityError,
)
from tests.conftest import FrozenClock

from .conftest import StaticResolver

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
INBOX = "https://agg.example/ap/inbox"
ANA = "https://remote.example/users/ana"
KEY = f"{ANA}#main-key"


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def follow(**changes: Any) -> dict[str, Any]:
    doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": "https://remote.example/follows/1",
           "type": "Follow", "actor": ANA, "object": "https://agg.example/ap/actor"}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def request(keypair: KeyPair, body: bytes | dict[str, Any], *, scheme: signatures.Scheme = "cavage",
            key_id: str = KEY, now: datetime = NOW, method: str = "POST") -> InboxRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/activity+json"}
    headers |= signatures.sign(scheme, "POST", INBOX, headers, raw, key_id=key_id, private_key=keypair.private_key(), now=now)
    return InboxRequest(method=method, url=INBOX, headers=headers, body=raw)


@pytest.fixture
def setup(keypair: KeyPair, resolver: StaticResolver) -> tuple[Inbox, StaticResolver, Monotonic, FrozenClock]:
    resolver.add(KEY, ANA, keypair.public_pem)
    clock = FrozenClock(NOW)
    mono = Monotonic()
    inbox = Inbox(resolver=resolver, replay=MemoryReplayGuard(clock), limiter=RateLimiter(1.0, 100, clock=mono),
                  blocked=DomainBlocklist(["blocked.example"]), settings=InboxSettings(max_body=10_000), clock=clock)
    return inbox, resolver, mono, clock


async def rejected(inbox: Inbox, req: InboxRequest, cls: type[InboxRejected], reason: str, status: int) -> InboxRejected:
    with pytest.raises(cls) as info:
        await inbox.receive(req)
    assert (info.value.status, info.value.reason) == (status, reason), str(info.value)
    return info.value


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
async def test_accepted_then_duplicate(scheme: signatures.Scheme, setup: Any, keypair: KeyPair) -> None:
    inbox, *_ = setup
    first = await inbox.receive(request(keypair, follow(), scheme=scheme))
    assert (first.status, first.type, first.actor, first.key_id, first.scheme) == (202, "Follow", ANA, KEY, scheme)
    assert first.handled and not first.duplicate
    # The same activity again (a retry, or a replay with a fresh signature): idempotent.
    again = await inbox.receive(request(keypair, follow(), scheme=scheme, now=NOW + timedelta(seconds=30)))
    assert again.duplicate and not again.handled
    # The very same bytes and signature under a new id is impossible (digest), so: same request twice.
    req = request(keypair, follow(id="https://remote.example/follows/2"), scheme=scheme)
    assert not (await inbox.receive(req)).duplicate
    assert (await inbox.receive(req)).duplicate


async def test_ignored_types_are_accepted_but_not_handled(setup: Any, keypair: KeyPair) -> None:
    inbox, *_ = setup
    like = await inbox.receive(request(keypair, follow(type="Like", id="https://remote.example/likes/1")))
    assert like.status == 202 and not like.handled


async def test_method_and_size(setup: Any, keypair: KeyPair) -> None:
    inbox, resolver, *_ = setup
    await rejected(inbox, request(keypair, follow(), method="GET"), MethodNotAllowedError, "method", 405)
    with pytest.raises(ActivityTooLargeError):
        inbox.check_length(10_001)
    inbox.check_length(10_000)
    inbox.check_length(None)
    huge = follow(content="x" * 20_000)
    await rejected(inbox, request(keypair, huge), ActivityTooLargeError, "too_large", 413)
    assert resolver.calls == []


async def test_unsigned(setup: Any) -> None:
    inbox, resolver, *_ = setup
    body = json.dumps(follow()).encode()
    await rejected(inbox, InboxRequest("POST", INBOX, {"Content-Type": "application/json"}, body),
                   UnauthenticatedActivityError, "unsigned", 401)
    await rejected(inbox, InboxRequest("POST", INBOX, {"Signature": "garbage"}, body),
                   UnauthenticatedActivityError, "unsigned", 401)
    await rejected(inbox, InboxRequest("POST", INBOX, {"Signature": 'keyId="not a url",signature="AA=="'}, body),
                   UnauthenticatedActivityError, "bad_signature", 401)
    assert resolver.calls == []


async def test_blocked_domains(setup: Any, keypair: KeyPair, resolver: StaticResolver) -> None:
    inbox, *_ = setup
    key = "https://sub.blocked.example/u#k"
    resolver.add(key, "https://sub.blocked.example/u", keypair.public_pem)
    await rejected(inbox, request(keypair, follow(actor="https://sub.blocked.example/u"), key_id=key),
                   BlockedDomainError, "blocked_domain", 403)
    # Signed by an allowed host, claiming a blocked actor.
    await rejected(inbox, request(keypair, follow(actor="https://blocked.example/u")), BlockedDomainError, "blocked_domain", 403)
    assert resolver.calls == []


async def test_rate_limit_per_host(setup: Any, keypair: KeyPair, resolver: StaticResolver) -> None:
    inbox, _, mono, _ = setup
    inbox.limiter = RateLimiter(1.0, 3, clock=mono)
    other_key = "https://other.example/u#k"
    resolver.add(other_key, "https://other.example/u", keypair.public_pem)
    for i in range(3):  # the burst
        await inbox.receive(request(keypair, follow(id=f"https://remote.example/f/{i}")))
    error = await rejected(inbox, request(keypair, follow(id="https://remote.example/f/9")), RateLimitedError, "rate_limited", 429)
    assert error.retry_after == pytest.approx(1.0)
    # Another host is not affected.
    await inbox.receive(request(keypair, follow(id="https://other.example/f/1", actor="https://other.example/u"), key_id=other_key))
    mono.t += 1.0
    await inbox.receive(request(keypair, follow(id="https://remote.example/f/10")))


@pytest.mark.parametrize("body,reason", [
    (b"{not json", "malformed_json"),
    (b"\xff\xfe\x00garbage", "malformed_json"),
    (b"[" * 5000 + b"]" * 5000, "malformed_json"),
    (b'["a list"]', "not_an_object"),
    (b'"a string"', "not_an_object"),
    (json.dumps(follow(type=None)).encode(), "unknown_shape"),
    (json.dumps(follow(type=["Follow"])).encode(), "unknown_shape"),
    (json.dumps(follow(type="Hack")).encode(), "unknown_type"),
    (json.dumps(follow(id=None)).encode(), "unknown_shape"),
    (json.dumps(follow(id="urn:uuid:1")).encode(), "unknown_shape"),
    (json.dumps(follow(actor=None)).encode(), "unknown_shape"),
    (json.dumps(follow(actor={"name": "no id"})).encode(), "unknown_shape"),
    (json.dumps(follow(object=None)).encode(), "unknown_shape"),
])
async def test_malformed_bodies(setup: Any, keypair: KeyPair, body: bytes, reason: str) -> None:
    inbox, resolver, *_ = setup
    await rejected(inbox, request(keypair, body), MalformedActivityError, reason, 400)
    assert resolver.calls == []


async def test_signature_failures(setup: Any, keypair: KeyPair, other_keypair: KeyPair, resolver: StaticResolver) -> None:
    inbox, *_ = setup
    good = request(keypair, follow())
    tampered = InboxRequest("POST", INBOX, good.headers, json.dumps(follow(object="https://agg.example/x")).encode())
    await rejected(inbox, tampered, UnauthenticatedActivityError, "digest_mismatch", 401)
    await rejected(inbox, request(other_keypair, follow()), UnauthenticatedActivityError, "bad_signature", 401)
    await rejected(inbox, request(keypair, follow(), now=NOW - timedelta(hours=2)), UnauthenticatedActivityError, "date_out_of_window", 401)
    await rejected(inbox, request(keypair, follow(), key_id="https://remote.example/unknown#k"), UnauthenticatedActivityError, "unknown_key", 401)
    # Another inbox's request replayed at ours.
    elsewhere = request(keypair, follow())
    moved = InboxRequest("POST", "https://agg.example/ap/other", elsewhere.headers, elsewhere.body)
    await rejected(inbox, moved, UnauthenticatedActivityError, "bad_signature", 401)
    # Fewer covered headers than we require.
    headers = dict(good.headers)
    headers["Signature"] = headers["Signature"].replace('headers="(request-target) host date digest"', 'headers="date"')
    await rejected(inbox, InboxRequest("POST", INBOX, headers, good.body), UnauthenticatedActivityError, "signature_incomplete", 401)


async def test_actor_must_be_the_signer(setup: Any, keypair: KeyPair, resolver: StaticResolver) -> None:
    inbox, *_ = setup
    # Bo's valid key signs an activity claiming to be from Ana.
    resolver.add("https://remote.example/users/bo#main-key", "https://remote.example/users/bo", keypair.public_pem)
    await rejected(inbox, request(keypair, follow(), key_id="https://remote.example/users/bo#main-key"),
                   UnauthenticatedActivityError, "actor_not_signer", 401)
    # An id on another origin than the actor's.
    await rejected(inbox, request(keypair, follow(id="https://victim.example/f/1")), UnauthenticatedActivityError, "foreign_id", 401)


async def test_nothing_remembered_from_rejected_requests(setup: Any, keypair: KeyPair, other_keypair: KeyPair) -> None:
    """A forged request must not poison the replay guard for the real one."""
    inbox, *_ = setup
    await rejected(inbox, request(other_keypair, follow()), UnauthenticatedActivityError, "bad_signature", 401)
    assert not (await inbox.receive(request(keypair, follow()))).duplicate


def test_rate_limiter_bounded_and_refilling() -> None:
    mono = Monotonic()
    limiter = RateLimiter(2.0, 2, clock=mono, max_hosts=3)
    assert limiter.take("a") is None and limiter.take("a") is None
    assert limiter.take("a") == pytest.approx(0.5)
    mono.t += 0.5
    assert limiter.take("a") is None
    for host in "bcde":
        limiter.take(host)
    assert len(limiter._buckets) == 3


def test_domain_blocklist() -> None:
    block = DomainBlocklist(["Spam.Example.", " ", "x.test"])
    assert block("spam.example") and block("a.b.spam.example") and block("SPAM.EXAMPLE.")
    assert not block("notspam.example") and not block("example") and not block("x.testing")


def test_memory_replay_guard_expiry() -> None:
    clock = FrozenClock(NOW)
    guard = MemoryReplayGuard(clock, max_entries=2)
    assert guard.remember("a", NOW + timedelta(minutes=1)) and not guard.remember("a", NOW + timedelta(minutes=1))
    clock.advance(120)
    assert guard.remember("a", clock.now + timedelta(minutes=1))
    guard.remember("b", clock.now + timedelta(minutes=1))
    guard.remember("c", clock.now + timedelta(minutes=1))
    assert len(guard._seen) == 2
