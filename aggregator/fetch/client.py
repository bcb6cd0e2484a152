"""The one HTTP client every download goes through: :class:`HttpClient`.

The crawler, the Mastodon and Bluesky API clients and the relay's link cards all fetch
through it, so the crawling rules (docs/crawling.md, "Fetching rules") live here once: the private-address
guard, per-host politeness, redirects followed by hand (each hop checked), timeouts, a
body cap measured after decompression, conditional GET with the validators, 410 Gone as
permanent, and 429/503 pausing the whole host. Every failure is a
:class:`~aggregator.errors.FetchError` with a message an operator understands.

What the rules read from headers is in :mod:`.headers`; the host pauses and the spacing
shared with other processes are in :mod:`.host_blocks`.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from multidict import CIMultiDictProxy
from yarl import URL

from .. import logs
from ..errors import FetchError, TooLargeError
from ..model import Clock, FetchResult, utcnow
from .guard import AddressPolicy, GuardedResolver
from .headers import header_values, parse_content_type, parse_max_age, parse_retry_after
from .host_blocks import (
    DEFAULT_429_WAIT,
    MAX_HOST_WAIT,
    BlockedHosts,
    SharedHosts,
    take_shared_turn,
)
from .politeness import Politeness

log = logs.get(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9,"
    " text/xml;q=0.9, application/json;q=0.8, text/html;q=0.7, */*;q=0.5"
)
JSON_ACCEPT = "application/json"

# aiohttp decodes br only through the brotli module; we never ask for what we cannot read.
_HAS_BROTLI = any(importlib.util.find_spec(name) for name in ("brotli", "brotlicffi"))
ACCEPT_ENCODING = "gzip, deflate, br" if _HAS_BROTLI else "gzip, deflate"

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})  # RFC 9110 15.4.2 and 15.4.9: update the link
_CHUNK = 64 * 1024


@dataclass
class _Answer:
    """One HTTP exchange, read within its politeness slot."""

    url: URL
    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    elapsed: float


class HttpClient:
    """An aiohttp session with the crawling rules built in; one per process.

    Use as ``async with HttpClient(user_agent=...) as http:``. ``host_blocks`` is the
    store that shares host pauses and request spacing with other crawler processes
    (PostgreSQL's ``HostRepo``); without it both stay within this process. ``resolver``
    (the DNS lookup wrapped by the guard) and ``address_policy`` exist for tests;
    production passes neither and gets the strict rule derived from ``allow_private``.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        allow_private: bool = False,
        connect_timeout: float = 10.0,
        total_timeout: float = 30.0,
        max_bytes: int = 15 * 1024 * 1024,
        max_redirects: int = 5,
        per_host_limit: int = 2,
        per_host_delay: float = 1.0,
        global_limit: int = 16,
        host_blocks: SharedHosts | None = None,
        clock: Clock = utcnow,
        resolver: AbstractResolver | None = None,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.policy = address_policy or AddressPolicy(allow_private=allow_private)
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.per_host_limit = per_host_limit
        self.per_host_delay = per_host_delay
        self.global_limit = global_limit
        self.host_blocks = host_blocks
        self.clock = clock
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._politeness: Politeness | None = None
        # Created here, not on entry: pauses outlive a close() and a new 'async with'.
        self._blocked = BlockedHosts(host_blocks, clock)

    async def __aenter__(self) -> HttpClient:
        # The session and its connector need the running loop: created here, never at import.
        self._politeness = Politeness(
            per_host_limit=self.per_host_limit,
            per_host_delay=self.per_host_delay,
            global_limit=self.global_limit,
        )
        connector = aiohttp.TCPConnector(
            limit=self.global_limit,
            limit_per_host=0,  # per-host bounds are the politeness layer's job
            ttl_dns_cache=300,
            resolver=GuardedResolver(self.policy, self._inner_resolver),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # one feed must not set cookies for another
            trust_env=False,  # a proxy from the environment would bypass the address guard
            auto_decompress=True,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session and its connections; the client can be entered again."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """GET ``url`` following the crawling rules; 304 gives ``status=304`` and no body.

        Raises:
            FetchError: network failure, timeout, HTTP error status (``permanent`` for 410,
                ``retry_after`` for 429/503), bad redirect, refused scheme.
            BlockedAddressError: the URL or a redirect leads to a refused address.
            TooLargeError: the body is larger than ``max_bytes`` after decompression.
        """
        request_headers: dict[str, str] = {
            "User-Agent": self.user_agent,
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,
        }
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        if headers:
            request_headers.update(headers)
        try:
            requested = URL(url)
        except (ValueError, TypeError) as exc:
            raise FetchError(f"invalid URL: {exc}", url=url) from exc
        if not requested.scheme:
            raise FetchError("invalid URL: not absolute", url=url)
        answer, permanent_url = await self._follow(requested, request_headers)
        return self._result(answer, permanent_url, etag=etag, last_modified=last_modified)

    async def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[Any, FetchResult]:
        """GET a JSON API (Mastodon, Bluesky XRPC) with the same rules; return the value.

        A 304 (only possible when the caller sent validators in ``headers``) gives None.

        Raises:
            FetchError: as :meth:`get`, and ``invalid JSON ...`` when the body does not parse.
        """
        target = url
        if params:
            try:
                target = str(URL(url).update_query(dict(params)))
            except (ValueError, TypeError) as exc:
                raise FetchError(f"invalid URL: {exc}", url=url) from exc
        result = await self.get(target, accept=JSON_ACCEPT, headers=headers)
        if result.not_modified:
            return None, result
        try:
            value = json.loads(result.body)
        except RecursionError as exc:
            raise FetchError("invalid JSON: nested too deeply", url=result.url) from exc
        except ValueError as exc:  # includes UnicodeDecodeError
            raise FetchError(f"invalid JSON: {exc}", url=result.url) from exc
        return value, result

    # -- redirects -------------------------------------------------------------------

    async def _follow(self, requested: URL, headers: dict[str, str]) -> tuple[_Answer, URL | None]:
        """Request ``requested`` and follow redirects by hand, checking every hop."""
        current = requested.with_fragment(None)
        seen = {str(current)}
        permanent = True
        hops = 0
        elapsed = 0.0  # network time of every hop, politeness waits excluded
        while True:
            answer = await self._exchange(current, headers)
            elapsed += answer.elapsed
            if answer.status not in REDIRECT_STATUSES:
                moved = hops > 0 and permanent and current != requested.with_fragment(None)
                answer.elapsed = elapsed
                return answer, (current if moved else None)
            location = answer.headers.get("Location")
            if not location:
                raise FetchError(
                    f"HTTP {answer.status} redirect without a Location header",
                    url=str(current),
                    status=answer.status,
                )
            try:
                target = current.join(URL(location)).with_fragment(None)
            except (ValueError, TypeError) as exc:
                raise FetchError(f"invalid redirect to {location!r}", url=str(current)) from exc
            if answer.status not in PERMANENT_REDIRECTS:
                permanent = False  # a temporary hop anywhere: the stored URL stays
            if str(target) in seen:
                raise FetchError(f"redirect loop: {target} redirects back", url=str(requested))
            hops += 1
            if hops > self.max_redirects:
                raise FetchError(f"too many redirects ({self.max_redirects})", url=str(requested))
            seen.add(str(target))
            if target.origin() != current.origin():
                # Credentials meant for one server must not travel to another.
                for name in [n for n in headers if n.lower() in ("authorization", "cookie")]:
                    del headers[name]
            log.debug("fetch.redirect", url=str(current), to=str(target), status=answer.status)
            current = target

    # -- one exchange ----------------------------------------------------------------

    async def _exchange(self, url: URL, headers: Mapping[str, str]) -> _Answer:
        """One request within the host's politeness slot, body read and capped."""
        session, politeness = self._require_open()
        self.policy.check_url(url)
        host = (url.raw_host or "").lower()
        await self._refuse_if_blocked(host, url, consult_store=True)
        async with politeness.slot(host):
            await take_shared_turn(self.host_blocks, host, self.per_host_delay)
            # Another request to this host may have been told to wait while we queued.
            await self._refuse_if_blocked(host, url, consult_store=False)
            started = time.monotonic()
            answer = await self._request(session, url, headers)
        answer.elapsed = time.monotonic() - started
        if answer.status in (429, 503):
            await self._raise_busy(host, answer)
        return answer

    async def _request(
        self, session: aiohttp.ClientSession, url: URL, headers: Mapping[str, str]
    ) -> _Answer:
        timeout = aiohttp.ClientTimeout(
            total=self.total_timeout,
            sock_connect=self.connect_timeout,
            sock_read=self.total_timeout,
        )
        try:
            # aiohttp's ``total`` covers reading the body too (its timer stays armed until
            # the response is released), so a server that sends headers then hangs or
            # trickles a byte at a time ends at total_timeout; tests/fetch prove it.
            async with session.get(url, headers=headers, allow_redirects=False, timeout=timeout) as resp:
                body = b""
                if 200 <= resp.status < 300:
                    body = await self._read_capped(resp, url)
                return _Answer(url, resp.status, resp.reason or "", resp.headers, body, 0.0)
        except FetchError as exc:
            exc.url = exc.url or str(url)
            raise
        except aiohttp.ConnectionTimeoutError as exc:
            raise FetchError(
                f"could not connect within {self.connect_timeout:g} s", url=str(url)
            ) from exc
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one too
            raise FetchError(f"timed out after {self.total_timeout:g} s", url=str(url)) from exc
        except aiohttp.ClientError as exc:
            raise FetchError(_describe(exc, url), url=str(url)) from exc
        except OSError as exc:
            raise FetchError(f"network error: {exc.strerror or exc}", url=str(url)) from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse, url: URL) -> bytes:
        """Read the decompressed body, failing as soon as it passes ``max_bytes``.

        aiohttp decompresses in bounded steps as we read, so a gzip bomb costs at most
        about ``max_bytes`` of memory before it is refused.
        """
        limit = self.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            resp.close()
            raise TooLargeError(f"body larger than {_size(limit)}", url=str(url))
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > limit:
                resp.close()  # do not drain the rest, do not reuse this connection
                raise TooLargeError(f"body larger than {_size(limit)}", url=str(url))
            chunks.append(chunk)
        return b"".join(chunks)

    # -- host blocks (429/503 Retry-After) ------------------------------------------------

    async def _refuse_if_blocked(self, host: str, url: URL, *, consult_store: bool) -> None:
        """Fail fast, without a request, while the host's pause runs."""
        until = await self._blocked.until(host, consult_store=consult_store)
        if until is None:
            return
        remaining = (until - self.clock()).total_seconds()
        raise FetchError(
            f"host {host} asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC"
            f" ({remaining:.0f} s left)",
            url=str(url),
            retry_after=remaining,
        )

    async def _raise_busy(self, host: str, answer: _Answer) -> None:
        """Turn a 429/503 into a host pause and raise the FetchError describing it."""
        now = self.clock()
        wait = parse_retry_after(answer.headers.get("Retry-After"), now)
        if wait is None and answer.status == 429:
            wait = DEFAULT_429_WAIT
        message = f"HTTP {answer.status} {answer.reason}".rstrip()
        if wait is not None and wait > 0:
            wait = min(wait, MAX_HOST_WAIT)
            until = now + timedelta(seconds=wait)
            await self._blocked.block(host, until)
            message += f"; host {host} asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC"
        raise FetchError(message, url=str(answer.url), status=answer.status, retry_after=wait)

    # -- results -------------------------------------------------------------------------

    def _result(
        self,
        answer: _Answer,
        permanent_url: URL | None,
        *,
        etag: str | None,
        last_modified: str | None,
    ) -> FetchResult:
        """Turn the final answer into a FetchResult, or raise for an error status."""
        status, headers, url = answer.status, answer.headers, str(answer.url)
        if status == 410:
            raise FetchError(
                "HTTP 410 Gone: the server says this address was removed for good",
                url=url,
                status=410,
                permanent=True,
            )
        if status != 304 and not 200 <= status < 300:
            raise FetchError(f"HTTP {status} {answer.reason}".rstrip(), url=url, status=status)
        content_type, charset = parse_content_type(headers.get("Content-Type"))
        if status == 304:
            # A 304 may omit the validators; the ones we sent are still the current ones.
            etag = headers.get("ETag") or etag
            last_modified = headers.get("Last-Modified") or last_modified
        else:
            etag = headers.get("ETag")
            last_modified = headers.get("Last-Modified")
        return FetchResult(
            url=url,
            status=status,
            body=answer.body if status != 304 else b"",
            content_type=content_type,
            charset=charset,
            etag=etag,
            last_modified=last_modified,
            permanent_url=str(permanent_url) if permanent_url is not None else None,
            max_age=parse_max_age(headers, self.clock()),
            elapsed=answer.elapsed,
            link=", ".join(header_values(headers, "Link")) or None,  # several Link fields are one list
        )

    def _require_open(self) -> tuple[aiohttp.ClientSession, Politeness]:
        if self._session is None or self._politeness is None:
            raise RuntimeError("HttpClient used outside 'async with'")
        return self._session, self._politeness


def _size(n: int) -> str:
    """``15728640`` -> ``"15 MiB"``: limits as an operator configured them."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _describe(exc: aiohttp.ClientError, url: URL) -> str:
    """Plain words for aiohttp's exceptions."""
    host = url.host or ""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"cannot resolve host name {host}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate of {host} is not valid: {exc.certificate_error}"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return f"TLS error with {host}: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect to {host}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection without answering"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the response body was cut short or could not be decompressed"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"invalid HTTP response: {exc.message}"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"invalid URL: {exc}"
    return f"HTTP client error: {exc.__class__.__name__}: {exc}"



__all__ = ["ACCEPT_ENCODING", "FEED_ACCEPT", "JSON_ACCEPT", "HttpClient"]
