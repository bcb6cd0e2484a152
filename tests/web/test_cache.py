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
    cache = ResponseCache(5, clock=clock)
    app = web.Application(middlewares=[cache_middleware(cache, lambda r: r.cookies.get("ui", "fr"))])
    app.router.add_get("/", page)
    app.router.add_get("/healthz", page)
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

    app = web.Application(middlewares=[cache_middleware(ResponseCache(5), lambda r: "fr")])
    app.router.add_get("/", slow)
    client = await aiohttp_client(app)
    pending = [asyncio.create_task(client.get("/")) for _ in range(8)]
    await asyncio.sleep(0.2)
    gate.set()
    responses = await asyncio.gather(*pending)
    assert [await r.text() for r in responses] == ["page"] * 8
    assert renders == 1
