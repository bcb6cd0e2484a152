"""A Mastodon client-API server on 127.0.0.1 that replays recordings of a real Mastodon.

No Mastodon-compatible server can be installed from the package registries here, so the
tests answer with what a real Mastodon 4.x said: the vcrpy cassettes recorded by
Mastodon.py's test-suite (``../shared/corpus/mastodon/api-cassettes``; read from there,
never copied into the repository).

Matching is on method + path + query (sorted), request bodies are ignored, and the
recorded answers for one key are served in recorded order (the last one repeats). Headers
are replayed as recorded, with the origin of the recorded server in ``Link`` and
``Location`` rewritten to this server's origin so that pagination stays here. Bodies are
replayed verbatim.

Use as a library (``MastodonReplay``; the async ``mastodon_replay`` pytest fixture;
``replay_in_thread`` for synchronous clients such as Mastodon.py) or run it:
``python -m tests.peers.mastodon_replay PORT CASSETTE.yaml...``
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml
from aiohttp import web

CASSETTES = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mastodon" / "api-cassettes"
#: Hop-by-hop or body-framing headers: aiohttp computes its own for the replayed body.
SKIP_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"})
#: Headers whose URLs point at the recorded server and must point here instead.
REWRITE_HEADERS = frozenset({"link", "location"})

Key = tuple[str, str, tuple[tuple[str, str], ...]]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def request_key(method: str, url: str, ignore: Iterable[str] = ()) -> Key:
    """(METHOD, path without trailing slash, sorted query pairs minus ``ignore``)."""
    parts = urlsplit(url)
    dropped = set(ignore)
    query = tuple(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in dropped))
    return method.upper(), parts.path.rstrip("/") or "/", query


@dataclass
class Recorded:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    origin: str  # scheme://host[:port] of the recorded server


@dataclass
class Served:
    """One request the replay received, as the test sees it."""

    method: str
    path: str
    query: dict[str, str]
    status: int  # 404 for a request no recording matches ("miss")


def load_cassettes(paths: Iterable[Path], ignore: Iterable[str] = ()) -> dict[Key, list[Recorded]]:
    """Index the interactions of vcrpy cassettes by request key, in recorded order."""
    table: dict[Key, list[Recorded]] = defaultdict(list)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_Loader)
        for interaction in data["interactions"]:
            request, response = interaction["request"], interaction["response"]
            parts = urlsplit(request["uri"])
            body = (response.get("body") or {}).get("string") or b""
            if isinstance(body, str):
                body = body.encode("utf-8")
            headers = []
            for name, values in (response.get("headers") or {}).items():
                if name.lower() in SKIP_HEADERS:
                    continue
                for value in values if isinstance(values, list) else [values]:
                    headers.append((name, str(value)))
            table[request_key(request["method"], request["uri"], ignore)].append(
                Recorded(int(response["status"]["code"]), headers, body, f"{parts.scheme}://{parts.netloc}")
            )
    return dict(table)


@dataclass
class MastodonReplay:
    """The replay server: ``await start()``, use ``base``, ``await stop()``.

    Args:
        cassettes: one scenario's cassettes (keys recorded twice answer in order).
        ignore_params: query parameters left out of matching on both sides, for a client
            that sends parameters the recorded client did not (the ``log`` still shows them).
    """

    cassettes: list[Path]
    ignore_params: frozenset[str] = frozenset()
    log: list[Served] = field(default_factory=list)
    base: str = ""
    _runner: web.AppRunner | None = None

    def __post_init__(self) -> None:
        self.table = load_cassettes(self.cassettes, self.ignore_params)
        self.cursors: dict[Key, int] = defaultdict(int)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        key = request_key(request.method, str(request.rel_url), self.ignore_params)
        query = dict(request.rel_url.query)
        answers = self.table.get(key)
        if not answers:
            self.log.append(Served(request.method, request.path, query, 404))
            return web.json_response({"error": "Record not found (replay miss)"}, status=404)
        recorded = answers[min(self.cursors[key], len(answers) - 1)]
        self.cursors[key] += 1
        response = web.Response(status=recorded.status, body=recorded.body)
        for name, value in recorded.headers:
            if name.lower() in REWRITE_HEADERS:
                value = value.replace(recorded.origin, self.base)
            response.headers.add(name, value)
        self.log.append(Served(request.method, request.path, query, recorded.status))
        return response

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]  # the port the OS chose for port=0
        self.base = f"http://127.0.0.1:{bound}"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


ReplayFactory = Callable[..., Awaitable[MastodonReplay]]


@pytest.fixture
async def mastodon_replay() -> AsyncIterator[ReplayFactory]:
    """Factory: ``await mastodon_replay("mastodonpy__test_account_lookup.yaml", ignore_params={...})``.

    Skips (with the reason) when the recordings are not there.
    """
    started: list[MastodonReplay] = []

    async def start(*names: str, ignore_params: Iterable[str] = ()) -> MastodonReplay:
        replay = MastodonReplay(cassette_paths(names), frozenset(ignore_params))
        await replay.start()
        started.append(replay)
        return replay

    yield start
    for replay in started:
        await replay.stop()


def cassette_paths(names: Iterable[str]) -> list[Path]:
    """Paths of the named recordings; skips the calling test when the corpus is absent."""
    paths = [CASSETTES / name for name in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"Mastodon recordings not found (the shared corpus is absent): {', '.join(missing)}")
    return paths


@contextmanager
def replay_in_thread(*names: str, ignore_params: Iterable[str] = ()) -> Iterator[MastodonReplay]:
    """The replay on its own event loop in a thread, for synchronous clients (Mastodon.py)
    that would otherwise block the loop serving them."""
    replay = MastodonReplay(cassette_paths(names), frozenset(ignore_params))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="mastodon-replay", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(replay.start(), loop).result(timeout=30)
        yield replay
    finally:
        asyncio.run_coroutine_threadsafe(replay.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def main(argv: list[str]) -> None:
    """``python -m tests.peers.mastodon_replay PORT CASSETTE...``: serve until interrupted."""
    port, paths = int(argv[0]), [Path(p) for p in argv[1:]]

    async def serve() -> None:
        replay = MastodonReplay(paths)
        print(await replay.start(port), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await replay.stop()

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
