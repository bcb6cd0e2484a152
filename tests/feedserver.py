"""A real, and on demand hostile, HTTP server on loopback for tests and benchmarks.

``FeedServer`` is an aiohttp application bound to 127.0.0.1 (or any 127.0.0.x, which
Linux routes to loopback, so several servers look like several hosts) on a free port.
It serves feeds with real conditional GET, and the misbehaviour crawlers meet in the
wild: redirects and loops, 410, 429/503 with Retry-After, slow answers, servers that
hang after the headers or trickle bytes, gzip bombs and huge bodies. It records every
request it receives so tests can check headers, counts and spacing.

Usage::

    async with FeedServer() as server:
        server.add("/feed.xml", body, etag='"v1"')
        result = await http.get(server.url("/feed.xml"))
        assert server.requests[-1].headers["User-Agent"]
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: How long the hanging and trickling handlers keep a connection at most.
HOSTILE_MAX_SECONDS = 60.0


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    method: str
    headers: CIMultiDictProxy[str]
    time: float  # time.monotonic() when the handler started
    query: dict[str, str] = field(default_factory=dict)
    end: float | None = None  # time.monotonic() when the handler returned


def http_date(value: datetime) -> str:
    """An HTTP date (IMF-fixdate) for headers such as Last-Modified and Retry-After."""
    return format_datetime(value, usegmt=True)


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2) of an If-None-Match list against our ETag."""
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


