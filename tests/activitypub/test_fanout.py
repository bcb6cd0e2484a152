"""The fan-out against real loopback inboxes that fail: retried with back-off, never lost, never
sent again after a 2xx; an inbox failing for days is given up, probed, and resumes when it answers.

The clock is frozen and moved by hand (the back-off is minutes long), so no test sleeps.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from aggregator.activitypub.delivery import FanoutSettings
from aggregator.model import Config, EntryData, SourceConfig
from aggregator.store import Store
from tests.building import aggregator_for, store_entries
from tests.conftest import FrozenClock, free_port

from .instance import with_actor

SOURCE = SourceConfig(slug="media", name="Média", kind="feed", url="https://media.example/feed")
CONFIG = with_actor(Config(sources=(SOURCE,)))
SETTINGS = FanoutSettings(spread_max=0.0, stale_after=0.0, jitter=0.0)


@dataclass
class Inbox:
    """A follower's server: answers from ``script`` in turn ("reset" cuts the connection), then ``then``."""

    url: str = ""
    script: list[int | str] = field(default_factory=list)
    then: int | str = 202
    received: list[tuple[str, int | str]] = field(default_factory=list)  # (activity id, answer)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        doc = json.loads(await request.read())
        answer = self.script.pop(0) if self.script else self.then
        self.received.append((doc["id"], answer))
        if answer == "reset":
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError
        return web.Response(status=int(answer))

    def accepted(self) -> list[str]:
        return [a for a, answer in self.received if isinstance(answer, int) and 200 <= answer < 300]


@pytest.fixture
async def inboxes() -> AsyncIterator[dict[str, Inbox]]:
    servers = {name: Inbox() for name in ("healthy", "flaky", "down")}
    app = web.Application()
    for name, inbox in servers.items():
        app.router.add_post(f"/{name}/inbox", inbox.handle)
    port = free_port()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    for name, inbox in servers.items():
        inbox.url = f"http://127.0.0.1:{port}/{name}/inbox"
    yield servers
    await runner.cleanup()


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(tmp_path: Path, frozen: FrozenClock) -> AsyncIterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'fanout.sqlite3'}", clock=frozen)
    store.upgrade()
    store.sources.sync([SOURCE])
    yield store
    store.close()


def follow(store: Store, actor: str, inbox: Inbox, name: str) -> None:
    store.ap_followers.add_follower(local_actor=actor, actor_id=f"{inbox.url.rsplit('/', 2)[0]}/users/{name}",
                                    inbox=inbox.url, shared_inbox=None, follow_id=f"https://x.example/f/{name}")


def story(n: int) -> EntryData:
    return EntryData(guid=f"s{n}", url=f"https://media.example/{n}", title=f"Histoire {n}", content_hash=str(n))


async def test_failing_inboxes_are_retried_and_nothing_is_lost(store: Store, inboxes: dict[str, Inbox], frozen: FrozenClock) -> None:
    inboxes["flaky"].script = [503, "reset"]
    async with aggregator_for(store, CONFIG, base_url="https://medias.example", fanout=SETTINGS) as agg:
        actor = agg.federation().urls.actor
        for name in ("healthy", "flaky"):
            follow(store, actor, inboxes[name], name)
        store_entries(store, SOURCE, [story(1)], targets=agg.relay_policy().targets)
        relay = await agg.relay()
        first = await relay.run_once()
        assert [(r["action"], r["state"]) for r in first if r["action"] != "deliver"] == [("post", "posted")]
        deliveries = {r["inbox"]: r for r in first if r["action"] == "deliver"}
        assert deliveries[inboxes["healthy"].url]["state"] == "delivered"
        flaky = deliveries[inboxes["flaky"].url]
        assert flaky["state"] == "pending" and "503" in flaky["error"] and flaky["kind"] == "Create"
        assert await relay.run_once() == []  # held back by its back-off
        for expected in ("pending", "delivered"):  # the reset, then the 202
            frozen.advance(minutes=10)
            [report] = await relay.run_once()
            assert report["state"] == expected, report
        frozen.advance(hours=12)
        assert await relay.run_once() == []
    create = f"https://medias.example/ap/activities/create/{first[0]['entry_id']}"
    assert inboxes["healthy"].received == [(create, 202)]
    assert inboxes["flaky"].received == [(create, 503), (create, "reset"), (create, 202)]
    health = store.ap_deliveries.inbox_health(inboxes["flaky"].url)
    assert health is not None and health.failures == 0 and health.last_success is not None
    assert store.ap_deliveries.counts() == {"delivered": 2}


