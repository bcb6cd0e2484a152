"""The ActivityPub repositories on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from aggregator.activitypub import activities, documents
from aggregator.activitypub.keys import actor_keypair, load_private_key
from aggregator.store import Store
from tests.conftest import FrozenClock

ME = "https://agg.example/ap/actor"
ANA = "https://remote.example/users/ana"


def test_keypair_made_once_and_kept(store: Store) -> None:
    first = actor_keypair(store.ap_keys, ME, bits=1024)
    again = actor_keypair(store.ap_keys, ME, bits=1024)
    assert first == again
    assert load_private_key(first.private_pem).key_size == 1024
    assert actor_keypair(store.ap_keys, "https://agg.example/ap/sources/x", bits=1024) != first


def test_racing_creators_end_with_one_pair(store: Store) -> None:
    """A second creator whose insert loses gets the winner's pair back."""
    made = []

    def create() -> tuple[str, str]:
        pair = ("private-a", "public-a") if not made else ("private-b", "public-b")
        made.append(pair)
        if len(made) == 1:  # the other process wins in between our read and our insert
            store.ap_keys.get_or_create(ME, lambda: ("private-b", "public-b"))
        return pair

    assert store.ap_keys.get_or_create(ME, create) == ("private-b", "public-b")


def test_followers(store: Store, clock: FrozenClock) -> None:
    repo = store.ap_followers
    assert repo.add_follower(local_actor=ME, actor_id=ANA, inbox=ANA + "/inbox", shared_inbox="https://remote.example/inbox", follow_id="f1")
    clock.advance(60)
    assert not repo.add_follower(local_actor=ME, actor_id=ANA, inbox=ANA + "/inbox", shared_inbox="https://remote.example/inbox", follow_id="f2")
    repo.add_follower(local_actor=ME, actor_id="https://remote.example/users/bo", inbox="https://remote.example/users/bo/inbox", shared_inbox="https://remote.example/inbox", follow_id="f3")
    repo.add_follower(local_actor=ME, actor_id="https://solo.example:8443/me", inbox="https://solo.example:8443/me/inbox", shared_inbox=None, follow_id="f4")
    repo.add_follower(local_actor=ME, actor_id="https://a.spam.example/u", inbox="https://a.spam.example/u/inbox", shared_inbox=None, follow_id="f5")
    assert repo.count(ME) == 4 and repo.count("https://agg.example/ap/sources/x") == 0
    ana = next(f for f in repo.all(ME) if f.actor_id == ANA)
    assert (ana.follow_id, ana.domain, ana.since) == ("f2", "remote.example", clock.now - timedelta(seconds=60))
    assert repo.delivery_inboxes(ME) == ["https://a.spam.example/u/inbox", "https://remote.example/inbox", "https://solo.example:8443/me/inbox"]
    assert not repo.remove_follower(local_actor=ME, actor_id=ANA, follow_id="f1")  # an older Follow's Undo
    assert repo.remove_follower(local_actor=ME, actor_id=ANA, follow_id="f2")
    assert repo.remove_domain("spam.example") == 1
    assert repo.remove_actor("https://solo.example:8443/me") == 1
    assert [f.actor_id for f in repo.all()] == ["https://remote.example/users/bo"]


def test_following_states(store: Store, clock: FrozenClock) -> None:
    repo = store.ap_following
    assert repo.following_state(local_actor=ME, remote_actor=ANA) is None
    row = repo.follow(local_actor=ME, remote_actor=ANA, follow_id="https://agg.example/ap/activities/follow/1", inbox=ANA + "/inbox", source="ana")
    assert (row.state, row.source) == ("pending", "ana")
    assert not repo.set_following_state(local_actor=ME, remote_actor=ANA, state="accepted", follow_id="https://other/follow")
    clock.advance(5)
    assert repo.set_following_state(local_actor=ME, remote_actor=ANA, state="accepted", follow_id=row.follow_id)
    got = repo.get(local_actor=ME, remote_actor=ANA)
    assert got is not None and got.state == "accepted" and got.updated == clock.now
    assert repo.set_following_state(local_actor=ME, remote_actor=ANA, state="rejected")
    assert repo.following_state(local_actor=ME, remote_actor=ANA) == "rejected"
    assert repo.unfollow(local_actor=ME, remote_actor=ANA) is not None
    assert repo.all() == []


