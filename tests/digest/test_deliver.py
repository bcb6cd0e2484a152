"""The delivery loop against a real SMTP server (aiosmtpd): the window rule, filters,
retries, suppression, the hourly cap, the mailing-list mode, and exactly-once delivery
across interrupted runs."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import date, time, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from aggregator.digest.deliver import Newsletter
from aggregator.digest.smtp import BeforeData, SmtpTransport, parse_smtp_url
from aggregator.errors import DigestError
from aggregator.model import DigestConfig, DigestFilters
from aggregator.store import Store

from .conftest import SOURCES, Sink, SmtpServer, article, at, save, subscribe

BASE = "https://medias.example.org"
CONFIG = DigestConfig(from_address="Médias libres <lettre@medias.example.org>", send_at=time(7, 0))


class Crash(BaseException):
    """Stands for SIGKILL: nothing after it runs, nothing is caught."""


class CrashingTransport:
    """The real transport, made to die at one point of the n-th message."""

    def __init__(self, real: SmtpTransport, *, at_message: int, point: str):
        self.real = real
        self.at_message = at_message
        self.point = point  # "before_data": before DATA is marked; "after_send": after the 250
        self.count = 0

    async def send(self, message: EmailMessage | bytes, *, sender: str, recipient: str,
                   before_data: BeforeData | None = None) -> str:
        self.count += 1
        if self.count != self.at_message:
            return await self.real.send(message, sender=sender, recipient=recipient, before_data=before_data)
        if self.point == "before_data":
            async def die() -> None:
                raise Crash()

            return await self.real.send(message, sender=sender, recipient=recipient, before_data=die)
        await self.real.send(message, sender=sender, recipient=recipient, before_data=before_data)
        raise Crash()

    async def close(self) -> None:
        await self.real.close()


def make(store: Store, clock: Any, server: SmtpServer, config: DigestConfig = CONFIG, **kw: Any) -> Newsletter:
    transport = kw.pop("transport", None) or SmtpTransport(parse_smtp_url(server.url))
    return Newsletter(store, config, base_url=BASE, transport=transport, clock=clock, **kw)


def day_one(store: Store, clock: Any) -> None:
    """Stories first seen on 19 November (Paris); the digest of the 20th is due at 06:00 UTC."""
    store.sources.sync(SOURCES)
    clock.now = at("2026-11-19 09:00")
    save(store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/spip.php?article1&utm_source=x",
                                      tags=("logement",))])
    save(store, "paris-luttes", [article("p1", "Grève générale à Lyon ce jeudi !", "https://paris-luttes.example/p1")])
    clock.now = at("2026-11-19 15:00")
    save(store, "crimethinc", [article("c1", "A story in English", "https://crimethinc.example/c1")])
    save(store, "reporterre", [article("e1", "Écologie", "https://reporterre.example/e1")])


def ids_by_recipient(sink: Sink) -> Counter[tuple[str, str]]:
    return Counter((r.rcpt_tos[0], r.message["Message-ID"]) for r in sink.received)


async def test_a_day_of_digests(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    everything = subscribe(store, "tout@example.org")
    subscribe(store, "lyon@example.org", filters=DigestFilters(sources=("rebellyon",)), locale="en")
    subscribe(store, "rien@example.org", filters=DigestFilters(tags=("inexistant",)))
    subscribe(store, "pending@example.org", confirm=False)
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 05:59")  # 06:59 in Paris: not yet
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    assert store.digests.latest() is None
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due()).as_dict() == {"sent": 2, "failed": 0, "skipped": 1}
    digest = store.digests.get("2026-11-20")
    assert digest is not None and digest.stories == 3 and digest.sent is not None
    assert (digest.window_start, digest.window_end) == (at("2026-11-19 06:00"), at("2026-11-20 06:00"))
    sink = smtp_server.sink
    assert sorted(r.rcpt_tos[0] for r in sink.received) == ["lyon@example.org", "tout@example.org"]
    tout = sink.for_address("tout@example.org")[0].message
    rows = {r.subscriber_id: r for r in store.mail_deliveries.for_digest(digest.id)}
    assert tout["Message-ID"] == rows[everything].message_id
    body = tout.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Grève générale à Lyon ce jeudi" in body and "Paris-luttes.info" in body and "Écologie" in body and "A story in English" in body
    assert "utm_source" not in body and body.count("Grève générale à Lyon ce jeudi") == 1  # one story, once
    lyon = sink.for_address("lyon@example.org")[0].message
    assert lyon["Subject"].startswith("Independent media")
    lyon_body = lyon.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Grève générale à Lyon ce jeudi" in lyon_body and "Écologie" not in lyon_body
    # a second round sends nothing more
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    assert len(sink.received) == 2
    # the next day holds only what was first seen since: nothing lost, nothing twice
    clock.now = at("2026-11-20 06:30")
    save(store, "reporterre", [article("e2", "Après l'envoi", "https://reporterre.example/e2")])
    clock.now = at("2026-11-21 06:00")
    assert (await news.send_due()).sent == 1  # only "tout" wants Reporterre
    second = sink.for_address("tout@example.org")[1].message
    text = second.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Après l'envoi" in text and "Grève générale à Lyon ce jeudi" not in text
    assert second["Message-ID"] != tout["Message-ID"]
    await news.transport.close()  # type: ignore[union-attr]


async def test_empty_day_sends_no_mail(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    store.sources.sync(SOURCES)
    subscribe(store, "tout@example.org")
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 08:00")
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    digest = store.digests.latest()
    assert digest is not None and digest.stories == 0 and store.mail_deliveries.for_digest(digest.id) == []
    assert smtp_server.sink.received == []


async def test_temporary_failure_is_retried_with_back_off(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    subscribe(store, "tout@example.org")
    smtp_server.sink.rcpt_script["tout@example.org"] = ["451 4.7.1 Greylisted"]
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 1, "skipped": 0}
    [row] = store.mail_deliveries.for_digest(store.digests.latest().id)  # type: ignore[union-attr]
    assert row.state == "pending" and row.attempts == 1 and "451" in (row.last_error or "")
    assert row.next_attempt == clock() + timedelta(seconds=60)
    assert (await news.send_due()).sent == 0  # not before its time
    clock.advance(60)
    assert (await news.send_due()).sent == 1
    assert len(smtp_server.sink.received) == 1
    [row] = store.mail_deliveries.for_digest(row.digest_id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, None)


async def test_permanent_refusal_suppresses_the_address(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    gone = subscribe(store, "parti@example.org")
    subscribe(store, "tout@example.org")
    smtp_server.sink.rcpt_script["parti@example.org"] = ["550 5.1.1 <parti@example.org>: Recipient address rejected"]
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due()).as_dict() == {"sent": 1, "failed": 1, "skipped": 0}
    assert store.subscribers.get(gone) is None
    assert store.subscribers.counts()["suppressed_refused"] == 1
    assert [r.rcpt_tos for r in smtp_server.sink.received] == [["tout@example.org"]]


async def test_configuration_error_stops_the_round_and_burns_no_attempt(
    store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    day_one(store, clock)
    for i in range(3):
        subscribe(store, f"s{i}@example.org")
    news = make(store, clock, smtp_server, transport=SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp_server.port}")))
    clock.now = at("2026-11-20 06:00")  # smtp:// requires STARTTLS, which this server lacks
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 1, "skipped": 0}
    rows = store.mail_deliveries.for_digest(store.digests.latest().id)  # type: ignore[union-attr]
    assert [(r.state, r.attempts) for r in rows] == [("pending", 0)] * 3
    assert smtp_server.sink.received == []


async def test_hourly_cap_survives_a_restart(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    for i in range(5):
        subscribe(store, f"s{i}@example.org")
    capped = replace(CONFIG, max_per_hour=2)
    clock.now = at("2026-11-20 06:00")
    assert (await make(store, clock, smtp_server, capped).send_due()).sent == 2
    clock.advance(minutes=30)
    assert (await make(store, clock, smtp_server, capped).send_due()).sent == 0  # a new process, same cap
    clock.advance(minutes=31)
    assert (await make(store, clock, smtp_server, capped).send_due()).sent == 2
    clock.advance(hours=1, minutes=1)
    assert (await make(store, clock, smtp_server, capped).send_due()).sent == 1
    assert len(smtp_server.sink.received) == 5
    assert len(ids_by_recipient(smtp_server.sink)) == 5


async def test_mailing_list_mode(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    subscribe(store, "ignored@example.org")
    config = replace(CONFIG, list_address="medias-du-jour@lists.example.org")
    news = make(store, clock, smtp_server, config)
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due()).as_dict() == {"sent": 1, "failed": 0, "skipped": 0}
    assert (await news.send_due()).sent == 0
    [received] = smtp_server.sink.received
    assert received.rcpt_tos == ["medias-du-jour@lists.example.org"]
    assert received.message["List-Unsubscribe"] is None
    [row] = store.mail_deliveries.for_digest(store.digests.latest().id)  # type: ignore[union-attr]
    assert row.subscriber_id is None and row.recipient == "list" and row.message_id == received.message["Message-ID"]


async def test_subscriber_confirmed_later_the_same_day_gets_it(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    subscribe(store, "tot@example.org")
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due()).sent == 1
    clock.now = at("2026-11-20 18:00")
    subscribe(store, "tard@example.org")
    assert (await news.send_due()).sent == 1
    assert sorted(r.rcpt_tos[0] for r in smtp_server.sink.received) == ["tard@example.org", "tot@example.org"]
    clock.now = at("2026-11-21 05:00")  # the 20th's digest is no longer today's: nobody is added to it
    subscribe(store, "lendemain@example.org")
    assert (await news.send_due()).sent == 0


async def test_unsubscribed_after_the_cut_gets_nothing(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    sid = subscribe(store, "parti@example.org")
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 06:00")
    news.cut(clock())
    store.subscribers.unsubscribe(sid, reason="unsubscribed", now=clock())
    assert (await news.send_due()).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}
    assert smtp_server.sink.received == []


async def test_dry_run_changes_nothing(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    subscribe(store, "tout@example.org")
    subscribe(store, "rien@example.org", filters=DigestFilters(tags=("inexistant",)))
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due(dry_run=True)).as_dict() == {"sent": 1, "failed": 0, "skipped": 1}
    assert store.digests.latest() is None and smtp_server.sink.received == []
    assert (await news.send_due()).as_dict() == {"sent": 1, "failed": 0, "skipped": 1}
    assert (await news.send_due(dry_run=True)).as_dict() == {"sent": 0, "failed": 0, "skipped": 0}


async def test_explicit_days_and_preview(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    subscribe(store, "tout@example.org")
    news = make(store, clock, smtp_server)
    clock.now = at("2026-11-20 05:00")
    with pytest.raises(DigestError):
        await news.send_due(day=date(2026, 11, 20))  # not due before 07:00 in Paris
    preview = news.preview(date(2026, 11, 20), clock())  # what it would hold if cut now
    assert preview.count == 3 and store.digests.latest() is None
    clock.now = at("2026-11-20 06:00")
    assert (await news.send_due(day=date(2026, 11, 20))).sent == 1
    with pytest.raises(DigestError):
        news.cut(clock(), date(2026, 11, 19))  # the chain only grows forward
    assert news.preview(date(2026, 11, 20), clock()).count == 3  # the stored one


# -- exactly once across interrupted runs -------------------------------------------------------


async def test_crash_before_data_resends_without_duplicate(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    day_one(store, clock)
    addresses = [f"s{i}@example.org" for i in range(6)]
    for a in addresses:
        subscribe(store, a)
    clock.now = at("2026-11-20 06:00")
    real = SmtpTransport(parse_smtp_url(smtp_server.url))
    dying = make(store, clock, smtp_server, transport=CrashingTransport(real, at_message=3, point="before_data"))
    with pytest.raises(Crash):
        await dying.send_due()
    await real.close()
    rows = {r.recipient: r for r in store.mail_deliveries.for_digest(store.digests.latest().id)}  # type: ignore[union-attr]
    # the batch was claimed before its first mail: two sent, the four others claimed, none at DATA
    assert sorted(r.state for r in rows.values()) == ["sending"] * 4 + ["sent"] * 2
    assert [r.data_at for r in rows.values() if r.state == "sending"] == [None] * 4
    # a restarted process leaves fresh claims alone (their owner may be alive)...
    restarted = make(store, clock, smtp_server)
    await restarted.send_due()
    assert len(smtp_server.sink.received) == 2
    # ...and takes them back once stale: they never reached DATA, so they are sent, once
    clock.advance(minutes=16)
    await restarted.send_due()
    assert ids_by_recipient(smtp_server.sink) == Counter({(a, _mid(store, a)): 1 for a in addresses})
    assert all(r.state == "sent" for r in store.mail_deliveries.for_digest(store.digests.latest().id))  # type: ignore[union-attr]
    assert all(r.attempts == 1 for r in store.mail_deliveries.for_digest(store.digests.latest().id))  # type: ignore[union-attr]


async def test_crash_after_data_resends_with_the_same_message_id(
    store: Store, clock: Any, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    day_one(store, clock)
    addresses = [f"s{i}@example.org" for i in range(4)]
    for a in addresses:
        subscribe(store, a)
    clock.now = at("2026-11-20 06:00")
    real = SmtpTransport(parse_smtp_url(smtp_server.url))
    dying = make(store, clock, smtp_server, transport=CrashingTransport(real, at_message=2, point="after_send"))
    with pytest.raises(Crash):
        await dying.send_due()
    await real.close()
    clock.advance(minutes=16)
    with caplog.at_level(logging.WARNING, logger="aggregator.digest"):
        await make(store, clock, smtp_server).send_due()
    # every (recipient, day) has exactly one Message-ID; the one crash inside DATA is the only
    # raw repeat, it carries the same Message-ID, and it is logged
    per_recipient = Counter(r.rcpt_tos[0] for r in smtp_server.sink.received)
    assert set(per_recipient) == set(addresses)
    repeated = [a for a, n in per_recipient.items() if n > 1]
    assert len(repeated) == 1 and per_recipient[repeated[0]] == 2
    assert {mid for (a, mid) in ids_by_recipient(smtp_server.sink) if a == repeated[0]} == {_mid(store, repeated[0])}
    assert sum("digest.uncertain_resend" in r.getMessage() for r in caplog.records) == 1


def _mid(store: Store, address: str) -> str:
    digest = store.digests.latest()
    assert digest is not None
    subscribers = {s.id: s.address for s in store.subscribers.confirmed()}
    [row] = [r for r in store.mail_deliveries.for_digest(digest.id) if subscribers.get(r.subscriber_id or 0) == address]
    return row.message_id
