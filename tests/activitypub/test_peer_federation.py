"""End to end on loopback against the real Fedify peer: it follows us, we follow it.

Our side is a minimal app assembled from the activitypub package (``apserver.py``) on
http://127.0.0.1:PORT, with a real SQLite store. The peer checks every signature we send.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aggregator.activitypub import activities, documents, signatures
from aggregator.activitypub.activities import NoteInput
from aggregator.activitypub.handlers import Outcome
from aggregator.activitypub.keys import generate_keypair
from aggregator.store import Store
from tests.peers.activitypub import ActivityPubPeer
from tests.peers.bluesky import poll

from .apserver import ApServer, running_server

pytestmark = [pytest.mark.peers]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ApServer]:
    store = Store(f"sqlite:///{tmp_path / 'ap.sqlite3'}")
    store.upgrade()
    try:
        async with running_server(store) as srv:
            yield srv
    finally:
        store.close()



async def peer_received(peer: ActivityPubPeer, kind: str, actor: str) -> list[dict[str, Any]]:
    inbox = await peer.call("/_peer/inbox")
    errors = [r for r in inbox if r["type"] == "InboxError"]
    assert not errors, errors
    return [r for r in inbox if r["type"] == kind and r.get("actor") == actor]


async def test_peer_follows_us_and_receives_our_posts(activitypub_peer: ActivityPubPeer, server: ApServer) -> None:
    peer = activitypub_peer
    # The peer sees our actor (by URL: it refuses acct: look-ups on loopback).
    found = await peer.call(f"/_peer/lookup?q={server.actor}")
    assert found["id"] == server.actor and found["type"] == "Service"
    assert found["publicKey"]["id"] == server.urls.key_id

    sent = await peer.call("/_peer/follow", {"target": server.actor})
    assert sent["to"] == server.urls.inbox
    assert server.answers[0] == (202, "Follow")  # the RFC 9421 first knock verified: no retry
    followers = server.store.ap_followers.all(server.actor)
    assert [(f.actor_id, f.shared_inbox) for f in followers] == [(peer.actor, peer.shared_inbox)]
    assert followers[0].follow_id == sent["sent"]

    accepts = await poll(lambda: peer_received(peer, "Accept", server.actor), what="the Accept at the peer")
    assert accepts[0]["json"]["object"]["id"] == sent["sent"]
    assert accepts[0]["id"] == documents.Urls.activity(server.urls, "accept", documents.token(sent["sent"]))

    # A story goes out as Create(Note) to the follower's shared inbox, signed.
    story = NoteInput(entry_id=41, title="Les communs numériques", url="https://media.example/communs",
                      published=datetime(2026, 12, 1, 9, 0, tzinfo=UTC), summary="Un résumé.",
                      hashtags=("communs", "logiciel libre"), language="fr", source_name="Média libre")
    inboxes = server.store.ap_followers.delivery_inboxes(server.actor)
    assert inboxes == [peer.shared_inbox]
    delivered = await server.transport.post(inboxes[0], activities.create(server.urls, story))
    assert delivered.status == 202 and delivered.scheme == "cavage" and delivered.knocks == 1
    creates = await poll(lambda: peer_received(peer, "Create", server.actor), what="the Create at the peer")
    note = creates[0]["json"]["object"]
    assert note["id"] == server.urls.note(41) and note["type"] == "Note"
    assert "https://media.example/communs" in note["content"] and note["url"] == "https://media.example/communs"
    assert sorted(t["name"] for t in note["tag"]) == ["#LogicielLibre", "#communs"]
    assert "fr" in note.get("contentMap", {})

    edited = NoteInput(**{**story.__dict__, "title": "Les communs numériques (mis à jour)",
                          "updated": datetime(2026, 12, 1, 10, 0, tzinfo=UTC)})
    await server.transport.post(inboxes[0], activities.update(server.urls, edited))
    updates = await poll(lambda: peer_received(peer, "Update", server.actor), what="the Update at the peer")
    assert "mis à jour" in updates[0]["json"]["object"]["content"]
    await server.transport.post(inboxes[0], activities.delete(server.urls, 41))
    deletes = await poll(lambda: peer_received(peer, "Delete", server.actor), what="the Delete at the peer")
    assert deletes[0]["json"]["object"]["id"] == server.urls.note(41)

    # RFC 9421 first works with Fedify too.
    server.transport.first_scheme = "rfc9421"
    server.transport._schemes.clear()
    again = await server.transport.post(inboxes[0], activities.create(server.urls, NoteInput(
        entry_id=42, title="Second", url="https://media.example/2", published=story.published)))
    assert (again.status, again.scheme, again.knocks) == (202, "rfc9421", 1)

    # The peer unfollows: Undo(Follow) removes the follower.
    await peer.call("/_peer/unfollow", {"target": server.actor})
    assert server.store.ap_followers.all(server.actor) == []


async def test_we_follow_the_peer_and_its_posts_arrive(activitypub_peer: ActivityPubPeer, server: ApServer) -> None:
    peer = activitypub_peer
    alice = await server.directory.actor(peer.actor)
    follow = activities.follow(server.urls, alice.id)
    server.store.ap_following.follow(local_actor=server.actor, remote_actor=alice.id, follow_id=follow["id"], inbox=alice.inbox)
    await server.transport.post(alice.inbox, follow)
    # The peer answers with a signed Accept to our inbox; the handler moves the state.
    await poll(lambda: _state(server, alice.id, "accepted"), what="our follow accepted")
    assert server.answers.count((202, "Accept")) == 1
    followers = await peer.call("/_peer/followers")
    assert server.actor in followers

    posted = await peer.call("/_peer/post", {"content": "<p>Bonjour <a href='https://site.example/x'>lien</a></p>", "url": "https://site.example/x"})
    assert server.urls.inbox in posted["to"]
    await poll(lambda: _posts(server, "create"), what="the peer's Create in our inbox")
    post = next(p for p in server.posts if p.action == "create")
    assert (post.actor, post.object_id, post.url, post.type) == (alice.id, posted["object"], "https://site.example/x", "Note")
    assert "Bonjour" in post.content and post.published is not None

    await peer.call("/_peer/update", {"id": posted["object"], "content": "<p>Bonjour, corrigé</p>"})
    await poll(lambda: _posts(server, "update"), what="the peer's Update")
    assert "corrigé" in next(p for p in server.posts if p.action == "update").content
    await peer.call("/_peer/announce", {"object": "https://elsewhere.example/notes/1"})
    await poll(lambda: _posts(server, "announce"), what="the peer's Announce")
    assert next(p for p in server.posts if p.action == "announce").object_id == "https://elsewhere.example/notes/1"
    await peer.call("/_peer/delete", {"id": posted["object"]})
    await poll(lambda: _posts(server, "delete"), what="the peer's Delete")
    assert next(p for p in server.posts if p.action == "delete").object_id == posted["object"]

    # Our Undo(Follow) reaches the peer, which drops us from alice's followers.
    await server.transport.post(alice.inbox, activities.undo_follow(server.urls, alice.id, follow["id"]))
    assert server.actor not in await peer.call("/_peer/followers")


async def test_unsigned_tampered_and_replayed_posts_store_nothing(activitypub_peer: ActivityPubPeer, server: ApServer) -> None:
    """Against our inbox over real HTTP: 401 for unsigned and tampered, a replay is ignored."""
    peer = activitypub_peer
    follow = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{peer.origin}/follows/forged",
              "type": "Follow", "actor": peer.actor, "object": server.actor}
    body = json.dumps(follow).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(server.urls.inbox, data=body, headers={"Content-Type": "application/activity+json"}) as r:
            assert r.status == 401
        # Signed by a key that is not alice's, claiming to be alice's.
        forged = signatures.sign("cavage", "POST", server.urls.inbox, {}, body, key_id=f"{peer.actor}#main-key",
                                 private_key=generate_keypair().private_key(), now=datetime.now(UTC))
        async with http.post(server.urls.inbox, data=body, headers={**forged, "Content-Type": "application/activity+json"}) as r:
            assert r.status == 401
        async with http.post(server.urls.inbox, data=b"{" * 10, headers=forged) as r:
            assert r.status in (400, 401)
        async with http.post(server.urls.inbox, data=b"x" * (2 << 20), headers=forged) as r:
            assert r.status == 413
    assert server.store.ap_followers.all() == []
    assert [a for a in server.answers if a[0] == 202] == []

    # A real Follow from the peer is accepted once; replaying its captured bytes is ignored.
    await peer.call("/_peer/follow", {"target": server.actor})
    assert len(server.store.ap_followers.all()) == 1
    headers, captured = server.raw[-1]
    server.store.ap_followers.remove_actor(peer.actor)
    handled = len(server.outcomes)
    async with aiohttp.ClientSession() as http:
        replay = {k: v for k, v in headers if k.lower() not in ("content-length", "transfer-encoding")}
        async with http.post(server.urls.inbox, data=captured, headers=replay) as r:
            assert r.status == 202
    assert server.answers[-1] == (202, "duplicate")
    assert server.outcomes[handled:] == [Outcome("ignored", "duplicate")]
    assert server.store.ap_followers.all() == []  # the replay did not bring the follower back


async def _state(server: ApServer, remote: str, state: str) -> bool:
    return server.store.ap_following.following_state(local_actor=server.actor, remote_actor=remote) == state


async def _posts(server: ApServer, action: str) -> bool:
    return any(p.action == action for p in server.posts)
