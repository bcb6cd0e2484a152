"""A real Bluesky network on 127.0.0.1 for the tests: PLC, PDS and the reference AppView.

``bluesky_network`` (session scope) runs ``tests/peers/bluesky/up.sh``, which installs
Node 22 and ``@atproto/dev-env`` from the npm registry into ``$PEERS_CACHE`` (default
``~/.cache/aggregator-peers``; first time about 2-3 min and 700 MB) and starts the network
with a throwaway PostgreSQL for the AppView; the network is stopped with ``down.sh`` at the
end of the session. Only an impossible install skips; a network that installs but does not
start fails the tests.

Register it with ``pytest_plugins = ["tests.peers.bluesky"]`` in the root conftest, or
import ``bluesky_network`` into a conftest. Helpers below create accounts and records over
plain XRPC so that tests see the protocol, not an SDK.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

SCRIPTS = Path(__file__).resolve().parent / "bluesky"
INSTALL_TIMEOUT = 1200.0  # seconds; the first npm install takes about 2-3 min here
START_TIMEOUT = 180.0
T = TypeVar("T")


@dataclass(frozen=True)
class BlueskyNetwork:
    """URLs of the running network, spelled with 127.0.0.1 (never ``localhost``)."""

    plc: str
    pds: str
    appview: str
    state: Path
    start_seconds: float


def _loopback(url: str) -> str:
    # dev-env names its servers http://localhost:PORT; they listen on 127.0.0.1 only.
    return url.replace("://localhost:", "://127.0.0.1:")


def _ports_free(base: int) -> bool:
    for port in [*range(base, base + 6), base + 10]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _base_port() -> int:
    """A base port with base..base+5 and base+10 free (up.sh's layout)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        if _ports_free(base):
            return base
    raise RuntimeError("no free range of loopback ports for the Bluesky network")


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join((text or "").strip().splitlines()[-lines:])


def install() -> str | None:
    """Install Node and dev-env into the cache; the reason when npm cannot, else None."""
    try:
        done = subprocess.run(
            [str(SCRIPTS / "up.sh"), "--install-only"], capture_output=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot install the Bluesky network (@atproto/dev-env from npm): {exc}"
    if done.returncode != 0:
        return f"cannot install the Bluesky network (@atproto/dev-env from npm):\n{_tail(done.stderr)}"
    return None


def start() -> BlueskyNetwork:
    """Start PLC + PDS + AppView; raises (fails the tests) when the network does not come up."""
    started = time.monotonic()
    done = subprocess.run(
        [str(SCRIPTS / "up.sh"), str(_base_port())],
        capture_output=True, text=True, timeout=START_TIMEOUT, check=False, stdin=subprocess.DEVNULL,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("STATE="):
        raise RuntimeError(f"the Bluesky network did not start:\n{_tail(done.stderr)}\n{_tail(done.stdout)}")
    ready = json.loads(next(line for line in lines if line.startswith("{")))
    return BlueskyNetwork(
        plc=_loopback(ready["plc"]),
        pds=_loopback(ready["pds"]),
        appview=_loopback(ready["bsky"]),
        state=Path(lines[-1].removeprefix("STATE=")),
        start_seconds=time.monotonic() - started,
    )


def stop(network: BlueskyNetwork) -> None:
    subprocess.run([str(SCRIPTS / "down.sh"), str(network.state)], capture_output=True, timeout=60, check=False)


_NETWORK = pytest.StashKey[BlueskyNetwork]()
_UNAVAILABLE = pytest.StashKey[str]()
_FAILED = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def bluesky_network(request: pytest.FixtureRequest) -> BlueskyNetwork:
    """The running network, started once per session (installed on first use).

    Kept in the session's stash rather than in fixture state so that a conftest importing
    this fixture and the ``pytest_plugins`` registration share one network.
    """
    stash = request.config.stash
    if _UNAVAILABLE in stash:
        pytest.skip(stash[_UNAVAILABLE])
    if _NETWORK not in stash:
        reason = install()
        if reason:
            stash[_UNAVAILABLE] = reason
            pytest.skip(reason)
        if _FAILED in stash:
            pytest.fail(stash[_FAILED])
        try:
            network = start()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            # Installed but not starting is a failure, reported once per test, tried once.
            stash[_FAILED] = str(exc)
            raise
        stash[_NETWORK] = network
        request.config.add_cleanup(lambda: stop(network))
    return stash[_NETWORK]


# ---- helpers for tests: accounts and records over plain XRPC ---------------------------------


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    access_jwt: str


async def xrpc(session: aiohttp.ClientSession, base: str, method: str, *, body: dict[str, Any] | None = None,
               params: dict[str, str] | None = None, token: str | None = None) -> dict[str, Any]:
    """Call one XRPC method (POST when ``body`` is given); raises AssertionError with the answer on error."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{base}/xrpc/{method}"
    request = session.post(url, json=body, headers=headers) if body is not None else session.get(url, params=params, headers=headers)
    async with request as response:
        data = await response.json(content_type=None)
        if response.status != 200:
            raise AssertionError(f"{method} -> {response.status}: {data}")
        return data  # type: ignore[no-any-return]


async def create_account(session: aiohttp.ClientSession, network: BlueskyNetwork, handle: str) -> Account:
    """A fresh account on the PDS (dev mode needs no invite code), once the AppView knows it."""
    data = await xrpc(session, network.pds, "com.atproto.server.createAccount", body={
        "handle": handle, "email": f"{handle}@example.com", "password": "correct-horse-battery",
    })
    account = Account(did=data["did"], handle=data["handle"], access_jwt=data["accessJwt"])
    # The AppView indexes a new account 0.2-0.9 s after creation.
    await poll(lambda: _profile_indexed(session, network, account.did), what=f"profile of {handle} on the AppView")
    return account


async def _profile_indexed(session: aiohttp.ClientSession, network: BlueskyNetwork, did: str) -> bool:
    async with session.get(f"{network.appview}/xrpc/app.bsky.actor.getProfile", params={"actor": did}) as response:
        return response.status == 200


async def create_record(session: aiohttp.ClientSession, network: BlueskyNetwork, account: Account,
                        collection: str, record: dict[str, Any]) -> dict[str, str]:
    """``com.atproto.repo.createRecord``; returns ``{"uri": ..., "cid": ...}``."""
    record = {"$type": collection, **record}
    data = await xrpc(session, network.pds, "com.atproto.repo.createRecord", token=account.access_jwt,
                      body={"repo": account.did, "collection": collection, "record": record})
    return {"uri": data["uri"], "cid": data["cid"]}


async def poll(check: Callable[[], Awaitable[T]], *, what: str, timeout: float = 30.0, interval: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy; bounded, fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
