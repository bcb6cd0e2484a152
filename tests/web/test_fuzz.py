"""Hostile requests on every route of the real server, as an attacker would send them.

The server is the one ``aggregator serve`` runs (``service.start_web`` over the factory's
app, page cache on, a real search index, a public base URL), on loopback. Its routes are
read from its router, so a route added later (newsletter, ActivityPub, feed generator...)
is fuzzed without touching this file; a route whose honest answer is a 4xx by design says
so in ``DESIGNED_4XX``, and a new path parameter gets a sample value in ``SAMPLES``.

A path parameter without a sample value gets "x": the hostile requests cover the route
all the same, and the honest one (a 404, most likely) says to add a sample or an allowance.

For every request: no 5xx, an answer in bounded time, no reader input reflected as markup
(``hostile.MARKUP_NEEDLES``), no forged host name anywhere in the answer, no file from
outside ``web/static``, no header injected, no redirect off the site. For the whole run: no
ERROR and no traceback in the log, and every honest reader gets exactly what a server
without cache answers, although forged headers were the first to ask for each page.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy
from yarl import URL

from aggregator import service
from aggregator.model import Config
from aggregator.store import Store
from aggregator.webapp import create_app
from aggregator.webapp.server_log import NAME, PER_MINUTE, BadRequestLines
from tests.building import aggregator_for
from tests.conftest import free_port

from . import hostile
from .conftest import SOURCES, fill
from .test_pages import assert_inert

BASE = "https://medias.example.org"
#: A value for each path parameter that names something that exists.
SAMPLES = {"slug": "paris-luttes", "tag": "logement", "path": "style.css", "filename": "style.css"}
#: Routes whose honest GET is a 4xx by design: name -> why.
DESIGNED_4XX: dict[str, str] = {}
#: Routes that show one of the site's own pages in an iframe by design: name -> its URL prefixes.
DESIGNED_FRAMES = {"share": ("/embed", BASE + "/embed")}
#: Routes whose answer changes from one request to the next by design (not compared).
VOLATILE = {"metrics"}
#: Honest queries of the routes that read some (any other route is asked without one).
HONEST_QUERIES = {
    "river": ["", "?tag=logement", "?lang=fr&source=paris-luttes"],
    "search": ["?q=gr%C3%A8ve", "?q=expulsion&sort=date"],
    "tag": ["", "?lang=fr"],
    "feed_atom": ["", "?q=gr%C3%A8ve", "?source=rebellyon"],
    "feed_json": ["", "?tag=logement"],
    "api_items": ["?limit=5", "?q=loyers", "?source=english-zine"],
}
#: The routes that read the filters (docs/web.md): every (parameter, value) pair hits one of them.
VIEWS = ("river", "search", "source", "tag", "feed_atom", "feed_json", "api_items")
VIEW_PARAMS = ("source", "tag", "lang", "q", "cursor", "limit", "sort", "ui")
#: Requests in flight at once, and the longest any answer may take.
CONCURRENCY = 8
TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass
class Site:
    url: str
    routes: list[hostile.Route]
    reference: dict[str, tuple[int, str, bytes]]  # honest path -> what an uncached server answers
    http: aiohttp.ClientSession
    problems: list[str] = field(default_factory=list)
    sent: int = 0

    def route(self, name: str) -> hostile.Route:
        return next(r for r in self.routes if r.name == name)

    def sample_path(self, route: hostile.Route) -> str:
        return route.path({name: SAMPLES.get(name, "x") for name in route.params})

    def honest_paths(self) -> list[tuple[hostile.Route, str]]:
        return [(route, self.sample_path(route) + query) for route in self.routes if "GET" in route.methods
                for query in HONEST_QUERIES.get(route.name, [""])]

    async def send(self, what: str, method: str, path: str, *, headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> None:
        self.sent += 1
        try:
            async with self.http.request(method, URL(self.url + path, encoded=True), headers=headers, data=data,
                                         allow_redirects=False, timeout=TIMEOUT) as resp:
                body = await resp.read()
                self.check(what, resp.status, resp.headers, body)
        except TimeoutError:
            self.problems.append(f"{what}: no answer within {TIMEOUT.total} s")
        except aiohttp.ClientError as exc:
            self.problems.append(f"{what}: {exc!r}")

    def check(self, what: str, status: int, headers: CIMultiDictProxy[str] | dict[str, str], body: bytes) -> None:
        if status >= 500:
            self.problems.append(f"{what}: {status} {body[:200]!r}")
        for needle in hostile.MARKUP_NEEDLES:
            if needle.encode() in body:
                self.problems.append(f"{what}: reflected {needle!r}")
        if hostile.FORGED_HOST.encode() in body or any(hostile.FORGED_HOST in v for v in headers.values()):
            self.problems.append(f"{what}: the forged host is in the answer")
        for secret in hostile.SECRETS:
            if secret in body:
                self.problems.append(f"{what}: served a file it must not ({secret!r})")
        if any("fz" in name.lower() for name in headers) or "fz=" in headers.get("Set-Cookie", ""):
            self.problems.append(f"{what}: a header was injected: {dict(headers)}")
        location = headers.get("Location")
        if location and not (location.startswith(BASE + "/") or (location.startswith("/") and location[1:2] not in "/\\")):
            self.problems.append(f"{what}: redirects off the site: {location!r}")
        if "text/html" in headers.get("Content-Type", "") and b"fz" in body and b"</head>" in body:
            try:  # a page that shows reader input: no active markup anywhere in it
                assert_inert(body.decode("utf-8", "replace"), frames=DESIGNED_FRAMES.get(what.split(" ", 1)[0], ()))
            except AssertionError as exc:
                self.problems.append(f"{what}: active markup in the page: {exc}")

    async def all(self, requests: Iterable[tuple[Any, ...]]) -> None:
        """Send ``(what, method, path[, headers[, data]])`` requests, CONCURRENCY at a time."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(what: str, method: str, path: str, headers: dict[str, str] | None = None,
                      data: bytes | None = None) -> None:
            async with gate:
                await self.send(what, method, path, headers=headers, data=data)

        await asyncio.gather(*(one(*r) for r in requests))

    async def honest_readers_get_the_reference(self, when: str) -> None:
        for path, (status, ctype, body) in self.reference.items():
            async with self.http.get(self.url + path, allow_redirects=False, timeout=TIMEOUT) as resp:
                got = await resp.read()
                if (resp.status, resp.headers.get("Content-Type", "")) != (status, ctype) or got != body:
                    self.problems.append(f"{when}: {path} changed for an honest reader ({resp.status}: {got[:300]!r})")

    def assert_fine(self) -> None:
        assert not self.problems, f"{len(self.problems)} problems in {self.sent} requests:\n" + "\n".join(
            self.problems[:40])


