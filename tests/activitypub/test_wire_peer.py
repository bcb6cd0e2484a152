"""The aggregator as ``serve`` + ``crawl`` + ``relay`` build it, against the real Fedify peer.

Our instance is the factory's web app on http://127.0.0.1:PORT (one spelling of the origin,
as the peer needs); crawls go through the real crawler to a loopback feed, and the relay and
its fan-out deliver to the peer, which verifies every signature. Nothing is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aggregator.activitypub.inbox import Accepted, InboxRequest
from aggregator.model import Config, SourceConfig
from aggregator.shapes import source_json
from aggregator.store import Store
from tests.feedserver import FeedServer
from tests.peers.activitypub import ActivityPubPeer
from tests.peers.bluesky import poll

from .instance import Instance, running_instance, with_actor

pytestmark = [pytest.mark.peers]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'wire.sqlite3'}")  # the real clock: the peer checks Date headers
    store.upgrade()
    yield store
    store.close()



def received(peer: ActivityPubPeer, kind: str, actor: str, where: Callable[[dict[str, Any]], bool] = lambda _: True) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def check() -> list[dict[str, Any]]:
        inbox = await peer.call("/_peer/inbox")
        assert not [r for r in inbox if r["type"] == "InboxError"], inbox
        return [r for r in inbox if r["type"] == kind and r.get("actor") == actor and where(r)]
    return check


def rss(title: str, description: str, link: str) -> str:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Média</title><link>https://media.example/</link>
<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{now}</pubDate>
<description>{description}</description><category>communs</category></item></channel></rss>"""


async def test_peer_follows_us_and_gets_our_stories(activitypub_peer: ActivityPubPeer, store: Store) -> None:
    peer = activitypub_peer
    async with FeedServer() as site:
        link = site.url("/communs")
        site.add("/feed", rss("Les communs numériques", "Un résumé.", link))
        source = SourceConfig(slug="media", name="Média libre", kind="feed", url=site.url("/feed"), language="fr")
        async with running_instance(store, with_actor(Config(sources=(source,)))) as inst:
            actor = inst.actor
            found = await peer.call(f"/_peer/lookup?q={actor}")
            assert (found["id"], found["type"]) == (actor, "Service")
            sent = await peer.call("/_peer/follow", {"target": actor})
            [follower] = store.ap_followers.all(actor)
            assert (follower.actor_id, follower.shared_inbox, follower.follow_id) == (peer.actor, peer.shared_inbox, sent["sent"])
            relay = await inst.agg.relay()
            await relay.run_once()  # the Accept goes out through the fan-out
            [accept] = await poll(received(peer, "Accept", actor), what="our Accept at the peer")
            assert accept["json"]["object"]["id"] == sent["sent"]

            # A crawled item reaches the peer as Create(Note) with the link.
            crawler = await inst.agg.crawler()
            await crawler.crawl(every=True)
            reports = await relay.run_once()
            assert [(r["action"], r["state"]) for r in reports] == [("post", "posted"), ("deliver", "delivered")]
            [create] = await poll(received(peer, "Create", actor), what="the Create at the peer")
            note = create["json"]["object"]
            assert note["type"] == "Note" and note["url"] == link and link in note["content"]
            assert note["id"] == inst.fed.urls.note(reports[0]["entry_id"])

            # The article is edited: an Update follows; the operator deletes it: a Delete.
            site.add("/feed", rss("Les communs numériques (mis à jour)", "Un résumé corrigé.", link))
            await crawler.crawl(every=True)
            await relay.run_once()
            [update] = await poll(received(peer, "Update", actor), what="the Update at the peer")
            assert "mis à jour" in update["json"]["object"]["content"] and update["json"]["object"]["id"] == note["id"]
            store.entries.mark_deleted([reports[0]["entry_id"]], now=store.db.clock(), synced=inst.agg.relay_policy().synced)
            await relay.run_once()
            [delete] = await poll(received(peer, "Delete", actor), what="the Delete at the peer")
            assert delete["json"]["object"]["id"] == note["id"]
            assert store.ap_deliveries.counts() == {"delivered": 4}  # Accept, Create, Update, Delete: once each

            await peer.call("/_peer/unfollow", {"target": actor})
            assert store.ap_followers.all(actor) == []


