"""Subscribing through to unsubscribing, with the mails read from a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from aggregator.digest.deliver import Newsletter
from aggregator.digest.smtp import SmtpTransport, parse_smtp_url
from aggregator.digest.subscriptions import Subscriptions, filters_from_form
from aggregator.errors import AddressError, DigestError, TokenError
from aggregator.model import DigestConfig, DigestFilters
from aggregator.store import Store

from .conftest import SOURCES, SmtpServer, article, at, save

BASE = "https://medias.example.org"
CONFIG = DigestConfig(from_address="lettre@medias.example.org", unsubscribe_address="desabonnement@medias.example.org")


def flows(store: Store, clock: Any, server: SmtpServer, config: DigestConfig = CONFIG) -> Subscriptions:
    return Subscriptions(store, config, base_url=BASE, transport=SmtpTransport(parse_smtp_url(server.url)), clock=clock)


def link(text: str, path: str) -> str:
    match = re.search(rf"{re.escape(BASE)}/{path}/([A-Za-z0-9._-]+)", text)
    assert match, text
    return match.group(1)


async def test_double_opt_in_then_digest_then_one_click_unsubscribe(
    store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    subs = flows(store, clock, smtp_server)
    filters = filters_from_form(["rebellyon"], [], ["fr"], known_sources=[s.slug for s in SOURCES])
    outcome = await subs.subscribe(" Camille@Example.org ", filters, "fr")
    assert outcome.status == "confirmation_sent"
    assert store.subscribers.counts()["pending"] == 1
    [mail] = smtp_server.sink.received
    assert mail.rcpt_tos == ["Camille@example.org"]
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = link(body, "confirm")
    # looking at the token (the GET page) confirms nothing
    assert subs.peek("confirm", token).state == "pending"
    assert store.subscribers.counts()["confirmed"] == 0
    assert subs.confirm(token).id == outcome.subscriber_id
    assert store.subscribers.counts()["confirmed"] == 1
    # the digest arrives, with its own unsubscribe token
    store.sources.sync(SOURCES)
    clock.now = at("2026-11-21 09:00")
    save(store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/1")])
    clock.now = at("2026-11-22 06:00")
    news = Newsletter(store, CONFIG, base_url=BASE, transport=SmtpTransport(parse_smtp_url(smtp_server.url)), clock=clock)
    assert (await news.send_due()).sent == 1
    digest = smtp_server.sink.received[-1].message
    unsubscribe = link(str(digest["List-Unsubscribe"]), "unsubscribe")
    assert f"mailto:desabonnement@medias.example.org?subject=unsubscribe-{unsubscribe}" in " ".join(
        str(digest["List-Unsubscribe"]).split())
    prefs = link(digest.get_body(("plain",)).get_content(), "preferences")  # type: ignore[union-attr]
    assert subs.update_filters(prefs, DigestFilters(), "en").id == outcome.subscriber_id
    # one click: the address is deleted, its hash kept; a second click finds nothing to do
    assert subs.unsubscribe(unsubscribe) is True
    assert subs.unsubscribe(unsubscribe) is False
    assert store.subscribers.counts() == {"pending": 0, "confirmed": 0, "unsubscribed": 1, "suppressed_unsubscribed": 1}
    with pytest.raises(TokenError):
        subs.update_filters(prefs, DigestFilters())  # dead with the row
    clock.now = at("2026-11-23 06:00")
    save(store, "rebellyon", [article("r2", "Encore une nouvelle de Lyon aujourd'hui", "https://rebellyon.example/2")])
    clock.now = at("2026-11-23 06:00") + timedelta(hours=24)
    assert (await news.send_due()).sent == 0  # no further mail
    # subscribing anew is possible, and needs a new confirmation
    again = await subs.subscribe("camille@example.org", DigestFilters(), "fr")
    assert again.status == "confirmation_sent"
    with pytest.raises(TokenError):
        subs.confirm(token)  # the old link died with the old row, even when SQLite reuses its id
    await news.transport.close()  # type: ignore[union-attr]


async def test_flood_for_one_address_sends_one_mail(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server)
    statuses = [(await subs.subscribe("cible@example.org", DigestFilters(), "fr")).status for _ in range(20)]
    assert statuses == ["confirmation_sent"] + ["throttled"] * 19
    assert len(smtp_server.sink.received) == 1
    clock.advance(hours=1)
    assert (await subs.subscribe("CIBLE@example.org", DigestFilters(), "fr")).status == "confirmation_sent"
    assert store.subscribers.counts()["pending"] == 1


async def test_already_confirmed_gets_no_mail(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server)
    await subs.subscribe("a@example.org", DigestFilters(), "fr")
    subs.confirm(link(smtp_server.sink.received[0].message.get_body(("plain",)).get_content(), "confirm"))  # type: ignore[union-attr]
    outcome = await subs.subscribe("a@example.org", DigestFilters(tags=("autre",)), "en")
    assert outcome.status == "already_confirmed" and len(smtp_server.sink.received) == 1
    assert store.subscribers.get(outcome.subscriber_id).filters == DigestFilters()  # type: ignore[union-attr]


@pytest.mark.parametrize("raw", ["a@b.org\r\nBcc: victime@example.org", "pas-une-adresse", "x" * 10_000, ""])
async def test_bad_addresses_store_and_send_nothing(store: Store, clock: Any, smtp_server: SmtpServer, raw: str) -> None:
    subs = flows(store, clock, smtp_server)
    with pytest.raises(AddressError):
        await subs.subscribe(raw, DigestFilters(), "fr")
    assert store.subscribers.counts()["pending"] == 0 and smtp_server.sink.received == []


async def test_forged_and_expired_tokens(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server)
    await subs.subscribe("a@example.org", DigestFilters(), "fr")
    token = link(smtp_server.sink.received[0].message.get_body(("plain",)).get_content(), "confirm")  # type: ignore[union-attr]
    subject, expiry, mac = token.split(".")
    for forged in (f"{int(subject) + 1}.{expiry}.{mac}", f"{subject}.{expiry}.{mac[::-1]}", "rien", "1.0.x" * 50):
        with pytest.raises(TokenError):
            subs.confirm(forged)
    with pytest.raises(TokenError):
        subs.unsubscribe(token)  # a confirm token does not unsubscribe
    clock.advance(days=3)
    with pytest.raises(TokenError) as info:
        subs.confirm(token)
    assert info.value.reason == "expired"
    clock.advance(seconds=1)
    assert subs.housekeeping() == {"purged": 1, "expired": 0}
    assert store.subscribers.counts()["pending"] == 0


async def test_reconfirmation_cycle(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server)
    await subs.subscribe("fidele@example.org", DigestFilters(), "fr")
    await subs.subscribe("oublie@example.org", DigestFilters(), "fr")
    for mail in smtp_server.sink.received:
        subs.confirm(link(mail.message.get_body(("plain",)).get_content(), "confirm"))  # type: ignore[union-attr]
    clock.advance(days=366)
    assert await subs.send_reconfirmations() == 2
    assert await subs.send_reconfirmations() == 0
    asks = {m.rcpt_tos[0]: m for m in smtp_server.sink.received[2:]}
    assert asks["fidele@example.org"].message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    subs.reconfirm(link(asks["fidele@example.org"].message.get_body(("plain",)).get_content(), "reconfirm"))  # type: ignore[union-attr]
    clock.advance(days=31)
    assert subs.housekeeping() == {"purged": 0, "expired": 1}
    assert store.subscribers.counts()["confirmed"] == 1 and store.subscribers.counts()["suppressed_expired"] == 1


async def test_operator_removes_an_address(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server)
    await subs.subscribe("a@example.org", DigestFilters(), "fr")
    assert subs.remove_address("A@EXAMPLE.org") is True
    assert subs.remove_address("never@example.org") is False
    assert store.subscribers.counts() == {"pending": 0, "confirmed": 0, "unsubscribed": 2, "suppressed_removed": 2}


def test_form_filters_are_checked_and_bounded() -> None:
    known = ["rebellyon", "paris-luttes"]
    f = filters_from_form(["rebellyon", "rebellyon", ""], ["Logement", " violences  policières "], ["FR", "fr-ca"],
                          known_sources=known)
    assert f == DigestFilters(sources=("rebellyon",), tags=("logement", "violences policières"), languages=("fr", "fr-ca"))
    for bad in (dict(sources=["inconnu"]), dict(languages=["français"]), dict(tags=["x" * 101]),
                dict(tags=[str(i) for i in range(101)])):
        with pytest.raises(DigestError):
            filters_from_form(bad.get("sources", []), bad.get("tags", []), bad.get("languages", []), known_sources=known)


async def test_mailing_list_mode_has_no_subscribers(store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    subs = flows(store, clock, smtp_server, DigestConfig(from_address="l@medias.example.org", list_address="l@lists.example.org"))
    with pytest.raises(DigestError):
        await subs.subscribe("a@example.org", DigestFilters(), "fr")
