"""The newsletter's tables and repositories, on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from aggregator.digest.deliver import keyring_for
from aggregator.digest.tokens import SECRET_KEY
from aggregator.model import DigestFilters
from aggregator.store import Store
from aggregator.store.digests import NewDelivery

from .conftest import SOURCES, article, at, save


def test_secret_is_made_once_and_shared(store: Store, store_url: str, clock) -> None:
    first = keyring_for(store)
    other = Store(store_url, clock=clock)  # another process on the same database
    try:
        assert keyring_for(other).address_key("a@b.org") == first.address_key("a@b.org")
    finally:
        other.close()
    secret = store.meta.get(SECRET_KEY)
    assert secret is not None and len(bytes.fromhex(secret)) == 32
    assert store.meta.get_or_create(SECRET_KEY, lambda: "ignored") == secret


def test_subscriber_lifecycle(store: Store, clock) -> None:
    subs = store.subscribers
    filters = DigestFilters(sources=("rebellyon",), tags=("logement",), languages=("fr",))
    row, new = subs.request(address="a@example.org", address_key="k1", filters=filters, locale="fr", now=clock())
    assert new and row.state == "pending" and row.filters == filters and len(row.salt) == 32
    # the same address again: the pending row is refreshed, not duplicated
    clock.advance(60)
    again, new = subs.request(address="A@example.org", address_key="k1", filters=DigestFilters(), locale="en", now=clock())
    assert not new and again.id == row.id and again.locale == "en" and again.consent_at == clock()
    assert subs.counts() == {"pending": 1, "confirmed": 0, "unsubscribed": 0}
    assert subs.confirm(row.id, clock()) and subs.confirm(row.id, clock())  # idempotent
    confirmed = subs.get(row.id)
    assert confirmed is not None and confirmed.state == "confirmed" and confirmed.confirmed_at == clock()
    # a confirmed subscriber's filters cannot be changed by the public form
    same, _ = subs.request(address="a@example.org", address_key="k1", filters=DigestFilters(tags=("x",)), locale="fr",
                           now=clock())
    assert same.filters == DigestFilters()
    assert subs.update_filters(row.id, filters, locale="fr")
    assert subs.get(row.id).filters == filters  # type: ignore[union-attr]
    # unsubscribing deletes the address and keeps only the hash
    assert subs.unsubscribe(row.id, reason="unsubscribed", now=clock())
    assert subs.get(row.id) is None and subs.by_key("k1") is None
    assert subs.is_suppressed("k1")
    assert not subs.unsubscribe(row.id, reason="unsubscribed", now=clock())  # already gone
    assert subs.counts() == {"pending": 0, "confirmed": 0, "unsubscribed": 1, "suppressed_unsubscribed": 1}
    # subscribing anew: pending (still suppressed) until confirmed, which lifts the suppression
    fresh, new = subs.request(address="a@example.org", address_key="k1", filters=DigestFilters(), locale="fr", now=clock())
    assert new and fresh.salt != row.salt and subs.is_suppressed("k1")
    subs.confirm(fresh.id, clock())
    assert not subs.is_suppressed("k1")


def test_suppress_by_key_and_purge_unconfirmed(store: Store, clock) -> None:
    subs = store.subscribers
    old, _ = subs.request(address="old@example.org", address_key="old", filters=DigestFilters(), locale="fr", now=clock())
    clock.advance(days=4)
    recent, _ = subs.request(address="new@example.org", address_key="new", filters=DigestFilters(), locale="fr", now=clock())
    kept, _ = subs.request(address="kept@example.org", address_key="kept", filters=DigestFilters(), locale="fr", now=clock())
    subs.confirm(kept.id, clock())
    assert subs.purge_unconfirmed(clock() - timedelta(days=3)) == 1
    assert subs.get(old.id) is None and subs.get(recent.id) is not None
    assert not subs.is_suppressed("old")  # never consented: nothing to honour, nothing kept
    assert subs.suppress("kept", reason="refused", now=clock())
    assert subs.get(kept.id) is None and subs.suppressed_keys(["kept", "new"]) == {"kept"}


def test_reconfirmation(store: Store, clock) -> None:
    subs = store.subscribers
    a, _ = subs.request(address="a@example.org", address_key="a", filters=DigestFilters(), locale="fr", now=clock())
    b, _ = subs.request(address="b@example.org", address_key="b", filters=DigestFilters(), locale="fr", now=clock())
    subs.confirm(a.id, clock())
    subs.confirm(b.id, clock())
    clock.advance(days=400)
    due = subs.due_reconfirmation(clock() - timedelta(days=365))
    assert [s.id for s in due] == [a.id, b.id]
    subs.mark_reconfirm_sent(a.id, clock())
    subs.mark_reconfirm_sent(b.id, clock())
    assert subs.due_reconfirmation(clock() - timedelta(days=365)) == []
    clock.advance(days=10)
    assert subs.reconfirm(a.id, clock())
    clock.advance(days=30)
    assert subs.expire_reconfirmations(clock() - timedelta(days=30), clock()) == 1
    assert subs.get(a.id) is not None and subs.get(b.id) is None and subs.is_suppressed("b")


def test_stories_first_seen_in_a_window(store: Store, clock) -> None:
    store.sources.sync(SOURCES)
    clock.now = at("2026-11-19 08:00")
    save(store, "rebellyon", [article("1", "Avant la fenêtre", "https://rebellyon.example/1")])
    clock.now = at("2026-11-19 12:00")
    save(store, "rebellyon", [article("2", "Dans la fenêtre", "https://rebellyon.example/2"),
                              article("r", "Une réponse", "https://rebellyon.example/r", kind="reply"),
                              article("old", "Vieux", "https://rebellyon.example/old", published=at("2026-10-01 10:00"))])
    save(store, "paris-luttes", [article("p", "Dans la fenêtre", "https://rebellyon.example/2")])  # same story
    clock.now = at("2026-11-20 06:00")
    save(store, "reporterre", [article("3", "Pile à la fin", "https://reporterre.example/3")])
    ids = store.digests.stories_first_seen(at("2026-11-19 10:00"), at("2026-11-20 06:00"),
                                           published_after=at("2026-11-18 10:00"), limit=100)
    entries = store.entries.get_many(ids)
    assert [entries[i].title for i in ids] == ["Dans la fenêtre"]  # once, despite two sources
    deleted = ids[0]
    store.entries.mark_deleted([deleted], now=clock())
    assert store.digests.stories_first_seen(at("2026-11-19 10:00"), at("2026-11-20 06:00"),
                                            published_after=at("2026-11-18 10:00"), limit=100) == []


def test_digest_and_deliveries(store: Store, clock) -> None:
    subs = store.subscribers
    a, _ = subs.request(address="a@example.org", address_key="a", filters=DigestFilters(), locale="fr", now=clock())
    subs.confirm(a.id, clock())
    row = store.digests.create(day="2026-11-20", window_start=at("2026-11-19 06:00"), window_end=at("2026-11-20 06:00"),
                               entry_ids=[3, 1, 2], now=clock(),
                               deliveries=[NewDelivery(a.id, f"s{a.id}", "<m1@x>"), NewDelivery(None, "list", "<m2@x>")])
    assert row is not None and row.entry_ids == (3, 1, 2) and row.sent is None
    assert store.digests.create(day="2026-11-20", window_start=at("2026-11-19 06:00"), window_end=at("2026-11-20 06:00"),
                                entry_ids=[], now=clock(), deliveries=[]) is None  # cut once
    assert store.digests.latest() == row and store.digests.get_by_id(row.id) == row
    assert store.digests.before("2026-11-21") == row and store.digests.before("2026-11-20") is None
    due = store.mail_deliveries.due(clock())
    assert [d.message_id for d in due] == ["<m1@x>", "<m2@x>"]
    first = due[0]
    claimed = store.mail_deliveries.claim(first, clock())
    assert claimed is not None and claimed.state == "sending" and claimed.attempts == 1
    assert store.mail_deliveries.claim(first, clock()) is None  # a second process loses
    assert store.mail_deliveries.mark_data(claimed.id, clock())
    assert store.mail_deliveries.sent_since(clock() - timedelta(hours=1)) == 1  # in flight counts for the cap
    assert store.mail_deliveries.mark_sent(claimed.id, clock())
    assert not store.mail_deliveries.mark_sent(claimed.id, clock())  # finished once
    assert store.mail_deliveries.open_count(row.id) == 1
    assert store.mail_deliveries.subscribers_without_row(row.id, confirmed_before=clock()) == []
    b, _ = subs.request(address="b@example.org", address_key="b", filters=DigestFilters(), locale="fr", now=clock())
    subs.confirm(b.id, clock())
    assert store.mail_deliveries.subscribers_without_row(row.id, confirmed_before=clock()) == [b.id]
    assert store.mail_deliveries.add(row.id, [(b.id, f"s{b.id}", "<m3@x>")], clock()) == 1
    # unsubscribing takes the address's deliveries along
    subs.unsubscribe(a.id, reason="unsubscribed", now=clock())
    assert [d.recipient for d in store.mail_deliveries.for_digest(row.id)] == ["list", f"s{b.id}"]
    assert store.mail_deliveries.counts(row.id)["pending"] == 2
    assert store.digests.archive() == [row]