async def test_we_follow_the_peer_and_its_posts_become_items(activitypub_peer: ActivityPubPeer, store: Store) -> None:
    peer = activitypub_peer
    source = SourceConfig(slug="alice", name="Alice", kind="activitypub", actor=peer.actor, language="fr")
    config = with_actor(Config(sources=(source,)))
    async with running_instance(store, config) as inst:
        crawler = await inst.agg.crawler()
        report = await crawler.crawl(every=True)
        assert report.as_json()["ok"] == 1
        await poll(lambda: _following(store, inst, "accepted"), what="the peer's Accept of our Follow")
        row = source_json(source, store.sources.get("alice"), follow=store.ap_following.by_source(inst.actor)["alice"].state)
        assert (row["kind"], row["follow"], row["status"]) == ("activitypub", "accepted", "ok")
        assert inst.actor in await peer.call("/_peer/followers")

        posted = await peer.call("/_peer/post", {"content": "<p>Grève au port <script>x()</script> <a href='https://site.example/greve'>lien</a></p>",
                                                      "url": "https://site.example/greve"})
        [item] = await poll(lambda: _items(store), what="the peer's post as an item")
        assert (item.url, item.kind, item.native_uri) == ("https://site.example/greve", "post", posted["object"])
        assert "script" not in item.content and item.title.startswith("Grève au port")
        await peer.call("/_peer/update", {"id": posted["object"], "content": "<p>Grève au port, suite</p>"})
        await poll(lambda: _items(store, lambda e: "suite" in e.title), what="the edit")
        await peer.call("/_peer/delete", {"id": posted["object"]})
        await poll(lambda: _none(store), what="the deletion")

        # The source leaves sources.yaml: our Undo(Follow) reaches the peer.
        inst.agg.settings = replace(inst.agg.settings, config=replace(config, sources=()))
        assert await inst.agg.sync_follows() == 1
        assert inst.actor not in await peer.call("/_peer/followers")
        assert store.ap_following.all(inst.actor) == []


async def test_forged_and_replayed_posts_from_the_peer_store_nothing(activitypub_peer: ActivityPubPeer, store: Store) -> None:
    peer = activitypub_peer
    async with running_instance(store, with_actor(Config(sources=()))) as inst:
        captured: list[InboxRequest] = []
        receive = inst.fed.inbox.receive

        async def spy(request: InboxRequest) -> Accepted:
            captured.append(request)
            return await receive(request)

        inst.fed.inbox.receive = spy  # type: ignore[method-assign]
        await peer.call("/_peer/follow", {"target": inst.actor})
        assert len(store.ap_followers.all()) == 1
        store.ap_followers.remove_actor(peer.actor)
        signed = captured[-1]
        headers = {k: v for k, v in signed.headers if k.lower() not in ("content-length", "transfer-encoding", "host")}
        tampered = signed.body.replace(b"@context", b"@cOntext", 1)
        assert tampered != signed.body
        unsigned = {k: v for k, v in headers.items() if k.lower() not in ("signature", "signature-input")}
        async with aiohttp.ClientSession() as http:
            for body, sent_headers, status in ((tampered, headers, 401), (signed.body, unsigned, 401), (signed.body, headers, 202)):
                async with http.post(inst.inbox, data=body, headers=sent_headers) as r:
                    assert r.status == status, (status, await r.text())
        assert store.ap_followers.all() == []  # the replay (202, known id) was not acted on
        assert len(store.ap_deliveries.all()) == 1  # the one Accept of the real Follow


async def _following(store: Store, inst: Instance, state: str) -> bool:
    return any(f.state == state for f in store.ap_following.all(inst.actor))


async def _items(store: Store, where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
    return [e for e in store.entries.newest(source="alice") if where(e)]


async def _none(store: Store) -> bool:
    return store.entries.newest(source="alice") == []
