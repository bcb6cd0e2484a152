"""Signed requests to other fediverse servers, through the crawler's SSRF guard.

Every request is signed by our actor's key (GETs too: servers in "authorized fetch" mode
refuse unsigned reads). Which scheme first? draft-cavage: every Mastodon, Pleroma, Misskey
and Fedify verifies it, while RFC 9421 is verified only by Mastodon 4.5+ and Fedify. A 401
earns one retry with the other scheme ("double knock", as Fedify does the other way round),
and the scheme that worked is remembered per origin so that later requests knock once.

The session's connector resolves names through :class:`~aggregator.fetch.guard.GuardedResolver`
and every URL (redirects included) passes :meth:`AddressPolicy.check_url`, so a hostile
actor document cannot point us at the operator's private network. Bodies are capped
(1 MiB) and every request has a total timeout.

Errors are :class:`~aggregator.errors.TemporaryRemoteError` (network, timeout, 408, 429,
5xx; with ``retry_after`` when the server gave one) or
:class:`~aggregator.errors.PermanentRemoteError` (other 4xx, refused address, not JSON).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from .. import logs
from ..errors import FetchError, PermanentRemoteError, TemporaryRemoteError
from ..fetch.guard import AddressPolicy, GuardedResolver
from ..model import Clock, utcnow
from . import signatures
from .signatures import Scheme

log = logs.get("aggregator.activitypub.transport")

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
CONTENT_TYPE = "application/activity+json"
MAX_BODY = 1 << 20
MAX_REDIRECTS = 3
_ERROR_SNIPPET = 300


@dataclass(frozen=True)
class Signer:
    """Who signs: our actor's key id and private key."""

    key_id: str
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class Delivered:
    """A POST the remote server accepted."""

    url: str
    status: int
    scheme: Scheme
    knocks: int  # 1, or 2 when the first scheme earned a 401


def make_session(
    *, allow_private: bool, user_agent: str, timeout: float = 20.0, connect_timeout: float = 10.0,
    limit_per_host: int = 4, trusted: frozenset[str] = frozenset(),
) -> aiohttp.ClientSession:
    """An aiohttp session whose every connection passes the SSRF guard."""
    policy = AddressPolicy(allow_private=allow_private, trusted=trusted)
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit_per_host=limit_per_host, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, connect=connect_timeout),
        headers={"User-Agent": user_agent},
        auto_decompress=True,
    )


def _other(scheme: Scheme) -> Scheme:
    return "rfc9421" if scheme == "cavage" else "cavage"


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delay or HTTP date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return max(0.0, min(seconds, 86400.0))


