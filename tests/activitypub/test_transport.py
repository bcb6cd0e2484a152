"""Signed requests over real loopback HTTP: double knock, errors, caps, the SSRF guard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web

from aggregator.activitypub import signatures
from aggregator.activitypub.keys import KeyPair
from aggregator.activitypub.signatures import Message
from aggregator.activitypub.transport import Signer, Transport, make_session, retry_after
from aggregator.errors import PermanentRemoteError, TemporaryRemoteError
from tests.conftest import free_port

from .conftest import StaticResolver

KEY = "https://agg.example/ap/actor#main-key"
OWNER = "https://agg.example/ap/actor"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Remote:
    origin: str
    seen: list[Message] = field(default_factory=list)
    routes: dict[str, Handler] = field(default_factory=dict)


@pytest.fixture
async def remote() -> AsyncIterator[Remote]:
    port = free_port()
    server = Remote(origin=f"http://127.0.0.1:{port}")

    async def dispatch(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.seen.append(Message.create(request.method, server.origin + request.path_qs, list(request.headers.items()), body))
        handler = server.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no such thing")
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def transport(keypair: KeyPair) -> AsyncIterator[Transport]:
    async with make_session(allow_private=True, user_agent="aggregator-tests/1.0", timeout=5) as session:
        yield Transport(session, Signer(KEY, keypair.private_key()), allow_private=True)


def status(code: int, **headers: str) -> Handler:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=code, text=f"status {code}", headers=headers)
    return handler


def verifying(resolver: StaticResolver, accept: set[str]) -> Handler:
    """An inbox that verifies with our code and accepts only the schemes in ``accept``."""
    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        message = Message.create(request.method, str(request.url), list(request.headers.items()), body)
        scheme = "rfc9421" if message.header("signature-input") else "cavage"
        if scheme not in accept:
            return web.Response(status=401)
        await signatures.verify(message, resolver, now=datetime.now(UTC))
        return web.Response(status=202)
    return handler


@pytest.fixture
def ours(resolver: StaticResolver, keypair: KeyPair) -> StaticResolver:
    resolver.add(KEY, OWNER, keypair.public_pem)
    return resolver


async def test_post_cavage_first_and_verifiable(remote: Remote, transport: Transport, ours: StaticResolver) -> None:
    remote.routes["/inbox"] = verifying(ours, {"cavage", "rfc9421"})
    done = await transport.post(f"{remote.origin}/inbox", {"id": "x", "type": "Create"})
    assert (done.status, done.scheme, done.knocks) == (202, "cavage", 1)
    sent = remote.seen[-1]
    assert sent.header("content-type") == "application/activity+json"
    assert sent.header("user-agent") == "aggregator-tests/1.0"
    assert json.loads(sent.body) == {"id": "x", "type": "Create"}


@pytest.mark.parametrize("accepts,expected", [({"rfc9421"}, "rfc9421"), ({"cavage"}, "cavage")])
async def test_double_knock_and_memory(accepts: set[str], expected: str, remote: Remote, transport: Transport, ours: StaticResolver) -> None:
    remote.routes["/inbox"] = verifying(ours, accepts)
    transport.first_scheme = "cavage" if expected == "rfc9421" else "rfc9421"
    done = await transport.post(f"{remote.origin}/inbox", {"id": "x"})
    assert (done.scheme, done.knocks) == (expected, 2)
    assert [m.header("signature-input") is not None for m in remote.seen] == (
        [False, True] if expected == "rfc9421" else [True, False])
    # The origin's scheme is remembered: one knock next time.
    again = await transport.post(f"{remote.origin}/inbox", {"id": "y"})
    assert (again.scheme, again.knocks) == (expected, 1)


async def test_401_twice_is_permanent(remote: Remote, transport: Transport) -> None:
    remote.routes["/inbox"] = status(401)
    with pytest.raises(PermanentRemoteError) as info:
        await transport.post(f"{remote.origin}/inbox", {"id": "x"})
    assert info.value.status == 401 and len(remote.seen) == 2


@pytest.mark.parametrize("code,headers,error,after", [
    (503, {"Retry-After": "120"}, TemporaryRemoteError, 120.0),
    (429, {}, TemporaryRemoteError, None),
    (500, {}, TemporaryRemoteError, None),
    (404, {}, PermanentRemoteError, None),
    (410, {}, PermanentRemoteError, None),
    (302, {"Location": "/elsewhere"}, PermanentRemoteError, None),
])
async def test_post_errors(code: int, headers: dict[str, str], error: type[Exception], after: float | None,
                           remote: Remote, transport: Transport) -> None:
    remote.routes["/inbox"] = status(code, **headers)
    with pytest.raises(error) as info:
        await transport.post(f"{remote.origin}/inbox", {"id": "x"})
    assert getattr(info.value, "status", None) == code
    assert getattr(info.value, "retry_after", None) == after
    assert getattr(info.value, "permanent", None) is (error is PermanentRemoteError)
    assert len(remote.seen) == 1


async def test_connection_reset_and_timeout_are_temporary(remote: Remote, keypair: KeyPair) -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    remote.routes["/reset"] = reset
    remote.routes["/slow"] = slow
    async with make_session(allow_private=True, user_agent="t", timeout=0.5) as session:
        transport = Transport(session, Signer(KEY, keypair.private_key()), allow_private=True)
        with pytest.raises(TemporaryRemoteError):
            await transport.post(f"{remote.origin}/reset", {"id": "x"})
        with pytest.raises(TemporaryRemoteError):
            await transport.post(f"{remote.origin}/slow", {"id": "x"})
    nowhere = f"http://127.0.0.1:{free_port()}/inbox"
    async with make_session(allow_private=True, user_agent="t") as session:
        with pytest.raises(TemporaryRemoteError):
            await Transport(session, Signer(KEY, keypair.private_key()), allow_private=True).post(nowhere, {"id": "x"})


async def test_ssrf_guard(remote: Remote, keypair: KeyPair) -> None:
    """Without allow_private, loopback is refused: literal addresses, names resolving to it, redirects."""
    async with make_session(allow_private=False, user_agent="t") as session:
        transport = Transport(session, Signer(KEY, keypair.private_key()), allow_private=False)
        for url in (f"{remote.origin}/inbox", f"http://localhost:{remote.origin.rsplit(':', 1)[1]}/inbox",
                    "http://169.254.169.254/latest", "file:///etc/passwd"):
            with pytest.raises(PermanentRemoteError):
                await transport.post(url, {"id": "x"})
            with pytest.raises(PermanentRemoteError):
                await transport.get(url)
    assert remote.seen == []
    # A "public" server (trusted for the test) redirecting to a private address.
    async def redirect(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://127.0.0.2:9/actor"})
    remote.routes["/actor"] = redirect
    async with make_session(allow_private=False, user_agent="t", trusted=frozenset({"127.0.0.1"})) as session:
        transport = Transport(session, Signer(KEY, keypair.private_key()), trusted=frozenset({"127.0.0.1"}))
        with pytest.raises(PermanentRemoteError, match=r"127\.0\.0\.2"):
            await transport.get(f"{remote.origin}/actor")


async def test_get_documents(remote: Remote, transport: Transport, ours: StaticResolver) -> None:
    doc = {"id": f"{remote.origin}/actor", "type": "Person", "inbox": f"{remote.origin}/inbox"}

    async def actor(request: web.Request) -> web.Response:
        return web.Response(body=json.dumps(doc).encode(), content_type="application/activity+json")

    async def moved(_: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "/actor"})

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    async def huge(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/activity+json"})
        await response.prepare(_)
        for _i in range(40):
            await response.write(b" " * 65536)
        return response

    async def loop(_: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop"})

    async def array(_: web.Request) -> web.Response:
        return web.Response(text="[1]", content_type="application/json")

    remote.routes.update({"/actor": actor, "/moved": moved, "/html": html, "/huge": huge, "/loop": loop, "/array": array})
    assert await transport.get(f"{remote.origin}/moved") == doc
    signed = remote.seen[-1]
    assert signed.header("accept") == 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    verified = await signatures.verify(signed, ours, now=datetime.now(UTC))
    assert verified.covered == ("(request-target)", "host", "date")
    for path, match in (("/html", "not an ActivityPub"), ("/huge", "larger than"), ("/loop", "redirects"),
                        ("/array", "not a JSON object"), ("/missing", "HTTP 404")):
        with pytest.raises(PermanentRemoteError, match=match):
            await transport.get(f"{remote.origin}{path}")


def test_retry_after() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after("30", now) == 30.0
    assert retry_after("Tue, 01 Dec 2026 12:05:00 GMT", now) == 300.0
    assert retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("999999999", now) == 86400.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None
