"""The container deployment, run: the image built from Dockerfile, docker-compose.yml brought up.

Podman stands in for Docker (``podman build`` reads the same Dockerfile, podman-compose
the same compose file); see ``stack.py`` for the two things done by hand because Debian
12's podman cannot (health-check timers, depends_on conditions). The steps run in file
order on one stack: migrations, the crawl by two replicas and a SIGTERM, the river of
two web replicas, the relay and its standby, PostgreSQL restarted and killed, health,
the stack stopped, the documented backup and restore, and the stack down.

Run it with ``make test-deploy`` (it prepares the images first); without podman it skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from aggregator.store.migrate import MIGRATIONS
from tests.relay.mastodon_fake import FakeMastodon

from . import images
from .feeds import Feeds, start_feeds, start_mastodon
from .podman import podman
from .stack import Stack, until

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

SOURCES = 200  # more than one crawler's lease batch (128): both replicas get work
RELAYED = 4  # sources whose articles the relay posts
TOKEN = "deploy-test-token"
T = TypeVar("T")


class LoopThread:
    """An event loop in a thread for the servers, which must answer while the test blocks."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="deploy-servers", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()
        return self.run(wrapped())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@dataclass
class Deployment:
    stack: Stack
    loop: LoopThread
    feeds: Feeds
    mastodon: FakeMastodon

    def db(self) -> Engine:
        return create_engine(self.stack.pg_url(), poolclass=NullPool)

    def answers(self) -> bool:
        """Whether the database accepts a connection from the host now."""
        try:
            return self.scalar("SELECT 1") == 1
        except OperationalError:
            return False

    def scalar(self, sql: str, **params: Any) -> Any:
        engine = self.db()
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).scalar()
        finally:
            engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        engine = self.db()
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params).all())
        finally:
            engine.dispose()

    def stored(self) -> set[tuple[str, str]]:
        return {(r.slug, r.guid) for r in self.rows(
            "SELECT s.slug, e.guid FROM entries e JOIN sources s ON s.id = e.source_id WHERE NOT e.deleted")}

    def web_ports(self) -> list[int]:
        return [self.stack.port(name, 8080) for name in self.stack.names("web")]

    def posted_links(self) -> Counter[str]:
        def links() -> Counter[str]:
            found = (re.search(r'href="([^"]+)"', s["content"]) for s in self.mastodon.own_posts())
            return Counter(m.group(1) for m in found if m)
        return self.loop.call(links)

    def detail(self, *services: str) -> Callable[[], str]:
        def tails() -> str:
            return "\n".join(f"--- {name}\n{self.stack.logs(name)[-3000:]}"
                             for service in services for name in self.stack.names(service))
        return tails