@pytest.fixture
async def site(store: Store, clock: Any, tmp_path: Path) -> AsyncIterator[Site]:
    fill(store, clock)
    config = Config(sources=SOURCES)
    async with aggregator_for(store, config, data_dir=tmp_path, base_url=BASE, page_cache_seconds=300.0) as agg:
        await asyncio.to_thread(agg.index().sync)
        # The warning lines are rate-limited per process: give each server of this module a
        # fresh allowance, as a newly started process has.
        server_log = logging.getLogger(NAME)
        for old in [f for f in server_log.filters if isinstance(f, BadRequestLines)]:
            server_log.removeFilter(old)
        port = free_port()
        runner = await service.start_web(agg, "127.0.0.1", port)
        # the same application without the page cache: what every honest reader must get
        twin = create_app(store=store, config=config, index=agg.index(), clock=clock, base_url=BASE)
        async with TestClient(TestServer(twin)) as reference_client, aiohttp.ClientSession() as http:
            routes = hostile.routes_of(twin)
            site = Site(f"http://127.0.0.1:{port}", routes, {}, http)
            for route, path in site.honest_paths():
                resp = await reference_client.get(path, allow_redirects=False)
                body = await resp.read()
                if resp.status >= 400 and route.name not in DESIGNED_4XX:
                    site.problems.append(f"honest GET {path} ({route.name}): {resp.status}; give its path parameters "
                                         "a value that exists in SAMPLES, or say why a 4xx is right in DESIGNED_4XX")
                if route.name not in VOLATILE:
                    site.reference[path] = (resp.status, resp.headers.get("Content-Type", ""), body)
            try:
                yield site
            finally:
                await runner.cleanup()


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name} {r.levelname} {r.getMessage()}" + (" (traceback)" if r.exc_info else "")
            for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_parameters_paths_methods_and_bodies(site: Site, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Every hostile value in a parameter of every route, in every path parameter; every
    method on every route; hostile bodies wherever a method takes one.

    On PostgreSQL (the same app over another database) only what reaches the database is
    sent again: every (parameter, value) pair on the views, and the path parameters.
    """
    caplog.set_level(logging.WARNING)
    everything = store.dialect != "postgresql"
    requests: list[tuple[Any, ...]] = []
    for r_index, route in enumerate(site.routes):
        if not everything and not route.params:
            continue
        path = site.sample_path(route)
        for v_index, value in enumerate(hostile.VALUES):
            # every route gets every value, in a parameter that changes from value to value
            param = hostile.PARAMS[(v_index + r_index) % len(hostile.PARAMS)]
            if everything:
                requests.append((f"{route.name} ?{param}={value[:60]}", "GET", f"{path}?{param}={value}"))
            # and in each of its path parameters
            for name in route.params:
                hostile_path = route.path({p: SAMPLES.get(p, "x") for p in route.params} | {name: value or "%20"})
                requests.append((f"{route.name} {{{name}}}={value[:60]}", "GET", hostile_path))
        for method in hostile.METHODS if everything else ():
            requests.append((f"{route.name} {method}", method, path))
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            for ctype, body in hostile.BODIES:
                requests.append((f"{route.name} {method} {ctype} {body[:30]!r}", method, path, {"Content-Type": ctype}, body))
    views = [site.route(name) for name in VIEWS]
    for p_index, param in enumerate(VIEW_PARAMS):
        for v_index, value in enumerate(hostile.VALUES):
            # every (parameter, value) pair on one of the routes that read the parameter
            view = views[(v_index + p_index) % len(views)]
            requests.append((f"{view.name} ?{param}={value[:60]} (view)", "GET", f"{site.sample_path(view)}?{param}={value}"))
    # a body on a GET, and the feeds' filters all hostile at once
    requests.append(("GET with a body", "GET", "/", {"Content-Type": "application/json"}, b"[" * 70_000))
    requests.append(("all filters", "GET", "/feed.atom?" + "&".join(f"{p}={hostile.MARKUP[i]}" for i, p in enumerate(VIEW_PARAMS))))

    await site.all(requests)
    await site.honest_readers_get_the_reference("after the parameters")
    site.problems += no_errors_logged(caplog)
    site.assert_fine()


async def test_forged_headers_first_then_honest_readers(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Every forged header on every route, each the first request for its page (a cache
    miss rendered for it), then the honest readers: they get the uncached answer."""
    caplog.set_level(logging.WARNING)
    # every forgery at once, first, and answered as an honest request would be (a page
    # rendered for it, the one the cache then keeps); then each alone, on every route
    skip = ("Host", "Cookie", "Accept-Language", "Expect", "Connection", "Upgrade", "Range", "If-None-Match",
            "If-Modified-Since", "Content-Type")
    everything = {name: value for name, value in hostile.HEADERS if name not in skip}
    everything |= {"Host": hostile.FORGED_HOST, "Cookie": f"session={hostile.FORGED_HOST}"}
    for _route, path in site.honest_paths():
        async with site.http.get(site.url + path, headers=everything, allow_redirects=False, timeout=TIMEOUT) as resp:
            body = await resp.read()
            site.check(f"{path} every header", resp.status, resp.headers, body)
            if path in site.reference and resp.status != site.reference[path][0]:
                site.problems.append(f"{path} every header: {resp.status}, not {site.reference[path][0]}")
    requests: list[tuple[Any, ...]] = []
    for _route, path in site.honest_paths():
        for name, value in hostile.HEADERS:
            requests.append((f"{path} {name}: {value[:60]}", "GET", path, {name: value}))
    await site.all(requests)
    await site.honest_readers_get_the_reference("after forged headers")
    site.problems += no_errors_logged(caplog)
    site.assert_fine()


async def test_raw_malformed_requests(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """Requests aiohttp parses itself: a 400 (or a closed connection), never a 5xx, and one
    short warning line each in the log, at most ``PER_MINUTE`` of them, no traceback."""
    caplog.set_level(logging.INFO)
    host, port = URL(site.url).host, URL(site.url).port
    assert host and port
    for what, raw in hostile.RAW.items():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(raw)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            status_line, _, header_block = head.decode("latin-1").partition("\r\n")
            headers = dict(line.split(": ", 1) for line in header_block.strip().split("\r\n") if ": " in line)
            length = int(headers.get("Content-Length", "0") or 0)
            body = await asyncio.wait_for(reader.readexactly(length), 20) if length else b""
            parts = status_line.split(" ")
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            if not status_line.startswith("HTTP/"):
                site.problems.append(f"raw {what}: not an HTTP answer: {status_line!r}")
            if status == 400 and headers.get("Content-Type", "").startswith("text/plain") and b"<html" not in body:
                # aiohttp's parser refused it and echoes, as plain text, the part it could not
                # parse: no browser can send such a request, so this reflects nothing to anyone
                body = b""
            site.check(f"raw {what}", status, headers, body)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                site.problems.append(f"raw {what}: a truncated answer {exc.partial[:100]!r}")
            # else: closed without an answer, which is fine for garbage
        finally:
            writer.close()
    # a client that sends half a request and goes away
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nX-A: ")
    await writer.drain()
    writer.close()
    await site.honest_readers_get_the_reference("after raw requests")

    lines = [r for r in caplog.records if r.name == "aggregator.web.server"]
    warnings = [r for r in lines if r.getMessage() == "web.bad_request"]
    assert warnings, "aiohttp's 400s are not logged at all"
    assert len(warnings) <= PER_MINUTE, "the warning lines are not rate-limited"
    assert all(r.levelno == logging.WARNING and not r.exc_info for r in lines)
    assert all(len(str(getattr(r, "fields", {}))) < 400 for r in warnings), "a warning line is not short"
    site.problems += no_errors_logged(caplog)
    site.assert_fine()