class Transport:
    """Signed GET and POST for one signer, over a session from :func:`make_session`."""

    def __init__(
        self, session: aiohttp.ClientSession, signer: Signer, *, allow_private: bool = False,
        trusted: frozenset[str] = frozenset(), clock: Clock = utcnow, max_body: int = MAX_BODY,
        first_scheme: Scheme = "cavage",
    ):
        self.session = session
        self.signer = signer
        self.policy = AddressPolicy(allow_private=allow_private, trusted=trusted)
        self.clock = clock
        self.max_body = max_body
        self.first_scheme: Scheme = first_scheme
        self._schemes: OrderedDict[str, Scheme] = OrderedDict()  # origin -> scheme that worked

    def scheme_for(self, url: str) -> Scheme:
        return self._schemes.get(str(URL(url).origin()), self.first_scheme)

    def _remember(self, url: str, scheme: Scheme) -> None:
        origin = str(URL(url).origin())
        self._schemes[origin] = scheme
        self._schemes.move_to_end(origin)
        while len(self._schemes) > 10_000:
            self._schemes.popitem(last=False)

    def _check(self, url: str) -> URL:
        parsed = URL(url)
        try:
            self.policy.check_url(parsed)
        except FetchError as exc:
            raise PermanentRemoteError(str(exc), url=url) from exc
        return parsed

    def _signed_headers(self, scheme: Scheme, method: str, url: str, base: Mapping[str, str], body: bytes | None) -> dict[str, str]:
        added = signatures.sign(
            scheme, method, url, base, body, key_id=self.signer.key_id, private_key=self.signer.private_key,
            now=self.clock(),
        )
        return {**base, **added}

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[int, Mapping[str, str], bytes]:
        """One request; the status, headers and at most ``max_body`` bytes of the body."""
        try:
            async with self.session.request(
                method, url, headers=dict(headers), data=body, allow_redirects=False,
            ) as response:
                limit = self.max_body if method == "GET" else 64 * 1024
                if response.content_length is not None and response.content_length > limit and method == "GET":
                    raise PermanentRemoteError(f"document larger than {limit} bytes", url=url, status=response.status)
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > limit:
                        if method == "GET":
                            raise PermanentRemoteError(f"document larger than {limit} bytes", url=url, status=response.status)
                        break
                return response.status, response.headers, bytes(data)
        except FetchError as exc:  # the guard refused an address the name resolved to
            raise PermanentRemoteError(str(exc), url=url) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TemporaryRemoteError(f"{type(exc).__name__}: {exc}".rstrip(": "), url=url) from exc

    def _raise_for(self, url: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
        snippet = body[:_ERROR_SNIPPET].decode("utf-8", "replace").strip()
        message = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        if status in (408, 425, 429) or status >= 500:
            raise TemporaryRemoteError(
                message, url=url, status=status, retry_after=retry_after(headers.get("Retry-After"), self.clock())
            )
        raise PermanentRemoteError(message, url=url, status=status)

    async def _knock(self, method: str, url: str, base: Mapping[str, str], body: bytes | None) -> tuple[int, Mapping[str, str], bytes, Scheme, int]:
        """Sign and send; on 401 sign with the other scheme and send once more."""
        scheme = self.scheme_for(url)
        status, headers, data = await self._send(method, url, self._signed_headers(scheme, method, url, base, body), body)
        knocks = 1
        if status == 401:
            scheme = _other(scheme)
            knocks = 2
            status, headers, data = await self._send(method, url, self._signed_headers(scheme, method, url, base, body), body)
        if 200 <= status < 400:
            self._remember(url, scheme)
        return status, headers, data, scheme, knocks

    async def post(self, inbox: str, activity: Mapping[str, Any]) -> Delivered:
        """Deliver ``activity`` to ``inbox``; raises a RemoteError unless it was accepted (2xx)."""
        self._check(inbox)
        body = json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        base = {"Content-Type": CONTENT_TYPE, "Accept": ACCEPT}
        status, headers, data, scheme, knocks = await self._knock("POST", inbox, base, body)
        if not 200 <= status < 300:
            log.info("activitypub.deliver_failed", inbox=inbox, status=status, scheme=scheme)
            self._raise_for(inbox, status, headers, data)
        log.debug("activitypub.delivered", inbox=inbox, status=status, scheme=scheme, knocks=knocks)
        return Delivered(url=inbox, status=status, scheme=scheme, knocks=knocks)

    async def get(self, url: str) -> dict[str, Any]:
        """A signed GET of an ActivityPub document (actor, key, object); redirects checked."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parsed = self._check(current)
            status, headers, data, _scheme, _ = await self._knock("GET", str(parsed), {"Accept": ACCEPT}, None)
            if status in (301, 302, 303, 307, 308) and headers.get("Location"):
                current = str(parsed.join(URL(headers["Location"])))
                continue
            if status != 200:
                self._raise_for(current, status, headers, data)
            content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if "json" not in content_type:
                raise PermanentRemoteError(f"not an ActivityPub document ({content_type or 'no type'})", url=current, status=status)
            try:
                doc = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise PermanentRemoteError("invalid JSON", url=current, status=status) from exc
            if not isinstance(doc, dict):
                raise PermanentRemoteError("not a JSON object", url=current, status=status)
            return doc
        raise PermanentRemoteError(f"more than {MAX_REDIRECTS} redirects", url=url)
