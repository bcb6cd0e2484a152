"""Other servers' actors and keys: reading their documents, and a cache in front of the fetches.

A signature names its key by URL (``keyId``/``keyid``); Mastodon and Fedify serve the key
inside the actor document (``publicKey``), some servers as a separate ``Key`` document with
an ``owner``; FEP-521a actors also list Ed25519 ``Multikey`` objects in ``assertionMethod``.
The owner must live on the key's origin: a server can only vouch for its own actors.

:class:`Directory` caches both (bounded, with a time to live) and coalesces concurrent
fetches of one document; ``refresh=True`` refetches (key rotation) at most once a minute per
document, so a stream of bad signatures cannot turn us into a fetch amplifier.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from yarl import URL

from ..errors import PermanentRemoteError, RemoteError, UnknownKeyError
from .keys import load_public_key
from .signatures import PublicKey, RemoteKey

Fetch = Callable[[str], Awaitable[Mapping[str, Any]]]
ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})


@dataclass(frozen=True)
class RemoteActor:
    """What we need of another server's actor."""

    id: str
    type: str
    inbox: str
    shared_inbox: str | None = None
    username: str | None = None
    name: str | None = None
    url: str | None = None

    @property
    def domain(self) -> str:
        return domain_of(self.id)

    @property
    def delivery_inbox(self) -> str:
        """Where fan-out goes: the shared inbox when there is one."""
        return self.shared_inbox or self.inbox


def domain_of(url: str) -> str:
    """Lower-case host of ``url`` (no port): what blocks and rate limits are keyed on."""
    try:
        return (URL(url).host or "").lower().rstrip(".")
    except ValueError:
        return ""


def origin_of(url: str) -> str:
    try:
        parsed = URL(url)
    except ValueError:
        return ""
    if not parsed.is_absolute():
        return ""
    return str(parsed.origin())


def id_of(value: Any) -> str | None:
    """The id of a reference that may be a string or an embedded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


MAX_URL = 1000  # longer actor/inbox URLs are refused (the store's indexes rely on it)


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= MAX_URL:
        return value
    return None


def parse_actor(doc: Mapping[str, Any], *, expected_id: str | None = None) -> RemoteActor:
    """An actor document -> :class:`RemoteActor`; raises PermanentRemoteError when it is none."""
    actor_id = _http_url(doc.get("id"))
    kind = doc.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k in ACTOR_TYPES), None)
    if actor_id is None or kind not in ACTOR_TYPES:
        raise PermanentRemoteError("not an ActivityPub actor", url=expected_id)
    if expected_id is not None and origin_of(actor_id) != origin_of(expected_id):
        raise PermanentRemoteError(f"actor {actor_id} served for another origin", url=expected_id)
    inbox = _http_url(doc.get("inbox"))
    if inbox is None:
        raise PermanentRemoteError("actor without an inbox", url=actor_id)
    endpoints = doc.get("endpoints")
    shared = _http_url(endpoints.get("sharedInbox")) if isinstance(endpoints, Mapping) else None
    username = doc.get("preferredUsername")
    name = doc.get("name")
    return RemoteActor(
        id=actor_id, type=str(kind), inbox=inbox, shared_inbox=shared,
        username=username if isinstance(username, str) else None,
        name=name if isinstance(name, str) else None,
        url=id_of(doc.get("url")) if not isinstance(doc.get("url"), list) else None,
    )


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _multibase_ed25519(value: str) -> PublicKey:
    """``z6Mk...`` (base58btc, multicodec 0xed01) -> Ed25519 public key."""
    if not value.startswith("z") or len(value) > 128:
        raise UnknownKeyError("unsupported multibase key")
    number = 0
    for char in value[1:]:
        digit = _B58.find(char)
        if digit < 0:
            raise UnknownKeyError("invalid base58 in multibase key")
        number = number * 58 + digit
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(value[1:]) - len(value[1:].lstrip("1"))) + raw
    if len(raw) != 34 or raw[:2] != b"\xed\x01":
        raise UnknownKeyError("multibase key is not an Ed25519 key")
    return ed25519.Ed25519PublicKey.from_public_bytes(raw[2:])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def parse_key(doc: Mapping[str, Any], key_id: str) -> RemoteKey:
    """Find ``key_id`` in a fetched document (an actor or a key); check its owner's origin."""
    candidates: list[tuple[Mapping[str, Any], str | None]] = []
    doc_id = id_of(doc)
    if "publicKeyPem" in doc or "publicKeyMultibase" in doc:
        candidates.append((doc, id_of(doc.get("owner")) or id_of(doc.get("controller"))))
    for field in ("publicKey", "assertionMethod"):
        for item in _as_list(doc.get(field)):
            if isinstance(item, Mapping):
                candidates.append((item, id_of(item.get("owner")) or id_of(item.get("controller")) or doc_id))
    for item, owner in candidates:
        if id_of(item) != key_id:
            continue
        if owner is None or origin_of(owner) != origin_of(key_id):
            raise UnknownKeyError(f"key {key_id} has no owner on its own origin")
        if item.get("publicKeyPem"):
            public = load_public_key(str(item["publicKeyPem"]))
        elif isinstance(item.get("publicKeyMultibase"), str):
            public = _multibase_ed25519(item["publicKeyMultibase"])
        else:
            continue
        return RemoteKey(key_id=key_id, owner=owner, public_key=public)
    raise UnknownKeyError(f"key {key_id} is not in the document served for it")


