"""Two instances of the aggregator follow each other's network actor, on two loopback ports.

A crawls a feed; its story reaches B as a Create(Note) and becomes an item of B's source "a"
(the link to the original article kept); B relays it by boosting A's Note (an Announce,
never a copy), and A, seeing its own Note come back, takes nothing in: no loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from aggregator.model import Config, SourceConfig
from aggregator.store import Store
from tests.conftest import free_port
from tests.feedserver import FeedServer

from .instance import running_instance, with_actor


def rss(*stories: tuple[str, str]) -> str:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    items = "".join(f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{now}</pubDate>"
                    "<description>Elle commence ici.</description></item>" for title, link in stories)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Le site</title>{items}</channel></rss>'


async def test_two_instances_follow_each_other(tmp_path: Path) -> None:
    stores = {name: Store(f"sqlite:///{tmp_path / f'{name}.sqlite3'}") for name in ("a", "b")}
    for store in stores.values():
        store.upgrade()
    ports = {"a": free_port(), "b": free_port()}
    actor = {name: f"http://127.0.0.1:{port}/ap/actor" for name, port in ports.items()}
    async with FeedServer() as site:
        first, second = site.url("/premiere"), site.url("/seconde")
        site.add("/feed", rss(("Une histoire vraie", first)))
        config_a = with_actor(Config(sources=(
            SourceConfig(slug="site", name="Le site", kind="feed", url=site.url("/feed")),
            SourceConfig(slug="b", name="Instance B", kind="activitypub", actor=actor["b"]),
        )), username="a")
        config_b = with_actor(Config(sources=(SourceConfig(slug="a", name="Instance A", kind="activitypub", actor=actor["a"]),)),
                              username="b")
        async with running_instance(stores["a"], config_a, port=ports["a"]) as a, \
                running_instance(stores["b"], config_b, port=ports["b"]) as b:
            relay_a, relay_b = await a.agg.relay(), await b.agg.relay()
            # A reads the feed (and follows B) and publishes its first story to nobody yet.
            await (await a.agg.crawler()).crawl(every=True)
            await relay_a.run_once()
            # B follows A: the first story comes from A's outbox (published before the follow).
            await (await b.agg.crawler()).crawl(every=True)
            [backfilled] = stores["b"].entries.newest(source="a")
            assert (backfilled.url, backfilled.title) == (first, "Une histoire vraie")

            sent_a = await relay_a.run_once()  # the Accept of B's follow
            assert [(r["kind"], r["state"]) for r in sent_a] == [("Accept", "delivered")]
            sent_b = await relay_b.run_once()  # B's Accept to A; B boosts A's first Note
            assert sorted((r.get("kind") or r["action"], r["state"]) for r in sent_b) == [
                ("Accept", "delivered"), ("Announce", "delivered"), ("boost", "posted")]
            for store, other in ((stores["a"], actor["b"]), (stores["b"], actor["a"])):
                assert [(f.remote_actor, f.state) for f in store.ap_following.all()] == [(other, "accepted")]
                assert [f.actor_id for f in store.ap_followers.all()] == [other]

            # A's second story is pushed to B as it is published.
            site.add("/feed", rss(("Une histoire vraie", first), ("La suite", second)))
            await (await a.agg.crawler()).crawl(every=True)
            sent_a = await relay_a.run_once()
            assert sorted((r.get("kind") or r["action"], r["state"]) for r in sent_a) == [
                ("Create", "delivered"), ("post", "posted")]
            pushed = next(e for e in stores["b"].entries.newest(source="a") if e.url == second)
            [original, _] = sorted(stores["a"].entries.newest(source="site"), key=lambda e: e.id)
            assert (pushed.title, pushed.kind) == ("La suite", "post")
            assert backfilled.native_uri == a.fed.urls.note(original.id)
            announce = stores["b"].ap_deliveries.outbox_page(b.actor, offset=0, limit=5)[0]
            assert (announce["type"], announce["object"]) == ("Announce", a.fed.urls.note(original.id))
            # A's own Note came back boosted: not taken in again.
            await relay_b.run_once()
            assert len(stores["a"].entries.newest()) == 2
    for store in stores.values():
        store.close()
