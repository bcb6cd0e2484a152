"""The relay against a stateful Mastodon fake: what is sent, exactly once, limits, dry-run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from aggregator.model import Config, EntryData, MastodonTarget, RelayConfig, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.relay import Relay, enabled_targets
from aggregator.relay.ids import idempotency_key
from aggregator.relay.mastodon import MastodonPoster
from aggregator.settings import Credentials, load_settings
from aggregator.store import Store
from aggregator.store import schema as S
from tests.building import Relays, aggregator_for

from .conftest import article, save
from .mastodon_fake import FakeMastodon

SITE = SourceConfig(slug="rebellyon", name="Rebellyon", kind="feed", url="https://rebellyon.info/feed",
                    language="fr", tags=("lyon",))
MASTO = SourceConfig(slug="masto", name="Source Masto", kind="mastodon", account="@source@remote.example")
BSKY = SourceConfig(slug="bsky", name="Source Bsky", kind="bluesky", handle="source.bsky.social")


async def relay_for(relays: Relays, store: Store, fake: FakeMastodon, **cfg: Any) -> Relay:
    config = RelayConfig(mastodon=MastodonTarget(api_base_url=fake.base, visibility="unlisted"),
                         hashtags=("presse",), **cfg)
    return await relays.open(store, config, Credentials(fake.token, None, None))


def posts(fake: FakeMastodon) -> list[dict[str, Any]]:
    return [s.form | {"key": s.headers.get("Idempotency-Key")} for s in fake.sent
            if s.method == "POST" and s.path == "/api/v1/statuses"]


def outbox(store: Store) -> list[Any]:
    return store.outbox.all()


async def test_articles_are_posted_with_text_language_visibility_and_key(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    url = "https://rebellyon.info/Greve-generale-" + "x" * 300
    assert save(store, SITE, [article("1", "Grève générale à Lyon ce jeudi", url)], targets=("mastodon",)) == 1
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    [row] = outbox(store)
    assert row.state == "posted" and row.attempts == 1 and row.remote_id
    [sent] = posts(mastodon)
    assert sent["status"] == f"Grève générale à Lyon ce jeudi\n\n{url}\n\n#presse #lyon"
    assert sent["language"] == "fr" and sent["visibility"] == "unlisted"
    assert sent["key"] == idempotency_key(row.entry_id, "mastodon", row.created)
    assert reports == [{
        "entry_id": row.entry_id, "source": "rebellyon", "target": "mastodon", "state": "posted", "action": "post",
        "text": sent["status"], "url": url, "language": "fr", "remote_id": row.remote_id, "error": None, "attempts": 1,
    }]
    assert mastodon.statuses[row.remote_id]["url"] == row.remote_url
    # Nothing left: a second round does nothing.
    relay = await relay_for(relays, store, mastodon)
    assert await relay.run_once() == []
    status = store.outbox.status_by_source()["rebellyon"]["mastodon"]
    assert status["posted"] == 1 and status["pending"] == 0 and status["last_error"] is None


async def test_native_posts_are_boosted_and_bluesky_posts_linked(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([MASTO, BSKY])
    uri = "https://remote.example/users/source/statuses/42"
    mastodon.add_remote(uri, "Rassemblement ce soir place Bellecour")
    text = "Rassemblement ce soir place Bellecour"
    save(store, MASTO, [EntryData(guid=uri, url="https://remote.example/@source/42", title=text, text=text, kind="post",
                                  native_uri=uri, content_hash=content_hash(text, text))], targets=("mastodon",))
    at = "at://did:plc:abc/app.bsky.feed.post/3kabc"
    save(store, BSKY, [EntryData(guid=at, url="https://bsky.app/profile/source.bsky.social/post/3kabc",
                                 title="Manif", text="Manif demain à 14h", kind="post", native_uri=at, native_cid="bafy",
                                 content_hash=content_hash("Manif", "x"))], targets=("mastodon",))
    save(store, MASTO, [EntryData(guid="r", url="https://remote.example/@source/43", title="reply", text="reply",
                                  kind="reply", native_uri=uri + "3", content_hash="r")], targets=("mastodon",))
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    # Boosting again (a retry) must not create a second reblog.
    [boost] = [r for r in reports if r["action"] == "boost"]
    again = await relay._poster("mastodon").deliver(relay._plan(store.outbox.get(next(
        r.id for r in outbox(store) if r.entry_id == boost["entry_id"])), store.entries.get_many([boost["entry_id"]])[boost["entry_id"]], {}))
    assert {r["action"] for r in reports} == {"boost", "post"}  # the reply never entered the outbox
    assert len(mastodon.reblogs()) == 1 and again.remote_id == boost["remote_id"]
    assert mastodon.reblogs()[0]["reblog"]["uri"] == uri
    [link] = posts(mastodon)
    assert link["status"] == "Manif demain à 14h\n\nhttps://bsky.app/profile/source.bsky.social/post/3kabc\n\n#presse"
    assert any(s.path == "/api/v2/search" for s in mastodon.sent)


async def test_dry_run_changes_nothing(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article(str(i), f"Article numéro {i} de la semaine", f"https://r.example/{i}") for i in range(3)],
         targets=("mastodon",))

    def dump() -> list[Any]:
        with store.db.read() as conn:
            return [list(conn.execute(select(t))) for t in (S.outbox, S.meta, S.entries, S.sources)]

    before = dump()
    config = RelayConfig(mastodon=MastodonTarget(api_base_url=mastodon.base, visibility="unlisted"), hashtags=("presse",))
    # Credentials set or not, the dry run builds no poster and sends nothing.
    async with aggregator_for(store, Config(sources=(), relay=config), credentials=Credentials(mastodon.token, None, None),
                              mirror_config=False) as agg:
        reports = (await (await agg.relay_preview()).run_once()).reports
    assert dump() == before
    assert mastodon.sent == []
    assert [r["state"] for r in reports] == ["pending"] * 3
    assert reports[0]["text"] == "Article numéro 0 de la semaine\n\nhttps://r.example/0\n\n#presse #lyon"
    assert reports[0]["card"] is None  # Mastodon makes its own card


async def test_interrupted_delivery_is_reconciled_not_reposted(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    """Killed while the server posts: the row stays `sending`; the next relay finds the status."""
    store.sources.sync([SITE])
    save(store, SITE, [article("1", "Un article interrompu en plein envoi", "https://r.example/1")], targets=("mastodon",))
    mastodon.hang_after_commit = True
    relay = await relay_for(relays, store, mastodon)
    task = asyncio.create_task(relay.run_once())
    for _ in range(200):
        if mastodon.statuses:
            break
        await asyncio.sleep(0.02)
    task.cancel()  # the process dies: nothing records the outcome
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.state for r in outbox(store)] == ["sending"]
    mastodon.expire_keys()  # more than an hour later: the Idempotency-Key no longer helps
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    assert [r["state"] for r in reports] == ["posted"]
    assert len(mastodon.own_posts()) == 1
    assert len(posts(mastodon)) == 1  # found among the recent statuses, not posted again


async def test_lost_answer_is_absorbed_by_the_idempotency_key(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article("1", "Un article dont la réponse se perd", "https://r.example/1")], targets=("mastodon",))
    mastodon.drop_after_commit = 1
    relay = await relay_for(relays, store, mastodon)
    [first] = await relay.run_once()
    assert first["state"] == "pending" and first["attempts"] == 1 and "network" in first["error"]
    clock.advance(61)
    [second] = await relay.run_once()
    assert second["state"] == "posted" and second["attempts"] == 2
    assert len(mastodon.own_posts()) == 1


async def test_failures_back_off_then_fail_with_the_error_kept(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article("1", "Un article que le serveur refuse", "https://r.example/1")], targets=("mastodon",))
    mastodon.fail_next = [503] * 10
    relay = await relay_for(relays, store, mastodon, max_attempts=3)
    [r1] = await relay.run_once()
    assert r1["state"] == "pending"
    assert await relay.run_once() == []  # backing off
    waits = []
    for _ in range(2):
        row = outbox(store)[0]
        waits.append((row.next_attempt - clock()).total_seconds())
        clock.advance(waits[-1])
        [r] = await relay.run_once()
    assert waits == [60.0, 120.0]
    assert r["state"] == "failed" and r["attempts"] == 3 and "server error" in r["error"]
    row = outbox(store)[0]
    assert row.state == "failed" and row.last_error
    assert store.outbox.status_by_source()["rebellyon"]["mastodon"]["last_error"] == row.last_error


async def test_a_refused_status_fails_at_once(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article("1", "Un article invalide", "https://r.example/1")], targets=("mastodon",))
    mastodon.fail_next = [422]
    relay = await relay_for(relays, store, mastodon)
    [r] = await relay.run_once()
    assert r["state"] == "failed" and r["attempts"] == 1


async def test_rate_limit_headers_pause_the_target_before_the_window_runs_out(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article(str(i), f"Article limité numéro {i}", f"https://r.example/{i}") for i in range(3)],
         targets=("mastodon",))
    mastodon.rate_limit = 5  # X-RateLimit-Remaining falls under the relay's reserve at once
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    assert [r["state"] for r in reports] == ["posted"]
    assert sorted((r.state, r.attempts) for r in outbox(store)) == [("pending", 0), ("pending", 0), ("posted", 1)]


async def test_429_pauses_the_target_without_spending_an_attempt(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article(str(i), f"Article limité numéro {i}", f"https://r.example/{i}") for i in range(2)],
         targets=("mastodon",))
    mastodon.fail_next = [429]
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    assert [(r["state"], r["attempts"]) for r in reports] == [("pending", 0)]  # the second is not tried
    limited = next(r for r in outbox(store) if r.last_error)
    assert limited.attempts == 0 and "rate limited" in (limited.last_error or "")
    assert limited.next_attempt is not None and limited.next_attempt > clock()


async def test_max_posts_per_hour(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article(str(i), f"Article du flot numéro {i}", f"https://r.example/{i}") for i in range(5)],
         targets=("mastodon",))
    relay = await relay_for(relays, store, mastodon, max_posts_per_hour=2)
    assert len(await relay.run_once()) == 2
    clock.advance(600)
    assert await relay.run_once() == []
    clock.advance(3001)
    assert len(await relay.run_once()) == 2
    assert len(mastodon.own_posts()) == 4


async def test_backlog_a_year_of_history_relays_only_the_window(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    history = [article(f"old{d}", f"Archive du jour {d} de l'an passé", f"https://r.example/old{d}",
                       published=clock() - timedelta(days=d)) for d in range(2, 366, 3)]
    fresh = [article("new", "Article de ce matin même", "https://r.example/new", published=clock() - timedelta(hours=3))]
    assert save(store, SITE, history + fresh, targets=("mastodon",)) == len(history) + 1
    relay = await relay_for(relays, store, mastodon)
    reports = await relay.run_once()
    assert [r["url"] for r in reports] == ["https://r.example/new"]
    assert [p["status"].splitlines()[0] for p in posts(mastodon)] == ["Article de ce matin même"]


async def test_switched_off_source_and_deleted_entry_are_skipped(store: Store, clock, mastodon: FakeMastodon, relays: Relays) -> None:
    store.sources.sync([SITE])
    save(store, SITE, [article("1", "Article supprimé avant envoi", "https://r.example/1"),
                       article("2", "Article d'une source coupée", "https://r.example/2")], targets=("mastodon",))
    first = min(r.entry_id for r in outbox(store))
    store.entries.mark_deleted([first], now=clock())
    store.sources.sync([SourceConfig(**{**SITE.__dict__, "relay": False})])
    relay = await relay_for(relays, store, mastodon)
    # Both rows were withdrawn before the relay ran: the deleted entry's by the delete, the
    # switched-off source's when the configuration was mirrored.
    assert await relay.run_once() == []
    assert {(r.state, r.last_error) for r in outbox(store)} == {
        ("skipped", "deleted by the operator"), ("skipped", "relay is switched off for this source")}
    assert mastodon.sent == []


def test_credentials_from_env() -> None:
    env = {"MASTODON_ACCESS_TOKEN": " s3cr3t ", "BLUESKY_HANDLE": "relay.test"}
    creds = load_settings(env, read_config=False).credentials
    config = RelayConfig(mastodon=MastodonTarget(api_base_url="https://m.example"))
    assert creds.mastodon_token == "s3cr3t" and creds.bluesky_password is None
    assert "s3cr3t" not in repr(creds), "secrets never show in a repr"
    assert enabled_targets(config, creds) == ("mastodon",)
    assert enabled_targets(config, load_settings({}, read_config=False).credentials) == ()


def test_mastodon_poster_never_calls_the_instance_at_start() -> None:
    # version_check_mode="none": building the client makes no request (nothing listens here).
    MastodonPoster(MastodonTarget(api_base_url="http://127.0.0.1:9"), "t", user_agent="ua", clock=lambda: None)  # type: ignore[arg-type,return-value]