def _document_url(url: str) -> str:
    return url.split("#", 1)[0]


class Directory:
    """Fetched actor and key documents, cached; implements ``signatures.KeyResolver``.

    ``fetch`` is usually :meth:`Transport.get` (signed GET through the SSRF guard).
    """

    def __init__(
        self, fetch: Fetch, *, ttl: float = 86400.0, refresh_interval: float = 60.0,
        max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic,
    ):
        self.fetch = fetch
        self.ttl = ttl
        self.refresh_interval = refresh_interval
        self.max_entries = max_entries
        self.clock = clock
        self._docs: OrderedDict[str, tuple[float, Mapping[str, Any]]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self.fetches = 0  # for tests and metrics

    async def document(self, url: str, *, refresh: bool = False) -> tuple[Mapping[str, Any], bool]:
        """The document at ``url`` and whether it came from the cache."""
        url = _document_url(url)
        now = self.clock()
        hit = self._docs.get(url)
        if hit is not None:
            fetched_at, doc = hit
            fresh = now - fetched_at < self.ttl
            if fresh and (not refresh or now - fetched_at < self.refresh_interval):
                self._docs.move_to_end(url)
                return doc, not refresh or now - fetched_at >= self.refresh_interval
        pending = self._pending.get(url)
        if pending is not None:
            return await asyncio.shield(pending), False
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[url] = future
        try:
            self.fetches += 1
            doc = await self.fetch(url)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            self._pending.pop(url, None)
        future.set_result(doc)
        self._docs[url] = (self.clock(), doc)
        self._docs.move_to_end(url)
        while len(self._docs) > self.max_entries:
            self._docs.popitem(last=False)
        return doc, False

    async def resolve(self, key_id: str, *, refresh: bool = False) -> RemoteKey:
        try:
            doc, cached = await self.document(key_id, refresh=refresh)
        except RemoteError as exc:
            raise UnknownKeyError(f"cannot fetch key {key_id}: {exc}", url=key_id) from exc
        key = parse_key(doc, key_id)
        return RemoteKey(key_id=key.key_id, owner=key.owner, public_key=key.public_key, cached=cached)

    async def actor(self, actor_id: str, *, refresh: bool = False) -> RemoteActor:
        """The actor at ``actor_id``; raises RemoteError when it cannot be had."""
        doc, _ = await self.document(actor_id, refresh=refresh)
        return parse_actor(doc, expected_id=actor_id)

    def forget(self, url: str) -> None:
        self._docs.pop(_document_url(url), None)
