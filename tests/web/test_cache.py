"""The micro-cache: a burst of readers costs one render; conditional requests still work."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aggregator.webapp.cache import ResponseCache, cache_middleware


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_cached_then_expired_and_304_from_cache(aiohttp_client: Any) -> None:
    calls = []

    async def page(request: web.Request) -> web.Response:
        calls.append(request.headers.get("If-None-Match"))
        return web.Response(text=f"render {len(calls)}", headers={"ETag": f'"v{len(calls)}"'})

    clock = Clock()
    cache = ResponseCache(5, clock=clock, routes={"page"})
    app = web.Application(middlewares=[cache_middleware(cache, lambda r: r.cookies.get("ui", "fr"))])
    app.router.add_get("/", page, name="page")
    app.router.add_get("/healthz", page, name="healthz")  # not listed: never kept
    client = await aiohttp_client(app)

    assert await (await client.get("/")).text() == "render 1"
    assert await (await client.get("/")).text() == "render 1"
    r = await client.get("/", headers={"If-None-Match": '"v1"'})
    assert r.status == 304 and r.headers["ETag"] == '"v1"'
    assert await (await client.get("/?ui=en")).text() == "render 2"  # personal: never cached
    assert await (await client.get("/", cookies={"ui": "en"})).text() == "render 3"  # other language, other key
    assert await (await client.get("/healthz")).text() == "render 4"
    assert await (await client.get("/healthz")).text() == "render 5"
    clock.t += 6
    r = await client.get("/", headers={"If-None-Match": '"v1"'})
    assert r.status == 200 and await r.text() == "render 6"  # expired: rendered again, new ETag
    assert calls[-1] is None  # the handler never sees the client's validators on a miss


async def test_concurrent_misses_render_once(aiohttp_client: Any) -> None:
    import asyncio

    renders = 0
    gate = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        nonlocal renders
        renders += 1
        await gate.wait()
        return web.Response(text="page", headers={"ETag": '"p"'})

    app = web.Application(middlewares=[cache_middleware(ResponseCache(5, routes={"slow"}), lambda r: "fr")])
    app.router.add_get("/", slow, name="slow")
    client = await aiohttp_client(app)
    pending = [asyncio.create_task(client.get("/")) for _ in range(8)]
    await asyncio.sleep(0.2)
    gate.set()
    responses = await asyncio.gather(*pending)
    assert [await r.text() for r in responses] == ["page"] * 8
    assert renders == 1


async def test_a_kept_page_is_rendered_from_its_key_alone(aiohttp_client: Any) -> None:
    """A handler that (wrongly) reads Host, cookies or other headers cannot poison the cache."""

    async def leaky(request: web.Request) -> web.Response:
        seen = [request.host, request.url.host or "", request.headers.get("X-Forwarded-Host", ""),
                request.headers.get("User-Agent", ""), request.cookies.get("session", ""), request.remote or "",
                request.headers.get("Accept-Language", ""), request.query.get("q", "")]
        return web.Response(text="|".join(seen))

    async def personal(request: web.Request) -> web.Response:
        response = web.Response(text=f"hello {request.cookies.get('session', '')}")
        response.set_cookie("seen", "1")
        return response

    def locale(request: web.Request) -> str:
        return "en" if (request.headers.get("Accept-Language") or "").startswith("en") else "fr"

    cache = ResponseCache(60, routes={"leaky", "personal"})
    app = web.Application(middlewares=[cache_middleware(cache, locale, scheme="https", host="medias.example.org")])
    app.router.add_get("/leaky", leaky, name="leaky")
    app.router.add_get("/personal", personal, name="personal")
    client = await aiohttp_client(app)

    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "User-Agent": "evil-agent",
              "Cookie": "session=evil-session", "Accept-Language": "en-GB,en;q=0.9"}
    poisoned = await (await client.get("/leaky?q=1", headers=forged)).text()
    assert "evil" not in poisoned
    assert poisoned == "medias.example.org|medias.example.org|||||en|1"
    honest = await (await client.get("/leaky?q=1", headers={"Accept-Language": "en"})).text()
    assert honest == poisoned  # the same key, the same page, whoever asked first
    french = await (await client.get("/leaky?q=1")).text()
    assert french.endswith("|fr|1")  # the language is part of the key

    # an answer that sets a cookie is rendered for each reader, never kept
    first = await client.get("/personal", headers={"Cookie": "session=a"})
    second = await client.get("/personal", headers={"Cookie": "session=b"})
    assert "Set-Cookie" in first.headers and "Set-Cookie" in second.headers
    assert len(cache._items) == 2  # the two /leaky keys only
