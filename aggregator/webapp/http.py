"""HTTP plumbing: security headers, request timing, error pages and conditional responses."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

from .keys import METRICS

#: No inline script or style anywhere; images only from this site (third-party images in
#: summaries are dropped, so readers' browsers never call third-party hosts from our pages).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # The origin only: independent sites see readers come from here, nothing more.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

#: ``/embed`` is made to be framed by any site: its own policy, for that route only. It
#: runs no script but an optional same-origin file (``autoheight=1``), loads only its own
#: stylesheet, and sends no Referer when a reader follows a link out of the block.
EMBED_PATHS = ("/embed",)
EMBED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *"
)
EMBED_HEADERS = {
    "Content-Security-Policy": EMBED_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": SECURITY_HEADERS["Permissions-Policy"],
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every response, static files and errors included."""
    headers = EMBED_HEADERS if request.path in EMBED_PATHS else SECURITY_HEADERS
    for name, value in headers.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/feed.", "/api/", "/sources.opml")):
        # Feeds and the API are public data: let web-based readers fetch them.
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    if request.path.startswith("/static/") and "v" in request.query:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"


#: RFC 3986 host (a reg-name, IPv4 or an [IP-literal]) and an optional port.
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._~!$&'()*+,;=%-]{0,253})(?::(\d{0,5}))?$")
#: Characters no path or query parameter of ours may hold (NUL breaks PostgreSQL text, the
#: other controls and lone surrogates are never typed by readers); tab and newlines are
#: whitespace, normalized where it matters.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def malformed(request: web.Request) -> str | None:
    """Why a request is unfit for any route (a short reason for a 400), or None."""
    host = request.headers.get("Host")
    if host is not None:
        match = _HOST.match(host)
        if match is None or (match.group(1) and int(match.group(1)) > 65535):
            return "Host: not a valid host name and port"
    if _FORBIDDEN.search(request.path):
        return "path: control characters are not allowed"
    for name, value in request.query.items():
        if _FORBIDDEN.search(name) or _FORBIDDEN.search(value):
            return "query: control characters are not allowed"
    return None


@web.middleware
async def reject_malformed(request: web.Request, handler: Handler) -> web.StreamResponse:
    """400 for what no route can use, before any route sees it (RFC 9112: an invalid Host).

    The public URLs never come from ``Host`` (urls.py); a malformed one is still refused,
    as HTTP asks, and so are control characters anywhere in the path or the query.
    """
    reason = malformed(request)
    if reason is None:
        return await handler(request)
    if request.path.startswith("/api/"):
        return web.Response(body=json_bytes({"error": reason}), status=400, content_type="application/json")
    return web.Response(text=reason + "\n", status=400)


@web.middleware
async def timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request latency by route pattern (bounded label set: no raw paths)."""
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        request.app[METRICS].observe(name, request.method, time.perf_counter() - started)


def etag_for(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        candidate = candidate.removeprefix("W/")  # weak comparison, RFC 9110 13.1.2
        if candidate.strip('"') == bare:
            return True
    return False


def conditional(
    request: web.Request,
    body: bytes,
    content_type: str,
    *,
    max_age: int,
    last_modified: datetime | None = None,
    vary: str | None = None,
    private: bool = False,
    status: int = 200,
) -> web.Response:
    """A response with ETag/Last-Modified/Cache-Control that answers 304 when it can.

    The ETag is a hash of the exact body, so it changes whenever anything shown
    changes (health, language, "also published by"), not only when new entries arrive.
    """
    etag = etag_for(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'private' if private else 'public'}, max-age={max_age}",
    }
    if vary:
        headers["Vary"] = vary
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified.astimezone(UTC).replace(microsecond=0), usegmt=True)
    if status == 200 and request.method in ("GET", "HEAD"):
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            if etag_matches(inm, etag):
                return web.Response(status=304, headers=headers)
        elif last_modified is not None and (ims := request.headers.get("If-Modified-Since")):
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError, IndexError):
                since = None
            if since is not None and since.tzinfo is not None and last_modified.replace(microsecond=0) <= since:
                return web.Response(status=304, headers=headers)
    return web.Response(body=body, status=status, headers={**headers, "Content-Type": content_type})


def json_bytes(data: object) -> bytes:
    """Compact UTF-8 JSON in which ``<``, ``>`` and ``&`` are escaped (``\\u003c``...).

    JSON is served as JSON with ``nosniff``; escaping them as well means no JSON answer ever
    carries markup a reader sent, whatever a browser or a careless consumer makes of it.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()
