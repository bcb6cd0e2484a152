"""What verified activities do, against the real store (SQLite) and an in-memory directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aggregator.activitypub import activities
from aggregator.activitypub.documents import Urls
from aggregator.activitypub.handlers import (
    ActivityHandler,
    IncomingPost,
    Outcome,
    incoming_post,
    purge_blocked,
)
from aggregator.activitypub.inbox import Accepted
from aggregator.activitypub.remote import RemoteActor
from aggregator.errors import PermanentRemoteError
from aggregator.store import Store
from tests.conftest import FrozenClock

URLS = Urls.from_base("https://agg.example")
ANA = "https://remote.example/users/ana"
BO = "https://other.example/users/bo"


@dataclass
class World:
    store: Store
    handler: ActivityHandler
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    posts: list[IncomingPost] = field(default_factory=list)

    async def handle(self, activity: dict[str, Any], *, duplicate: bool = False) -> Outcome:
        actor = activity["actor"] if isinstance(activity["actor"], str) else activity["actor"]["id"]
        return await self.handler.handle(Accepted(activity=activity, actor=actor, key_id=actor + "#k", scheme="cavage", duplicate=duplicate))


class Directory:
    async def actor(self, actor_id: str, *, refresh: bool = False) -> RemoteActor:
        if actor_id == ANA:
            return RemoteActor(id=ANA, type="Person", inbox=ANA + "/inbox", shared_inbox="https://remote.example/inbox")
        raise PermanentRemoteError("gone", url=actor_id, status=410)


@pytest.fixture
def world(tmp_path: Path, clock: FrozenClock) -> Any:
    store = Store(f"sqlite:///{tmp_path / 'h.sqlite3'}", clock=clock)
    store.upgrade()
    sent: list[tuple[str, dict[str, Any]]] = []
    posts: list[IncomingPost] = []

    async def send(inbox: str, doc: dict[str, Any]) -> None:
        sent.append((inbox, doc))

    async def on_post(post: IncomingPost) -> None:
        posts.append(post)

    handler = ActivityHandler(urls=URLS, followers=store.ap_followers, following=store.ap_following,
                              directory=Directory(), send=send, on_post=on_post, clock=clock)
    yield World(store, handler, sent, posts)
    store.close()


FOLLOW = {"id": "https://remote.example/follows/1", "type": "Follow", "actor": ANA, "object": URLS.actor}


async def test_follow_accept_and_undo(world: World) -> None:
    assert await world.handle(FOLLOW) == Outcome("follower_added", "new")
    assert world.sent == [(ANA + "/inbox", activities.accept(URLS, FOLLOW))]
    assert world.store.ap_followers.delivery_inboxes(URLS.actor) == ["https://remote.example/inbox"]
    assert await world.handle(FOLLOW) == Outcome("follower_added", "again")  # a repeated Follow is accepted again
    assert len(world.sent) == 2
    assert await world.handle({**FOLLOW, "object": "https://agg.example/ap/sources/x"}) == Outcome("ignored", "not_our_actor")
    undo_like = {"id": "https://remote.example/u/1", "type": "Undo", "actor": ANA, "object": {"type": "Like", "id": "l"}}
    assert await world.handle(undo_like) == Outcome("ignored", "undo_Like")
    forged_undo = {"id": "https://remote.example/u/2", "type": "Undo", "actor": ANA, "object": {**FOLLOW, "actor": BO}}
    assert await world.handle(forged_undo) == Outcome("ignored", "not_our_follow")
    assert await world.handle({"id": "https://remote.example/u/3", "type": "Undo", "actor": ANA, "object": "https://remote.example/follows/0"}) == Outcome("ignored", "undo")
    assert await world.handle({"id": "https://remote.example/u/4", "type": "Undo", "actor": ANA, "object": FOLLOW}) == Outcome("follower_removed", "undo")
    assert world.store.ap_followers.count(URLS.actor) == 0


async def test_undo_by_bare_follow_id_and_actor_delete(world: World) -> None:
    await world.handle(FOLLOW)
    assert await world.handle({"id": "https://remote.example/u/1", "type": "Undo", "actor": ANA, "object": FOLLOW["id"]}) == Outcome("follower_removed", "undo")
    await world.handle(FOLLOW)
    assert await world.handle({"id": "https://remote.example/d/1", "type": "Delete", "actor": ANA, "object": ANA}) == Outcome("follower_removed", "actor_deleted")
    assert world.store.ap_followers.count(URLS.actor) == 0


async def test_follower_that_cannot_be_fetched(world: World) -> None:
    with pytest.raises(PermanentRemoteError):
        await world.handle({**FOLLOW, "actor": BO, "id": "https://other.example/f/1"})
    assert world.store.ap_followers.count(URLS.actor) == 0 and world.sent == []


async def test_duplicate_does_nothing(world: World) -> None:
    assert await world.handle(FOLLOW, duplicate=True) == Outcome("ignored", "duplicate")
    assert world.sent == []


async def test_accept_and_reject_of_our_follow(world: World) -> None:
    ours = activities.follow(URLS, ANA)
    world.store.ap_following.follow(local_actor=URLS.actor, remote_actor=ANA, follow_id=ours["id"])
    # Bo cannot accept our follow of Ana.
    assert await world.handle({"id": "https://other.example/a/1", "type": "Accept", "actor": BO, "object": ours}) == Outcome("ignored", "unknown_follow")
    assert await world.handle({"id": "https://remote.example/a/0", "type": "Accept", "actor": ANA, "object": "https://elsewhere.example/f"}) == Outcome("ignored", "not_our_follow")
    assert await world.handle({"id": "https://remote.example/a/1", "type": "Accept", "actor": ANA, "object": ours}) == Outcome("following_accepted")
    assert world.store.ap_following.following_state(local_actor=URLS.actor, remote_actor=ANA) == "accepted"
    assert await world.handle({"id": "https://remote.example/r/1", "type": "Reject", "actor": ANA, "object": ours["id"]}) == Outcome("following_rejected")
    assert world.store.ap_following.following_state(local_actor=URLS.actor, remote_actor=ANA) == "rejected"


NOTE = {"id": "https://remote.example/notes/1", "type": "Note", "attributedTo": ANA, "content": "<p>Salut</p>",
        "contentMap": {"fr": "<p>Salut</p>"}, "published": "2026-12-01T10:00:00Z", "url": [
            {"type": "Link", "mediaType": "application/activity+json", "href": "https://remote.example/notes/1"},
            {"type": "Link", "mediaType": "text/html", "href": "https://remote.example/@ana/1"}],
        "tag": [{"type": "Hashtag", "name": "#Communs"}, {"type": "Mention", "name": "@x"}], "inReplyTo": None}


async def test_posts_of_followed_actors(world: World, clock: FrozenClock) -> None:
    create = {"id": "https://remote.example/notes/1/create", "type": "Create", "actor": ANA, "object": NOTE}
    assert await world.handle(create) == Outcome("ignored", "not_followed")
    world.store.ap_following.follow(local_actor=URLS.actor, remote_actor=ANA, follow_id=activities.follow(URLS, ANA)["id"])
    outcome = await world.handle(create)
    assert outcome == Outcome("post", "create")
    post = world.posts[-1]
    assert (post.action, post.actor, post.object_id, post.type, post.url) == ("create", ANA, NOTE["id"], "Note", "https://remote.example/@ana/1")
    assert (post.content, post.language, post.tags, post.in_reply_to, post.received) == ("<p>Salut</p>", "fr", ("Communs",), None, clock.now)
    assert post.published is not None and post.published.isoformat() == "2026-12-01T10:00:00+00:00"
    impostor = {**create, "object": {**NOTE, "attributedTo": BO}}
    assert await world.handle(impostor) == Outcome("ignored", "not_attributed_to_actor")
    foreign = {**create, "object": {**NOTE, "id": "https://victim.example/notes/1"}}
    assert await world.handle(foreign) == Outcome("ignored", "foreign_object")
    assert await world.handle({**create, "type": "Update", "object": {**NOTE, "updated": "2026-12-01T11:00:00Z"}}) == Outcome("post", "update")
    assert world.posts[-1].updated is not None
    assert await world.handle({"id": "https://remote.example/d", "type": "Delete", "actor": ANA,
                               "object": {"id": NOTE["id"], "type": "Tombstone"}}) == Outcome("post", "delete")
    assert world.posts[-1].object_id == NOTE["id"] and world.posts[-1].object is not None
    assert await world.handle({"id": "https://remote.example/b", "type": "Announce", "actor": ANA,
                               "object": "https://third.example/notes/9"}) == Outcome("post", "announce")
    assert world.posts[-1].object_id == "https://third.example/notes/9" and world.posts[-1].object is None
    assert await world.handle({"id": "https://remote.example/c", "type": "Create", "actor": ANA, "object": {"type": "Note"}}) == Outcome("ignored", "no_object")


def test_incoming_post_from_hostile_shapes(clock: FrozenClock) -> None:
    odd = {"id": "https://r.example/c", "object": {"id": "https://r.example/n", "content": 5, "contentMap": {"en": "<p>x</p>"},
                                                   "published": "yesterday", "url": "javascript:alert(1)", "tag": "nope", "sensitive": "yes"}}
    post = incoming_post("create", odd, "https://r.example/u", clock.now)
    assert post is not None
    assert (post.content, post.published, post.url, post.tags, post.sensitive) == ("<p>x</p>", None, "https://r.example/n", (), False)
    assert incoming_post("create", {"id": "x", "object": 3}, "a", clock.now) is None


async def test_purge_blocked(world: World) -> None:
    await world.handle(FOLLOW)
    assert purge_blocked(world.store.ap_followers, ["example.org", "REMOTE.example"]) == 1
    assert world.store.ap_followers.count(URLS.actor) == 0