async def test_an_inbox_down_for_days_is_given_up_then_resumes(store: Store, inboxes: dict[str, Inbox], frozen: FrozenClock) -> None:
    down = inboxes["down"]
    down.then = 503
    async with aggregator_for(store, CONFIG, base_url="https://medias.example", fanout=SETTINGS) as agg:
        follow(store, agg.federation().urls.actor, down, "down")
        relay = await agg.relay()
        store_entries(store, SOURCE, [story(1)], targets=agg.relay_policy().targets)
        await relay.run_once()
        rounds = 0
        while (health := store.ap_deliveries.inbox_health(down.url)) is not None and health.dead_since is None:
            frozen.advance(hours=6)
            await relay.run_once()
            rounds += 1
            assert rounds < 30
        assert store.ap_deliveries.counts() == {"failed": 1}
        assert "given up" in (store.ap_deliveries.all()[0].last_error or "")
        tries = len(down.received)

        # A new story is queued for the dead inbox, but only its daily probe knocks.
        store_entries(store, SOURCE, [story(2)], targets=agg.relay_policy().targets)
        down.then = 202
        await relay.run_once()
        assert len(down.received) == tries
        frozen.advance(hours=25)
        [report] = await relay.run_once()
        assert report["state"] == "delivered" and report["kind"] == "Create"
    health = store.ap_deliveries.inbox_health(down.url)
    assert health is not None and health.dead_since is None and health.failures == 0


async def test_a_story_is_spread_over_its_inboxes(store: Store, inboxes: dict[str, Inbox], frozen: FrozenClock) -> None:
    spread = FanoutSettings(spread_per_inbox=10.0, spread_max=30.0, stale_after=0.0)
    async with aggregator_for(store, CONFIG, base_url="https://medias.example", fanout=spread) as agg:
        actor = agg.federation().urls.actor
        for i in range(6):
            store.ap_followers.add_follower(local_actor=actor, actor_id=f"https://s{i}.example/u", inbox=f"{inboxes['healthy'].url}?s={i}",
                                            shared_inbox=None, follow_id=f"f{i}")
        store_entries(store, SOURCE, [story(1)], targets=agg.relay_policy().targets)
        relay = await agg.relay()
        await relay.run_once(fan_out=False)
        due = sorted((d.next_attempt - frozen.now).total_seconds() for d in store.ap_deliveries.all())
        assert len(due) == 6 and due[0] >= 0 and due[-1] <= 30 and due[-1] - due[0] > 1
        frozen.advance(seconds=31)
        delivered = [r for r in await relay.run_once() if r["state"] == "delivered"]
        assert len(delivered) == 6


async def test_the_dry_run_shows_the_actor_s_post_and_sends_nothing(
    store: Store, inboxes: dict[str, Inbox], frozen: FrozenClock
) -> None:
    async with aggregator_for(store, CONFIG, base_url="https://medias.example", fanout=SETTINGS) as agg:
        follow(store, agg.federation().urls.actor, inboxes["healthy"], "healthy")
        store_entries(store, SOURCE, [story(1)], targets=agg.relay_policy().targets)
        preview = await (await agg.relay_preview()).run_once()
    assert [(r["target"], r["action"], r["state"]) for r in preview.reports] == [("activitypub", "post", "pending")]
    assert "Histoire 1" in preview.reports[0]["text"]
    assert inboxes["healthy"].received == []
    assert store.ap_deliveries.counts() == {} and store.outbox.counts() == {("activitypub", "pending"): 1}