def test_replay_guard(store: Store, clock: FrozenClock) -> None:
    seen = store.ap_seen
    until = clock.now + timedelta(hours=1)
    assert seen.remember("id:abc", until)
    assert not seen.remember("id:abc", until)
    assert seen.remember("id:def", until)
    clock.advance(hours=2)
    assert seen.remember("id:abc", clock.now + timedelta(hours=1))  # expired: new again
    assert not seen.remember("id:abc", clock.now + timedelta(hours=1))
    assert seen.purge() == 1  # id:def


def test_publish_claim_and_deliver(store: Store, clock: FrozenClock) -> None:
    repo = store.ap_deliveries
    urls = documents.Urls.from_base("https://agg.example")
    story = activities.NoteInput(entry_id=7, title="T", url="https://site.example/a", published=clock.now)
    create = activities.create(urls, story)
    inboxes = ["https://a.example/inbox", "https://b.example/inbox"]
    row = repo.publish(local_actor=urls.actor, activity=create, entry_id=7, inboxes=inboxes)
    assert repo.publish(local_actor=urls.actor, activity=create, entry_id=7, inboxes=[*inboxes, "https://c.example/inbox"]) == row
    assert repo.activity(create["id"]) == create
    assert repo.outbox_count(urls.actor) == 1
    repo.publish(local_actor=urls.actor, activity=activities.follow(urls, "https://a.example/u"), public=False)
    assert repo.outbox_count(urls.actor) == 1
    assert repo.outbox_page(urls.actor, offset=0, limit=10) == [create]

    claimed = repo.claim(clock.now)
    assert [d.inbox for d in claimed] == [*inboxes, "https://c.example/inbox"]
    assert all(d.payload == create and d.attempts == 1 and d.state == "sending" for d in claimed)
    assert repo.claim(clock.now) == []  # nobody claims twice
    a, b, c = claimed
    assert repo.delivered(a.id)
    assert not repo.delivered(a.id)  # a 2xx is final
    assert repo.retry(b.id, next_attempt=clock.now + timedelta(minutes=5), error="HTTP 503")
    assert repo.fail(c.id, error="HTTP 410")
    assert repo.counts() == {"delivered": 1, "pending": 1, "failed": 1}
    assert repo.claim(clock.now) == []
    clock.advance(minutes=5)
    again = repo.claim(clock.now)
    assert [(d.inbox, d.attempts, d.last_error) for d in again] == [(b.inbox, 2, "HTTP 503")]


def test_inbox_health_backoff_death_and_resurrection(store: Store, clock: FrozenClock) -> None:
    repo = store.ap_deliveries
    urls = documents.Urls.from_base("https://agg.example")
    inbox = "https://down.example/inbox"
    start = clock.now
    health = repo.inbox_failed(inbox, error="timeout", next_attempt=clock.now + timedelta(hours=1), dead_after=timedelta(days=7))
    assert (health.failures, health.failing_since, health.dead_since, health.domain) == (1, start, None, "down.example")
    story = activities.NoteInput(entry_id=1, title="T", url=None, published=clock.now)
    repo.publish(local_actor=urls.actor, activity=activities.create(urls, story), inboxes=[inbox])
    assert repo.claim(clock.now) == []  # the inbox is held until its next attempt
    clock.advance(days=8)
    health = repo.inbox_failed(inbox, error="timeout", next_attempt=clock.now, dead_after=timedelta(days=7),
                               dead_retry=clock.now + timedelta(days=1))
    assert health.failures == 2 and health.dead_since == clock.now
    assert repo.dead_inboxes() == [inbox]
    assert repo.claim(clock.now) == []  # a dead inbox is held until its next probe
    clock.advance(days=1)
    [probe] = repo.claim(clock.now)
    assert probe.inbox == inbox
    repo.inbox_succeeded(inbox)  # it answered: alive again
    health = repo.inbox_health(inbox)
    assert health is not None and (health.failures, health.dead_since, health.last_success) == (0, None, clock.now)
