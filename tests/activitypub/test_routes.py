"""Our actor's routes as ``serve`` builds them (the factory's web app), over real HTTP on loopback.

Discovery and documents (content negotiation, true totals, every id dereferencing, 410 for a
deleted story) and the inbox as a public door: every POST is verified, and nothing an
unsigned, mis-signed, replayed, oversize, malformed or blocked request carries is stored.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aggregator.activitypub.keys import generate_keypair
from aggregator.errors import ConfigError
from aggregator.model import Config, EntryData, SourceConfig
from aggregator.store import Store
from tests.building import aggregator_for, store_entries

from .instance import AP_JSON, Instance, RemoteActor, remote_actor, running_instance, with_actor

SOURCE = SourceConfig(slug="media", name="Média libre", kind="feed", url="https://media.example/feed", language="fr",
                      tags=("communs",))
CONFIG = with_actor(Config(sources=(SOURCE,)), summary="Les médias indépendants.\n\nUn relais.",
                    avatar="https://media.example/logo.png", blocked_domains=("blocked.example",))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'ap.sqlite3'}")
    store.upgrade()
    yield store
    store.close()


@pytest.fixture
async def instance(store: Store) -> AsyncIterator[Instance]:
    async with running_instance(store, CONFIG) as inst:
        yield inst


@pytest.fixture
async def mallory() -> AsyncIterator[RemoteActor]:
    async with remote_actor("mallory") as remote:
        yield remote


async def get(url: str, accept: str = AP_JSON) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Accept": accept}, allow_redirects=False) as r:
        body = await r.read()
        try:
            data: Any = json.loads(body)
        except ValueError:
            data = body.decode(errors="replace")
        return r.status, dict(r.headers), data


def article(n: int) -> EntryData:
    return EntryData(guid=f"a{n}", url=f"https://media.example/{n}", title=f"Article {n}", text=f"Résumé {n}",
                     content_hash=f"h{n}")


async def test_discovery_and_documents(instance: Instance) -> None:
    base, urls = instance.base, instance.fed.urls
    host = base.removeprefix("http://")
    status, headers, jrd = await get(f"{base}/.well-known/webfinger?resource=acct:relay@{host}")
    assert status == 200 and headers["Content-Type"].startswith("application/jrd+json")
    assert jrd["subject"] == f"acct:relay@{host}"
    assert {"rel": "self", "type": AP_JSON, "href": urls.actor} in jrd["links"]
    assert (await get(f"{base}/.well-known/webfinger?resource={urls.actor}"))[2]["subject"] == jrd["subject"]
    assert (await get(f"{base}/.well-known/webfinger?resource=acct:other@{host}"))[0] == 404
    assert (await get(f"{base}/.well-known/webfinger"))[0] == 400

    links = (await get(f"{base}/.well-known/nodeinfo"))[2]
    status, headers, info = await get(links["links"][0]["href"])
    assert status == 200 and info["version"] == "2.1" and info["protocols"] == ["activitypub"]

    status, headers, doc = await get(urls.actor)
    assert status == 200 and headers["Content-Type"].startswith(AP_JSON) and "Accept" in headers["Vary"]
    assert (doc["id"], doc["type"], doc["preferredUsername"], doc["name"]) == (urls.actor, "Service", "relay", "Médias libres")
    assert doc["summary"] == "<p>Les médias indépendants.</p><p>Un relais.</p>"
    assert doc["icon"] == {"type": "Image", "url": "https://media.example/logo.png", "mediaType": "image/png"}
    assert doc["publicKey"]["id"] == urls.key_id and "BEGIN PUBLIC KEY" in doc["publicKey"]["publicKeyPem"]
    status, headers, _ = await get(urls.actor, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"')
    assert status == 200 and headers["Content-Type"].startswith("application/ld+json")
    status, headers, _ = await get(urls.actor, "text/html,application/xhtml+xml")
    assert status == 302 and headers["Location"] == f"{base}/"

    # The key survives a restart: the same pair is read back from the store.
    async with aggregator_for(instance.store, CONFIG, base_url=base) as again:
        assert again.federation().keys.public_pem == doc["publicKey"]["publicKeyPem"]


async def test_collections_and_notes(instance: Instance, store: Store) -> None:
    urls = instance.fed.urls
    store.sources.sync([SOURCE])
    stored = store_entries(store, SOURCE, [article(n) for n in range(25)], targets=("activitypub",))
    relay = await instance.agg.relay()
    await relay.run_once()  # the outbox rows become Create activities (no follower yet)

    status, _, outbox = await get(urls.outbox)
    assert status == 200 and outbox["totalItems"] == 25 and outbox["first"] == urls.outbox_page(1)
    page1, page2 = (await get(urls.outbox_page(1)))[2], (await get(urls.outbox_page(2)))[2]
    assert len(page1["orderedItems"]) == 20 and len(page2["orderedItems"]) == 5 and "next" not in page2
    assert page1["next"] == urls.outbox_page(2) and page1["orderedItems"][0]["type"] == "Create"
    assert (await get(urls.outbox + "?page=0"))[0] == 400
    assert (await get(urls.followers))[2]["totalItems"] == 0
    assert (await get(urls.following))[2] == {**(await get(urls.following))[2], "totalItems": 0}

    featured = (await get(urls.featured))[2]
    assert featured["totalItems"] == 10 and featured["orderedItems"][0]["type"] == "Note"
    entry_id = stored.saved.new_ids[0]
    status, _, note = await get(urls.note(entry_id))
    assert status == 200 and note["url"] == "https://media.example/0" and note["attributedTo"] == urls.actor
    assert "https://media.example/0" in note["content"] and {"type": "Hashtag", "href": urls.tag("communs"), "name": "#communs"} in note["tag"]
    assert note["contentMap"].keys() == {"fr"}
    status, headers, _ = await get(urls.note(entry_id), "text/html")
    assert status == 302 and headers["Location"] == "https://media.example/0"
    create = page1["orderedItems"][-1]
    assert (await get(create["id"]))[2]["object"]["id"] == create["object"]["id"]
    assert (await get(urls.note(999999)))[0] == 404

    store.entries.mark_deleted([entry_id], now=store.db.clock(), synced=("activitypub",))
    status, _, tomb = await get(urls.note(entry_id))
    assert status == 410 and tomb["type"] == "Tombstone" and tomb["id"] == urls.note(entry_id)
    await relay.run_once()
    status, _, outbox = await get(urls.outbox)
    assert outbox["totalItems"] == 26  # the Delete joined the outbox
    assert (await get(urls.activity("delete", entry_id)))[2]["object"]["type"] == "Tombstone"


async def test_follow_accept_undo_and_followers_stay_private(instance: Instance, mallory: RemoteActor) -> None:
    urls = instance.fed.urls
    follow = mallory.activity("Follow", urls.actor)
    assert (await mallory.post(urls.inbox, follow))[0] == 202
    [follower] = instance.store.ap_followers.all(urls.actor)
    assert (follower.actor_id, follower.shared_inbox) == (mallory.actor, f"{mallory.origin}/inbox")
    reports = await instance.fed.fanout.run_once()
    assert [(r["kind"], r["state"], r["url"]) for r in reports] == [("Accept", "delivered", mallory.inbox)]
    accept = mallory.received[-1]
    assert accept["type"] == "Accept" and accept["object"]["id"] == follow["id"]
    assert (await get(accept["id"]))[0] == 404  # an Accept names a follower: not served to anyone
    assert (await get(urls.followers))[2]["totalItems"] == 1 and "orderedItems" not in (await get(urls.followers))[2]

    undo = mallory.activity("Undo", follow, suffix="2")
    assert (await mallory.post(urls.inbox, undo))[0] == 202
    assert instance.store.ap_followers.all(urls.actor) == []


async def test_the_inbox_is_a_public_door(instance: Instance, mallory: RemoteActor, store: Store) -> None:
    urls = instance.fed.urls
    follow = mallory.activity("Follow", urls.actor)
    body = json.dumps(follow).encode()

    async def raw(data: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, str]:
        async with aiohttp.ClientSession() as http, http.request(method, urls.inbox, data=data, headers=headers) as r:
            return r.status, await r.text()

    answers = {
        "unsigned": await raw(body, {"Content-Type": AP_JSON}),
        "tampered": await raw(body.replace(b"Follow", b"Flag"), mallory.signed(urls.inbox, body)),
        "wrong key": await mallory.post(urls.inbox, follow, key=generate_keypair()),
        "not json": await mallory.post(urls.inbox, b"{not json"),
        "unknown type": await mallory.post(urls.inbox, {**follow, "type": "Teleport"}),
        "declared too big": await raw(b"x" * (1 << 20 + 1), mallory.signed(urls.inbox, b"x" * (1 << 20 + 1))),
        "GET": await raw(b"", {}, "GET"),
    }
    async with remote_actor("eve") as eve:
        # Eve signs, claiming to be Mallory: the signer must be the actor.
        answers["not the signer"] = await eve.post(urls.inbox, follow)
    statuses = {name: status for name, (status, _) in answers.items()}
    assert statuses == {"unsigned": 401, "tampered": 401, "wrong key": 401, "not json": 400, "unknown type": 400,
                        "declared too big": 413, "GET": 405, "not the signer": 401}
    for name, (_, text) in answers.items():
        assert "Traceback" not in text and len(text) < 200, name
        if name != "GET":
            assert json.loads(text)["error"], name
    assert json.loads(answers["tampered"][1])["error"] == "digest_mismatch"
    assert json.loads(answers["not the signer"][1])["error"] == "actor_not_signer"
    assert store.ap_followers.all() == [] and store.ap_deliveries.all() == []

    # A real Follow is taken once; the very same bytes again (a replay) change nothing.
    headers = mallory.signed(urls.inbox, body)
    assert (await raw(body, headers))[0] == 202
    store.ap_followers.remove_actor(mallory.actor)
    accepts = len(store.ap_deliveries.all())
    assert (await raw(body, headers))[0] == 202
    assert store.ap_followers.all() == [] and len(store.ap_deliveries.all()) == accepts


async def test_blocked_domains_and_rate_limits(store: Store, mallory: RemoteActor) -> None:
    # A follower on a domain the operator blocks is removed when the actor starts.
    store.ap_followers.add_follower(local_actor="placeholder", actor_id="https://spam.blocked.example/u/x",
                                    inbox="https://spam.blocked.example/inbox", shared_inbox=None, follow_id="f")
    config = with_actor(CONFIG, blocked_domains=("blocked.example", "127.0.0.1"))
    async with running_instance(store, config) as inst:
        assert store.ap_followers.all() == []
        status, text = await mallory.post(inst.inbox, mallory.activity("Follow", inst.actor))
        assert (status, json.loads(text)["error"]) == (403, "blocked_domain")
        assert store.ap_followers.all() == [] and store.ap_seen.purge() == 0
    from aggregator.activitypub.inbox import InboxSettings
    async with running_instance(store, CONFIG) as inst:
        inst.fed.inbox.limiter.burst = 3.0
        inst.fed.inbox.limiter.rate = 0.001
        inst.fed.inbox.limiter._buckets.clear()
        statuses = [(await mallory.post(inst.inbox, mallory.activity("Like", inst.actor, suffix=str(i))))[0] for i in range(5)]
        assert statuses == [202, 202, 202, 429, 429]
        assert InboxSettings().rate > 0


async def test_keys_are_fetched_through_the_ssrf_guard(store: Store, mallory: RemoteActor) -> None:
    async with aggregator_for(store, CONFIG, base_url="https://medias.example") as agg:
        agg.settings = replace(agg.settings, allow_private_networks=False)
        fed = agg.federation()
        from aggregator.activitypub.inbox import InboxRequest

        body = json.dumps(mallory.activity("Follow", fed.urls.actor)).encode()
        headers = mallory.signed(fed.urls.inbox, body)
        with pytest.raises(Exception) as refused:
            await fed.inbox.receive(InboxRequest("POST", fed.urls.inbox, headers, body))
        assert getattr(refused.value, "reason", None) == "unknown_key"
        assert "loopback" in str(refused.value)
    assert store.ap_followers.all() == []


async def test_serve_refuses_an_actor_without_a_base_url(store: Store) -> None:
    async with aggregator_for(store, CONFIG) as agg:
        with pytest.raises(ConfigError, match="AGGREGATOR_BASE_URL"):
            agg.web_app(with_index=False)
        assert not agg.activitypub_enabled() and "activitypub" not in agg.relay_targets_enabled()


async def test_concurrent_follows_from_one_server(instance: Instance, mallory: RemoteActor) -> None:
    posts = [mallory.post(instance.inbox, mallory.activity("Follow", instance.actor, suffix=str(i))) for i in range(5)]
    assert [s for s, _ in await asyncio.gather(*posts)] == [202] * 5
    assert len(instance.store.ap_followers.all(instance.actor)) == 1


async def test_source_pages_show_follows_and_deliveries(store: Store, mallory: RemoteActor) -> None:
    alice = SourceConfig(slug="alice", name="Alice", kind="activitypub", actor="https://social.example/users/alice")
    config = replace(CONFIG, sources=(SOURCE, alice))
    async with running_instance(store, config) as inst:
        store.ap_following.follow(local_actor=inst.actor, remote_actor=alice.actor or "", follow_id="f", source="alice")
        store.ap_followers.add_follower(local_actor=inst.actor, actor_id=mallory.actor, inbox=mallory.inbox,
                                        shared_inbox=None, follow_id="g")
        store_entries(store, SOURCE, [article(1)], targets=inst.agg.relay_policy().targets)
        await (await inst.agg.relay()).run_once()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{inst.base}/sources?ui=en") as r:
                page = await r.text()
            assert "follow requested, awaiting an answer" in page and "social.example/users/alice" in page
            async with http.get(f"{inst.base}/sources/media?ui=fr") as r:
                page = await r.text()
            assert "ActivityPub" in page and "1 remises aux serveurs des abonnés" in page
