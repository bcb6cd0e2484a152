"""The service JWT an AppView forwards with a logged-in reader's feed request.

The reader's PDS mints it: ``iss`` is the reader's DID, ``aud`` our did:web, ``lxm`` the
method (``app.bsky.feed.getFeedSkeleton``), ``exp`` a minute or so ahead, signed with the
reader's atproto key (ES256K or ES256). Our feeds are public and never personalised, so the
token is optional; but one that is sent must be right, or the request is refused (401):
a forged token never passes for a reader.

The checks cost nothing before the signature (shape, algorithm, audience, expiry, method),
so a stranger's garbage never makes us fetch anything. The signing key comes from the
issuer's DID document, read from the PLC directory (``did:plc``) or the issuer's host
(``did:web``) through the crawler's HTTP rules (address guard, size cap, timeouts), and is
kept for an hour; a signature that fails with a kept key is tried once with a fresh one
(the reader may have rotated keys), at most once a minute per DID. Failed look-ups are
remembered for a minute, and few run at once, so a flood of tokens naming random DIDs
cannot turn us into a fetcher.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from atproto_core.did_doc import DidDocument
from atproto_crypto.verify import verify_signature
from atproto_server.auth.jwt import decode_jwt_payload, parse_jwt
from atproto_server.exceptions import TokenDecodeError

from .. import logs
from ..errors import AggregatorError, FeedRequestError
from ..model import Clock, FetchResult

log = logs.get("aggregator.feedgen")

ALGORITHMS = ("ES256K", "ES256")
#: Tokens of other kinds a PDS issues: never accepted as service auth.
REFUSED_TYPES = ("at+jwt", "refresh+jwt", "dpop+jwt")
MAX_TOKEN_LENGTH = 4096
#: Clock skew tolerated on ``exp`` (seconds).
LEEWAY = 30
_DID_PLC = re.compile(r"^did:plc:[a-z2-7]{24}$")
_DID_WEB = re.compile(r"^did:web:[a-zA-Z0-9._%-]{1,253}$")


class KeyResolver(Protocol):
    async def signing_key(self, did: str, *, fresh: bool = False) -> str:
        """The ``did:key`` the DID signs with; raises AggregatorError when unknown."""
        ...


class JsonGetter(Protocol):
    """The crawler's HTTP client (``fetch.client.HttpClient``) fits."""

    async def get_json(self, url: str, *, params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None) -> tuple[Any, FetchResult]:
        """The JSON at ``url``; raises AggregatorError (FetchError) on any failure."""
        ...


def unauthorized(message: str) -> FeedRequestError:
    return FeedRequestError(message, name="AuthenticationRequired", status=401)