def get(port: int, path: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _path_of(link: str) -> str:
    """The path and query of ``next``: absolute under ``AGGREGATOR_BASE_URL`` (the public
    address, not this replica's port) or a path from the site's root without it."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def river(port: int) -> list[tuple[str, str]]:
    """The whole river of one web replica through /api/items, page after page."""
    out: list[tuple[str, str]] = []
    path = "/api/items?limit=200"
    while path:
        status, body = get(port, path)
        assert status == 200, body[:500]
        data = json.loads(body)
        out += [(i["source"], i["guid"]) for i in data["items"]]
        path = _path_of(data["next"]) if data.get("next") else ""
    return out


def alembic_head() -> str:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


LOCKS = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"


def acquired(stack: Stack, name: str) -> int:
    """How many times a relay container took the relay lock (its ``lock.acquired`` lines)."""
    return sum(1 for e in stack.json_logs(name) if e.get("event") == "lock.acquired")


def read_ip_forward() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


@pytest.fixture(scope="module")
def deployed(podman_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    images.prepare()
    stack = Stack.create(tmp_path_factory.mktemp("compose"), secrets.token_urlsafe(16),
                         WEB_PORTS="127.0.0.1:",  # podman: one free host port per replica
                         AGGREGATOR_ALLOW_PRIVATE_NETWORKS="1",  # the feeds are on the host
                         MASTODON_ACCESS_TOKEN=TOKEN)
    stack.force_clean()  # what a killed run may have left
    forward = read_ip_forward()  # netavark turns IPv4 forwarding on; put it back after
    loop = LoopThread()
    started: dict[str, Any] = {}

    def servers() -> None:
        gateway = stack.gateway()
        started["feeds"] = loop.run(start_feeds(gateway, SOURCES, RELAYED))
        started["mastodon"], url = loop.run(start_mastodon(gateway, TOKEN))
        started["feeds"].write_config(stack.sources_file, url)

    try:
        stack.up_in_order(on_postgres_healthy=servers)
        yield Deployment(stack, loop, started["feeds"], started["mastodon"])
    finally:
        stack.force_clean()
        if "feeds" in started:
            loop.run(started["feeds"].server.close())
        if "mastodon" in started:
            loop.run(started["mastodon"].stop())
        loop.stop()
        if forward == "0" and read_ip_forward() == "1":
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")


def test_migrations_ran_once_before_the_other_services(deployed: Deployment) -> None:
    stack = deployed.stack
    [migrate] = stack.names("migrate")
    state = stack.state(migrate)
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), stack.logs(migrate)
    assert stack.inspect(migrate)["RestartCount"] == 0
    assert "database is up to date (postgresql)" in stack.logs(migrate)
    assert deployed.scalar("SELECT version_num FROM alembic_version") == alembic_head()
    finished = state["FinishedAt"]
    for service in ("crawler", "web", "relay"):
        for name in stack.names(service):
            assert stack.state(name)["StartedAt"] >= finished, f"{name} started before migrate finished"
            assert stack.inspect(name)["HostConfig"]["Init"] is True, f"{name}: init: true"


def test_two_crawlers_fetch_every_source_once_and_sigterm_gives_leases_back(deployed: Deployment) -> None:
    stack, feeds = deployed.stack, deployed.feeds
    crawlers = stack.names("crawler")
    assert len(crawlers) == 2, "deploy.replicas: 2"
    hostnames = {stack.inspect(n)["Config"]["Hostname"]: n for n in crawlers}

    def fetched_by(name: str) -> set[str]:
        return {e["source"] for e in stack.json_logs(name) if e.get("event") == "crawl.source"}

    def busy_crawler() -> str | None:
        """Both replicas fetching, and one of them holding leases on sources not fetched yet."""
        if not all(fetched_by(n) for n in crawlers):
            return None
        rows = deployed.rows("SELECT lease_owner, count(*) AS n FROM sources WHERE lease_owner IS NOT NULL "
                             "AND last_fetch IS NULL GROUP BY lease_owner ORDER BY n DESC")
        return hostnames[rows[0].lease_owner.rsplit(":", 1)[0]] if rows else None

    target = until(busy_crawler, 180, "both crawlers mid-pass", deployed.detail("crawler"))
    owner_host = stack.inspect(target)["Config"]["Hostname"]
    podman("stop", "-t", "90", target, timeout=200)  # SIGTERM, through the init process
    state = stack.state(target)
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), stack.logs(target)
    left = deployed.scalar("SELECT count(*) FROM sources WHERE lease_owner LIKE :h", h=f"{owner_host}:%")
    assert left == 0, f"{target} kept {left} leases after SIGTERM"
    assert "Traceback" not in stack.logs(target)

    # the other replica finishes the pass, the stopped one's handed-back sources included
    until(lambda: deployed.scalar("SELECT count(*) FROM sources WHERE last_fetch IS NULL") == 0, 180,
          "every source to be fetched", deployed.detail("crawler"))
    gets = deployed.loop.call(feeds.unconditional_gets)
    assert set(gets) == {feeds.slug(n) for n in range(SOURCES)}
    assert [s for s, n in gets.items() if n != 1] == [], "sources fetched more than once before being stored"
    a, b = (fetched_by(n) for n in crawlers)
    assert not a & b and len(a | b) == SOURCES, "each source fetched by one replica"

    stack.compose("start", "crawler")  # back to two replicas for what follows
    until(lambda: stack.state(target)["Status"] == "running", 60, f"{target} to run again")


def test_entries_are_stored_once_and_both_web_replicas_serve_the_same_river(deployed: Deployment) -> None:
    expected = deployed.loop.call(deployed.feeds.expected_guids)
    until(lambda: deployed.stored() == expected, 120, "every article to be stored", deployed.detail("crawler"))
    assert deployed.scalar("SELECT count(*) FROM entries") == len(expected)  # none twice
    ports = deployed.web_ports()
    assert len(ports) == 2, "deploy.replicas: 2, one host port each"

    def full_river(port: int) -> list[tuple[str, str]] | None:
        r = river(port)
        return r if set(r) == expected else None

    rivers = [until(partial(full_river, p), 60, f"the river on port {p}") for p in ports]
    assert rivers[0] == rivers[1]
    pages = [get(p, "/")[0] for p in ports]
    assert pages == [200, 200]


def test_one_relay_leads_and_posts_each_article_once(deployed: Deployment) -> None:
    feeds = deployed.feeds
    [relay] = deployed.stack.names("relay")
    wanted = {f"{feeds.base}/articles/{n}/0/{k}" for n in range(RELAYED) for k in range(2)}
    until(lambda: set(deployed.posted_links()) >= wanted, 120, "the relay to post the relayed articles",
          deployed.detail("relay"))
    posted = deployed.posted_links()
    assert set(posted) == wanted and set(posted.values()) == {1}, posted
    assert deployed.scalar(LOCKS) == 1
    assert acquired(deployed.stack, relay) == 1, deployed.stack.logs(relay)


def test_a_second_relay_stands_by_and_takes_over(deployed: Deployment) -> None:
    stack = deployed.stack
    [first] = stack.names("relay")
    stack.compose("up", "-d", "--no-deps", "--scale", "relay=2", "relay")
    second = next(n for n in stack.names("relay") if n != first)
    until(lambda: stack.state(second)["Status"] == "running", 60, f"{second} to run")
    # the leader stops (SIGTERM, as on a redeploy): its lock goes with its session
    podman("stop", "-t", "60", first)
    assert stack.state(first)["ExitCode"] == 0, stack.logs(first)
    until(lambda: acquired(stack, second) == 1, 60, f"{second} to take the relay lock", deployed.detail("relay"))
    assert deployed.scalar(LOCKS) == 1
    # back to one replica (podman-compose does not scale down): the first stands by, then leads again
    stack.compose("start", "relay")
    until(lambda: stack.state(first)["Status"] == "running", 60, f"{first} to run again")
    assert acquired(stack, first) == 1, "a standby does not take a held lock"
    podman("stop", "-t", "60", second)
    until(lambda: acquired(stack, first) == 2, 60, f"{first} to take the lock back", deployed.detail("relay"))
    podman("rm", second)
    assert deployed.scalar(LOCKS) == 1
    assert set(deployed.posted_links().values()) == {1}, "no article posted twice"


def test_postgres_restarted_or_killed_loses_nothing(deployed: Deployment) -> None:
    stack, feeds, loop = deployed.stack, deployed.feeds, deployed.loop
    workers = [n for s in ("crawler", "web", "relay") for n in stack.names(s)]
    before = {n: (stack.state(n)["StartedAt"], stack.inspect(n)["RestartCount"]) for n in workers}
    pg = stack.name("postgres")

    # new articles on every relayed source and a few more, then `docker compose restart postgres`
    changed = list(range(RELAYED + 6))

    def publish(generation: int) -> None:
        for n in changed:
            feeds.publish(n, generation)

    loop.call(partial(publish, 1))
    stack.compose("restart", "postgres")
    until(lambda: stack.health(pg) == "healthy", 120, "postgres to be healthy after the restart", lambda: stack.logs(pg))

    # then its server killed (SIGKILL to the container's main process, as the OOM killer
    # would; `podman kill` would count as stopped by hand): the restart policy brings it
    # back, and WAL replay keeps what was committed
    restarts = stack.inspect(pg)["RestartCount"]
    loop.call(partial(publish, 2))
    os.kill(stack.state(pg)["Pid"], signal.SIGKILL)
    until(lambda: stack.inspect(pg)["RestartCount"] > restarts and stack.state(pg)["Status"] == "running", 120,
          "postgres to be restarted by its restart policy", lambda: stack.logs(pg))
    until(lambda: stack.health(pg) == "healthy", 120, "postgres to be healthy after the kill", lambda: stack.logs(pg))

    expected = loop.call(feeds.expected_guids)
    until(lambda: deployed.stored() == expected, 180, "the new articles to be stored", deployed.detail("crawler"))
    assert deployed.scalar("SELECT count(*) FROM entries") == len(expected)
    for port in deployed.web_ports():
        until(partial(lambda p: set(river(p)) == expected, port), 60, f"the river on port {port} to show them")
    wanted = {f"{feeds.base}/articles/{n}/{g}/{k}" for n in range(RELAYED) for g in range(3) for k in range(2)}
    until(lambda: set(deployed.posted_links()) >= wanted, 120, "the relay to post the new articles",
          deployed.detail("relay"))
    assert set(deployed.posted_links().values()) == {1}
    # no aggregator process was restarted: each rode the database's restarts out
    after = {n: (stack.state(n)["StartedAt"], stack.inspect(n)["RestartCount"]) for n in workers}
    assert after == before
    for name in workers:
        assert "Traceback" not in stack.logs(name), stack.logs(name)


def test_health_checks_report_healthy(deployed: Deployment) -> None:
    stack = deployed.stack
    for name in [stack.name("postgres"), *stack.names("web")]:
        until(partial(lambda n: stack.health(n) == "healthy", name), 90, f"{name} to be healthy")
    for service in ("crawler", "relay"):
        for name in stack.names(service):
            assert stack.health(name) == "", f"{name} has a health check; compose disables it"
    for port in deployed.web_ports():
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["database"] is True


def test_the_stack_stops_cleanly(deployed: Deployment) -> None:
    stack = deployed.stack
    stack.compose("stop", timeout=600)
    codes = {c["Names"][0]: (c["State"], c["ExitCode"]) for c in stack.containers()}
    assert len(codes) == 7 and all(s == "exited" and code == 0 for s, code in codes.values()), codes


def test_backup_and_restore_as_documented(deployed: Deployment) -> None:
    """docs/deploy.md's pg_dump and pg_restore commands, through compose exec, into a new volume."""
    stack = deployed.stack
    stack.compose("start", "postgres")
    pg = stack.name("postgres")
    until(lambda: stack.health(pg) == "healthy", 120, "postgres to be healthy", lambda: stack.logs(pg))
    before = deployed.stored()
    dump = stack.compose_bytes("exec", "-T", "postgres", "sh", "-c", 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" -Fc')
    assert dump.startswith(b"PGDMP")
    stack.compose("down")  # keeps volumes
    podman("volume", "rm", f"{stack.project}_pgdata")
    stack.compose("up", "-d", "postgres")
    pg = stack.name("postgres")
    until(lambda: stack.health(pg) == "healthy", 120, "the new postgres to be healthy", lambda: stack.logs(pg))
    # "healthy" is pg_isready inside the container; the host reaches it through a port that
    # a new container publishes a moment later (seen refused once on a loaded machine).
    until(deployed.answers, 60, "the new postgres to accept connections from the host", lambda: stack.logs(pg))
    assert deployed.scalar("SELECT to_regclass('entries') IS NULL"), "a fresh volume"
    stack.compose_bytes("exec", "-T", "postgres", "sh", "-c",
                        'pg_restore -U "$POSTGRES_USER" -d "$POSTGRES_DB" --clean --if-exists --no-owner', stdin=dump)
    assert deployed.stored() == before
    assert deployed.scalar("SELECT version_num FROM alembic_version") == alembic_head()


def test_down_leaves_nothing_behind(deployed: Deployment) -> None:
    stack = deployed.stack
    stack.down()
    assert stack.leftovers() == []
