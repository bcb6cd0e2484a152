"""The checks a POST to our inbox passes before anything in it is believed.

The inbox is a public door: anybody can POST anything. :meth:`Inbox.receive` takes the
request as plain values (no aiohttp here) and either returns an :class:`Accepted` activity or
raises an :class:`~aggregator.errors.InboxRejected` subclass whose ``status`` is the HTTP
status to answer (and ``reason`` a short code for logs and metrics). In order, cheapest first:

1. ``405`` anything but POST; ``413`` a body over the cap (1 MiB; :meth:`Inbox.check_length`
   refuses a declared ``Content-Length`` before the body is read);
2. ``401`` no signature at all (nothing further is parsed);
3. ``403`` the signing key's domain is blocked; ``429`` its host exceeded its token bucket;
4. ``400`` the body is not a JSON object with a string ``id``, ``type`` and ``actor``, or the
   type is not one we know (types we know but ignore, such as ``Like``, are accepted);
5. ``403`` the actor's domain is blocked;
6. ``401`` the signature fails: wrong key, tampered body (digest), date outside the window,
   uncovered components, key unobtainable; then the key's owner must be the activity's actor
   and the activity id must live on the actor's origin;
7. ``202`` with ``duplicate=True``: the activity id (or the very same signature) was seen
   before: accepted again idempotently and not handed on (replay protection).

Only step 7 writes (the replay guard), and only for a verified request: an unsigned or
mis-signed request never leaves a trace.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import http_sfv

from ..errors import (
    ActivityTooLargeError,
    BlockedDomainError,
    DigestMismatchError,
    MalformedActivityError,
    MethodNotAllowedError,
    MissingSignatureError,
    RateLimitedError,
    SignatureError,
    SignatureWindowError,
    UnauthenticatedActivityError,
    UnknownKeyError,
)
from ..model import Clock, utcnow
from .batching import GroupCommit
from .remote import domain_of, id_of, origin_of
from .signatures import DEFAULT_WINDOW, KeyResolver, Message, Scheme, parse_cavage, verify

MAX_BODY = 1 << 20
#: Activities we act on.
HANDLED_TYPES = frozenset({"Follow", "Undo", "Accept", "Reject", "Create", "Update", "Delete", "Announce"})
#: Activities we know and quietly accept without acting (answering 400 would make their
#: senders log errors for what is normal traffic).
IGNORED_TYPES = frozenset({
    "Like", "Dislike", "EmojiReact", "Add", "Remove", "Move", "Block", "Flag", "View", "Read",
    "Question", "TentativeAccept", "TentativeReject", "Invite", "Join", "Leave", "Listen",
})


@dataclass(frozen=True)
class InboxSettings:
    max_body: int = MAX_BODY
    window: float = DEFAULT_WINDOW  # seconds either way for Date/created
    remember: float = 3 * 86400.0  # seconds an activity id is remembered (replays, retries)
    rate: float = 5.0  # requests per second per remote host, sustained
    burst: float = 200.0  # and in a burst (a busy instance delivering a backlog)


@dataclass(frozen=True)
class InboxRequest:
    """A POST as received; ``url`` is the target URI rebuilt from the public base URL."""

    method: str
    url: str
    headers: Mapping[str, str] | Iterable[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Accepted:
    """A verified activity (answer 202)."""

    activity: dict[str, Any]
    actor: str
    key_id: str
    scheme: Scheme
    duplicate: bool = False
    replay_keys: tuple[str, ...] = ()  # what the replay guard remembered for it (``Inbox.forget``)

    @property
    def type(self) -> str:
        return str(self.activity["type"])

    @property
    def handled(self) -> bool:
        """True when the handlers have something to do with it."""
        return not self.duplicate and self.type in HANDLED_TYPES

    status = 202


class ReplayGuard(Protocol):
    """Remembers keys (activity ids, signatures) until they expire."""

    async def remember_all(self, keys: Sequence[tuple[str, datetime]]) -> list[bool]:
        """Record each key until its expiry; True for a key not known yet (False: a replay)."""
        ...

    def forget(self, key: str) -> None:
        """Drop ``key`` (handling failed, so the sender's retry is not a replay)."""
        ...


class MemoryReplayGuard:
    """A bounded in-process :class:`ReplayGuard` (tests, benchmarks, single process)."""

    def __init__(self, clock: Clock = utcnow, max_entries: int = 100_000):
        self.clock = clock
        self.max_entries = max_entries
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def remember(self, key: str, expires: datetime) -> bool:
        now = self.clock()
        known = self._seen.get(key)
        if known is not None and known > now:
            return False
        self._seen[key] = expires
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return True

    async def remember_all(self, keys: Sequence[tuple[str, datetime]]) -> list[bool]:
        return [self.remember(key, expires) for key, expires in keys]

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


class SeenKeys(Protocol):
    """A store of remembered keys (``Store.ap_seen``): synchronous, one transaction per call."""

    def remember_all(self, keys: Sequence[tuple[str, datetime]]) -> list[bool]: ...

    def forget(self, key: str) -> None: ...


class StoredReplayGuard:
    """The :class:`ReplayGuard` over the database: what concurrent requests remember is
    written in one transaction (``batching.GroupCommit``), in a thread."""

    def __init__(self, seen: SeenKeys):
        self.seen = seen
        self.commits: GroupCommit[tuple[str, datetime], bool] = GroupCommit(seen.remember_all)

    async def remember_all(self, keys: Sequence[tuple[str, datetime]]) -> list[bool]:
        return await self.commits.submit(keys)

    def forget(self, key: str) -> None:
        self.seen.forget(key)


class RateLimiter:
    """A token bucket per remote host, in memory, with an injectable monotonic clock."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic, max_hosts: int = 50_000):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_hosts = max_hosts
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host -> (tokens, at)

    def take(self, host: str) -> float | None:
        """Spend one token of ``host``: None when allowed, else the seconds until the next one."""
        now = self.clock()
        tokens, at = self._buckets.get(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[host] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0
        self._buckets[host] = (tokens - 1.0, now)
        self._buckets.move_to_end(host)
        while len(self._buckets) > self.max_hosts:
            self._buckets.popitem(last=False)  # the least recently seen host starts afresh
        return None


class DomainBlocklist:
    """The operator's ``blocked_domains``: a domain blocks its subdomains too."""

    def __init__(self, domains: Iterable[str] = ()):
        self.domains = frozenset(d.strip().lower().strip(".") for d in domains if d.strip())

    def __call__(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


def signing_key_id(message: Message) -> str | None:
    """The key id a request claims, read without verifying anything (None if unreadable)."""
    signature_input = message.header("signature-input")
    if signature_input is not None:
        parsed = http_sfv.Dictionary()
        try:
            parsed.parse(signature_input.encode("latin-1"))
        except (ValueError, UnicodeEncodeError):
            return None
        for member in parsed.values():
            key_id = getattr(member, "params", {}).get("keyid")
            if isinstance(key_id, str):
                return key_id
        return None
    header = message.header("signature")
    if header is None:
        authorization = message.header("authorization") or ""
        if not authorization.lower().startswith("signature "):
            return None
        header = authorization[len("signature ") :]
    try:
        return parse_cavage(header)["keyId"]
    except SignatureError:
        return None


_SIGNATURE_REASONS: list[tuple[type[SignatureError], str]] = [
    (MissingSignatureError, "signature_incomplete"),
    (DigestMismatchError, "digest_mismatch"),
    (SignatureWindowError, "date_out_of_window"),
    (UnknownKeyError, "unknown_key"),
]


class Inbox:
    """The verification pipeline (see the module docstring)."""

    def __init__(
        self, *, resolver: KeyResolver, replay: ReplayGuard, limiter: RateLimiter,
        blocked: Callable[[str], bool] | None = None, settings: InboxSettings | None = None,
        clock: Clock = utcnow,
    ):
        self.resolver = resolver
        self.replay = replay
        self.limiter = limiter
        self.blocked: Callable[[str], bool] = blocked if blocked is not None else DomainBlocklist()
        self.settings = settings if settings is not None else InboxSettings()
        self.clock = clock

    def check_length(self, content_length: int | None) -> None:
        """Refuse a declared body over the cap before reading it (413)."""
        if content_length is not None and content_length > self.settings.max_body:
            raise ActivityTooLargeError(f"body over {self.settings.max_body} bytes", reason="too_large")

    async def receive(self, request: InboxRequest) -> Accepted:
        if request.method.upper() != "POST":
            raise MethodNotAllowedError("an inbox only takes POST", reason="method")
        if len(request.body) > self.settings.max_body:
            raise ActivityTooLargeError(f"body over {self.settings.max_body} bytes", reason="too_large")
        message = Message.create(request.method, request.url, request.headers, request.body)
        key_id = signing_key_id(message)
        if key_id is None:
            raise UnauthenticatedActivityError("unsigned request", reason="unsigned")
        key_host = domain_of(key_id)
        if not key_host:
            raise UnauthenticatedActivityError("the key id is not a URL", reason="bad_signature")
        if self.blocked(key_host):
            raise BlockedDomainError(f"{key_host} is blocked", reason="blocked_domain")
        wait = self.limiter.take(key_host)
        if wait is not None:
            raise RateLimitedError(f"too many requests from {key_host}", reason="rate_limited", retry_after=wait)
        activity = parse_activity(request.body)
        actor = id_of(activity.get("actor"))
        assert actor is not None  # parse_activity checked it
        actor_host = domain_of(actor)
        if self.blocked(actor_host):
            raise BlockedDomainError(f"{actor_host} is blocked", reason="blocked_domain")
        now = self.clock()
        try:
            verified = await verify(message, self.resolver, now=now, window=self.settings.window)
        except SignatureError as exc:
            reason = next((code for cls, code in _SIGNATURE_REASONS if isinstance(exc, cls)), "bad_signature")
            raise UnauthenticatedActivityError(str(exc), reason=reason) from exc
        if verified.key.owner != actor:
            raise UnauthenticatedActivityError(
                f"signed by {verified.key.owner}, not by the actor {actor}", reason="actor_not_signer"
            )
        if origin_of(str(activity["id"])) != origin_of(actor):
            raise UnauthenticatedActivityError("the activity id is not on the actor's origin", reason="foreign_id")
        expires = now + timedelta(seconds=self.settings.remember)
        keys = _replay_keys(message, activity)
        new_signature, new_id = await self.replay.remember_all(
            [(keys[0], now + timedelta(seconds=2 * self.settings.window)), (keys[1], expires)])
        return Accepted(
            activity=activity, actor=actor, key_id=verified.key.key_id, scheme=verified.scheme,
            duplicate=not (new_signature and new_id), replay_keys=keys if new_signature and new_id else (),
        )

    def forget(self, accepted: Accepted) -> None:
        """Handling ``accepted`` failed (say, the follower's actor could not be fetched): let
        the sender's retry through instead of taking it for a replay."""
        for key in accepted.replay_keys:
            self.replay.forget(key)


def _replay_keys(message: Message, activity: Mapping[str, Any]) -> tuple[str, str]:
    signature = message.header("signature") or ""
    return ("sig:" + hashlib.sha256(signature.encode()).hexdigest(),
            "id:" + hashlib.sha256(str(activity["id"]).encode()).hexdigest())


def parse_activity(body: bytes) -> dict[str, Any]:
    """The body as an activity we know, or MalformedActivityError (400)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedActivityError("body is not JSON", reason="malformed_json") from exc
    if not isinstance(doc, dict):
        raise MalformedActivityError("body is not a JSON object", reason="not_an_object")
    kind = doc.get("type")
    if not isinstance(kind, str):
        raise MalformedActivityError("activity without a type", reason="unknown_shape")
    if kind not in HANDLED_TYPES and kind not in IGNORED_TYPES:
        raise MalformedActivityError(f"unknown activity type {kind[:40]!r}", reason="unknown_type")
    activity_id = doc.get("id")
    if not isinstance(activity_id, str) or not origin_of(activity_id):
        raise MalformedActivityError("activity without an id URL", reason="unknown_shape")
    actor = id_of(doc.get("actor"))
    if actor is None or not origin_of(actor):
        raise MalformedActivityError("activity without an actor URL", reason="unknown_shape")
    if "object" not in doc:
        raise MalformedActivityError("activity without an object", reason="unknown_shape")
    return doc