class FeedServer:
    """An aiohttp server on loopback; async context manager; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._routes: dict[str, Handler] = {}
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the port the OS picked for port 0
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FeedServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + path

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- routes --------------------------------------------------------------------------

    def handle(self, path: str, handler: Handler) -> None:
        """Serve ``path`` (query string ignored) with a custom aiohttp handler."""
        self._routes[path] = handler

    def add(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | datetime | None = None,
        headers: Mapping[str, str] | None = None,
        status: int = 200,
        gzip_encode: bool = False,
    ) -> None:
        """Serve ``body`` with real conditional GET; call again to change the document.

        304 when If-None-Match matches ``etag`` or, without If-None-Match, when
        If-Modified-Since is not older than ``last_modified`` (RFC 9110 13.1.3 order).
        ``gzip_encode`` compresses when the client accepts gzip.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        modified = (
            http_date(last_modified) if isinstance(last_modified, datetime) else last_modified
        )
        extra = dict(headers or {})

        async def serve(request: web.Request) -> web.StreamResponse:
            validators: dict[str, str] = {}
            if etag is not None:
                validators["ETag"] = etag
            if modified is not None:
                validators["Last-Modified"] = modified
            if status == 200 and self._not_modified(request, etag, modified):
                return web.Response(status=304, headers={**extra, **validators})
            out_headers = {**extra, **validators, "Content-Type": content_type}
            payload = data
            if gzip_encode and "gzip" in request.headers.get("Accept-Encoding", ""):
                payload = gzip.compress(data)
                out_headers["Content-Encoding"] = "gzip"
            return web.Response(status=status, body=payload, headers=out_headers)

        self._routes[path] = serve

    def add_json(
        self,
        path: str,
        value: Any,
        *,
        headers: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> None:
        """Serve ``value`` as JSON (for Mastodon API and XRPC stand-ins)."""
        self.add(
            path,
            json.dumps(value).encode("utf-8"),
            content_type="application/json; charset=utf-8",
            headers=headers,
            status=status,
        )

    @staticmethod
    def _not_modified(request: web.Request, etag: str | None, modified: str | None) -> bool:
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            return etag is not None and _etag_matches(inm, etag)
        ims = request.headers.get("If-Modified-Since")
        if ims is None or modified is None:
            return False
        try:
            return parsedate_to_datetime(ims) >= parsedate_to_datetime(modified)
        except (TypeError, ValueError):
            return False

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        """Answer ``status`` with ``Location: to`` (absolute or relative, as given)."""

        async def serve(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, headers={"Location": to})

        self._routes[path] = serve

    def loop(self, path_a: str, path_b: str, status: int = 302) -> None:
        """Two paths redirecting to each other."""
        self.redirect(path_a, path_b, status)
        self.redirect(path_b, path_a, status)

    def gone(self, path: str) -> None:
        self.error(path, 410)

    def error(
        self,
        path: str,
        status: int,
        retry_after: int | str | datetime | None = None,
        body: bytes = b"error",
    ) -> None:
        """Answer ``status``; ``retry_after`` as seconds, an HTTP date or a datetime."""
        headers = {"Content-Type": "text/plain"}
        if isinstance(retry_after, datetime):
            headers["Retry-After"] = http_date(retry_after)
        elif retry_after is not None:
            headers["Retry-After"] = str(retry_after)

        async def serve(request: web.Request) -> web.StreamResponse:
            return web.Response(status=status, body=body, headers=headers)

        self._routes[path] = serve

    def slow(self, path: str, delay: float, body: bytes = b"<rss version='2.0'/>") -> None:
        """Answer normally after ``delay`` seconds (headers included)."""

        async def serve(request: web.Request) -> web.StreamResponse:
            await self._sleep(delay)
            return web.Response(body=body, content_type="application/rss+xml")

        self._routes[path] = serve

    def hang_after_headers(self, path: str) -> None:
        """Send status and headers announcing a body, then send nothing."""

        async def serve(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            resp.content_length = 1000
            await resp.prepare(request)
            await resp.write(b"<rss")
            await self._sleep(HOSTILE_MAX_SECONDS, request)
            return resp

        self._routes[path] = serve

    def trickle(self, path: str, interval: float = 0.2, size: int = 10_000) -> None:
        """Send a ``size``-byte body one byte every ``interval`` seconds."""

        async def serve(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            resp.content_length = size
            await resp.prepare(request)
            deadline = time.monotonic() + HOSTILE_MAX_SECONDS
            for _ in range(size):
                if self._gone(request) or time.monotonic() > deadline:
                    break
                await resp.write(b" ")
                await self._sleep(interval, request)
            return resp

        self._routes[path] = serve

    def gzip_bomb(self, path: str, size: int = 100 * 1024 * 1024) -> int:
        """Serve ``size`` zero bytes gzip-compressed (about 1000:1); returns the wire size."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
        block = bytes(1024 * 1024)
        parts = []
        remaining = size
        while remaining > 0:
            n = min(remaining, len(block))
            parts.append(compressor.compress(block[:n]))
            remaining -= n
        parts.append(compressor.flush())
        payload = b"".join(parts)

        async def serve(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=payload,
                headers={"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"},
            )

        self._routes[path] = serve
        return len(payload)

    def huge(self, path: str, size: int, *, content_length: bool = True) -> None:
        """Stream ``size`` bytes, announced by Content-Length or chunked without it."""

        async def serve(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
            if content_length:
                resp.content_length = size
            else:
                resp.enable_chunked_encoding()
            await resp.prepare(request)
            block = b" " * 65536
            sent = 0
            try:
                while sent < size and not self._gone(request):
                    n = min(len(block), size - sent)
                    await resp.write(block[:n])
                    sent += n
            except (ConnectionError, RuntimeError):
                return resp  # the client hung up, as it should
            await resp.write_eof()
            return resp

        self._routes[path] = serve

    # -- internals -----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = RecordedRequest(
            path=request.path,
            method=request.method,
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            time=time.monotonic(),
            query=dict(request.query),
        )
        self.requests.append(record)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            handler = self._routes.get(request.path)
            if handler is None:
                return web.Response(status=404, text="not found")
            return await handler(request)
        finally:
            self.in_flight -= 1
            record.end = time.monotonic()

    @staticmethod
    def _gone(request: web.Request) -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    async def _sleep(self, seconds: float, request: web.Request | None = None) -> None:
        """Sleep, but stop early when the server closes or the client hangs up."""
        deadline = time.monotonic() + seconds
        while not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or (request is not None and self._gone(request)):
                return
            await asyncio.sleep(min(left, 0.05))