@dataclass(frozen=True)
class ServiceAuth:
    """Verifies service JWTs addressed to ``did`` (our did:web)."""

    did: str
    keys: KeyResolver
    clock: Clock

    async def verify(self, authorization: str | None, method: str) -> str | None:
        """The reader's DID, or None without a token.

        Raises:
            FeedRequestError: 401 for any token that is not a valid one for us and ``method``.
        """
        if authorization is None:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
            raise unauthorized("expected Authorization: Bearer <service JWT>")
        try:
            raw_payload, signing_input, header, signature = parse_jwt(token)
            payload = decode_jwt_payload(raw_payload)
        except (TokenDecodeError, ValueError) as exc:
            raise unauthorized(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise unauthorized("token algorithm must be ES256K or ES256")
        if header.get("typ") in REFUSED_TYPES:
            raise unauthorized("not a service token")
        audience = payload.aud
        if audience not in (self.did, f"{self.did}#bsky_fg"):
            raise unauthorized("token is addressed to another service")
        now = self.clock().timestamp()
        if not isinstance(payload.exp, int) or payload.exp <= now - LEEWAY:
            raise unauthorized("token expired")
        lxm = (payload.model_extra or {}).get("lxm")
        if lxm is not None and lxm != method:
            raise unauthorized(f"token is for {lxm}, not {method}")
        issuer = (payload.iss or "").split("#", 1)[0]
        if not (_DID_PLC.match(issuer) or _DID_WEB.match(issuer)):
            raise unauthorized("token issuer is not a did:plc or did:web")
        if not await self._signed_by(issuer, signing_input, signature):
            raise unauthorized("token signature does not verify")
        return issuer

    async def _signed_by(self, issuer: str, signing_input: bytes, signature: bytes) -> bool:
        for fresh in (False, True):
            try:
                key = await self.keys.signing_key(issuer, fresh=fresh)
            except AggregatorError as exc:
                log.info("feedgen.jwt_key_unknown", issuer=issuer, error=str(exc))
                raise unauthorized(f"cannot read the signing key of {issuer}") from exc
            try:
                if verify_signature(key, signing_input, signature):
                    return True
            except Exception:  # a malformed key or signature is a failed check, nothing else
                pass
        return False


class DidKeys:
    """Signing keys from DID documents, kept ``ttl`` seconds (bounded), looked up few at a time.

    A signature that fails with a kept key makes one fresh look-up (the issuer may have
    rotated its key), but not more often than every ``refresh_gap`` seconds per DID: forged
    tokens naming a real reader cannot make us hammer the PLC directory.
    """

    def __init__(self, http: Callable[[], Awaitable[JsonGetter]], *, plc: str, clock: Clock, ttl: float = 3600.0,
                 failure_ttl: float = 60.0, refresh_gap: float = 60.0, max_entries: int = 10_000,
                 concurrency: int = 4):
        self._http = http
        self.plc = plc.rstrip("/")
        self.clock = clock
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.refresh_gap = refresh_gap
        self.max_entries = max_entries
        #: DID -> (read at, key or None for a failed look-up), both in clock seconds
        self._keys: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._gate = asyncio.Semaphore(concurrency)

    def _now(self) -> float:
        return self.clock().timestamp()

    async def signing_key(self, did: str, *, fresh: bool = False) -> str:
        kept = self._keys.get(did)
        if kept is not None:
            read_at, key = kept
            age = self._now() - read_at
            if key is None and age < self.failure_ttl:
                raise AggregatorError(f"{did}: look-up failed recently")
            if key is not None and age < self.ttl and (not fresh or age < self.refresh_gap):
                return key
        try:
            async with self._gate:
                key = await self._look_up(did)
        except AggregatorError:
            self._keep(did, None)
            raise
        self._keep(did, key)
        return key

    def knows(self, did: str) -> bool:
        """Whether a key of ``did`` is kept (and not expired)."""
        kept = self._keys.get(did)
        return kept is not None and kept[1] is not None and self._now() - kept[0] < self.ttl

    def _keep(self, did: str, key: str | None) -> None:
        self._keys[did] = (self._now(), key)
        self._keys.move_to_end(did)
        while len(self._keys) > self.max_entries:
            self._keys.popitem(last=False)

    async def _look_up(self, did: str) -> str:
        url = document_url(did, self.plc)
        http = await self._http()
        document, _ = await http.get_json(url)
        if not isinstance(document, dict) or document.get("id") != did:
            raise AggregatorError(f"{did}: the DID document at {url} is not this DID's", url=url)
        try:
            key = DidDocument.from_dict(document).get_did_key()
        except Exception as exc:  # the SDK's model raises pydantic's errors on odd documents
            raise AggregatorError(f"{did}: unreadable DID document: {exc}", url=url) from exc
        if not key:
            raise AggregatorError(f"{did}: the DID document has no atproto signing key", url=url)
        return key


def document_url(did: str, plc: str) -> str:
    """Where a DID's document is: the PLC directory, or ``/.well-known/did.json`` of the host.

    A did:web on ``localhost`` is read over plain http, as the reference resolver does.
    """
    if did.startswith("did:plc:"):
        return f"{plc}/{did}"
    segments = did.removeprefix("did:web:").split(":")
    if len(segments) != 1:  # did:web:host:path… is not used for atproto identities
        raise AggregatorError(f"{did}: did:web with a path is not supported")
    host = unquote(segments[0]).lower()
    scheme = "http" if host == "localhost" or host.startswith("localhost:") else "https"
    return f"{scheme}://{host}/.well-known/did.json"
