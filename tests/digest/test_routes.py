"""The newsletter's pages over HTTP, built by the factory, mailing through a real SMTP server.

Subscribing through to the one-click unsubscribe, and every kind of bad input: a clear
answer, no mail, nothing stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from aggregator.digest.deliver import keyring_for
from aggregator.digest.routes import LIMITS, mask
from aggregator.digest.throttle import ClientLimits, Rate, client_key
from aggregator.factory import Aggregator
from aggregator.model import Config, DigestConfig, DigestFilters
from aggregator.store import Store
from tests.building import aggregator_for

from .conftest import SOURCES, SmtpServer, article, at, save, subscribe

BASE = "https://medias.example.org"
DIGEST = DigestConfig(from_address="Médias libres <lettre@medias.example.org>",
                      unsubscribe_address="desabonnement@medias.example.org")
CONFIG = Config(sources=tuple(SOURCES), digest=DIGEST)


@dataclass
class Site:
    agg: Aggregator
    client: TestClient
    store: Store
    smtp: SmtpServer

    def mails(self) -> list[Any]:
        return [r.message for r in self.smtp.sink.received]

    def counts(self) -> dict[str, int]:
        return self.store.subscribers.counts()


@asynccontextmanager
async def site(store: Store, smtp: SmtpServer | None, config: Config = CONFIG, *,
               base_url: str | None = BASE, limits: ClientLimits | None = None, **tuning: Any) -> AsyncIterator[Site]:
    """The app as ``serve`` builds it; ``limits`` replaces the flood limits (for tests that
    post more than a reader would)."""
    async with aggregator_for(store, config, base_url=base_url, smtp_url=smtp.url if smtp else None,
                              **tuning) as agg:
        app = agg.web_app(with_index=False)
        if limits is not None:
            app[LIMITS] = limits
        async with TestClient(TestServer(app)) as client:
            yield Site(agg, client, store, smtp)  # type: ignore[arg-type]


#: For tests that post more than a person would (the limits have their own tests).
GENEROUS = ClientLimits({"subscribe": Rate(100, 1.0), "buttons": Rate(100, 1.0)})


def token_in(text: str, purpose: str) -> str:
    match = re.search(rf"{re.escape(BASE)}/{purpose}/([A-Za-z0-9._-]+)", text)
    assert match, text
    return match.group(1)


def plain(message: Any) -> str:
    return message.get_body(("plain",)).get_content()


def html(message: Any) -> str:
    return message.get_body(("html",)).get_content()


def nothing_stored(s: Site) -> None:
    assert s.counts() == {"pending": 0, "confirmed": 0, "unsubscribed": 0}


async def test_subscribe_confirm_digest_and_one_click_unsubscribe(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    async with site(sqlite_store, smtp_server) as s:
        # the river and every page's footer point to the form
        for path in ("/", "/sources"):
            page = await (await s.client.get(path)).text()
            assert 'href="/subscribe"' in page
        form = await s.client.get("/subscribe")
        text = await form.text()
        assert form.status == 200 and '<form class="digest-form" method="post" action="/subscribe">' in text
        assert 'name="email"' in text and 'name="source" value="rebellyon"' in text and 'name="lang" value="en"' in text
        assert "La lettre du jour par mail" in text  # French by default
        assert form.headers["Cache-Control"] == "no-store"

        answer = await s.client.post("/subscribe", data=[("email", " Camille@Example.org "), ("source", "rebellyon"),
                                                          ("source", "crimethinc"), ("lang", "fr"), ("locale", "en")])
        assert answer.status == 200 and "Regardez votre boîte mail" in await answer.text()
        [confirmation] = s.mails()
        assert confirmation["To"] == "Camille@example.org"
        assert confirmation["List-Unsubscribe"] is None  # not a list mail yet
        token = token_in(plain(confirmation), "confirm")

        # a GET (a mail scanner following the link) confirms nothing, however often
        for _ in range(3):
            page = await s.client.get(f"/confirm/{token}")
            assert page.status == 200 and '<form method="post" data-autosubmit>' in await page.text()
        head = await s.client.head(f"/confirm/{token}")
        assert head.status == 200
        assert s.counts()["confirmed"] == 0 and s.counts()["pending"] == 1
        assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
        assert "/static/autosubmit.js" in await page.text()

        done = await s.client.post(f"/confirm/{token}")
        assert done.status == 200 and s.counts()["confirmed"] == 1
        assert "/preferences/" in await done.text()
        [row] = sqlite_store.subscribers.confirmed()
        assert row.filters.key() == (("crimethinc", "rebellyon"), (), ("fr",)) and row.locale == "en"

        # the next morning's digest
        clock.now = at("2026-11-21 09:00")
        save(sqlite_store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi",
                                                  "https://rebellyon.example/a1?utm_source=rss&id=4")])
        save(sqlite_store, "crimethinc", [article("c1", "A story in English", "https://crimethinc.example/c1")])
        clock.now = at("2026-11-22 06:00")
        news = s.agg.newsletter()
        assert (await news.send_due()).as_dict() == {"sent": 1, "failed": 0, "skipped": 0}
        digest = s.mails()[-1]
        assert digest.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in digest.iter_parts()] == ["text/plain", "text/html"]
        for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe",
                     "List-Unsubscribe-Post", "List-Archive"):
            assert digest[name], name
        assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = token_in(str(digest["List-Unsubscribe"]), "unsubscribe")
        assert " ".join(str(digest["List-Unsubscribe"]).split()) == (
            f"<{BASE}/unsubscribe/{unsubscribe}>, "
            f"<mailto:desabonnement@medias.example.org?subject=unsubscribe-{unsubscribe}>")
        for body in (plain(digest), html(digest)):
            assert "Grève générale à Lyon ce jeudi" in body
            assert "https://rebellyon.example/a1?id=4" in body and "utm_source" not in body  # the original, cleaned
            assert "A story in English" not in body  # filtered out by language
        assert "<img" not in html(digest)

        # one click from the mail provider: no cookie, no session, no CSRF token
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as provider:
            body = aiohttp.FormData()
            body.add_field("List-Unsubscribe", "One-Click")
            body._is_multipart = True  # RFC 8058's example posts multipart/form-data
            async with provider.post(s.client.make_url(f"/unsubscribe/{unsubscribe}"), data=body) as r:
                assert r.status == 200 and "Set-Cookie" not in r.headers
        assert s.counts() == {"pending": 0, "confirmed": 0, "unsubscribed": 1, "suppressed_unsubscribed": 1}
        # the same click again, or the page's GET, says so and changes nothing
        again = await s.client.post(f"/unsubscribe/{unsubscribe}", data="List-Unsubscribe=One-Click",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert again.status == 200 and (await s.client.get(f"/unsubscribe/{unsubscribe}")).status == 200

        # no further mail
        clock.now = at("2026-11-22 09:00")
        save(sqlite_store, "rebellyon", [article("r2", "Encore une nouvelle de Lyon aujourd'hui",
                                                  "https://rebellyon.example/a2")])
        sent_before = len(s.mails())
        clock.now = at("2026-11-23 06:00")
        assert (await news.send_due()).sent == 0 and len(s.mails()) == sent_before


async def test_unsubscribe_page_get_changes_nothing_and_its_button_works(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    async with site(sqlite_store, smtp_server) as s:
        sid, _ = await subscribed(s)
        links = s.agg.subscriptions().keyring.make("unsubscribe", sid, bind=sqlite_store.subscribers.get(sid).salt)  # type: ignore[union-attr]
        page = await s.client.get(f"/unsubscribe/{links}")
        text = await page.text()
        assert page.status == 200 and 'name="List-Unsubscribe" value="One-Click"' in text
        assert "autosubmit.js" not in text  # unsubscribing is never pressed for anyone
        assert s.counts()["confirmed"] == 1
        assert (await s.client.post(f"/unsubscribe/{links}", data={"List-Unsubscribe": "One-Click"})).status == 200
        assert s.counts()["confirmed"] == 0


async def subscribed(s: Site, address: str = "dominique@example.org") -> tuple[int, str]:
    """Subscribe and confirm through the pages; the subscriber id and its preferences token."""
    assert (await s.client.post("/subscribe", data={"email": address})).status == 200
    confirm = token_in(plain(s.mails()[-1]), "confirm")
    done = await s.client.post(f"/confirm/{confirm}")
    match = re.search(r'href="/preferences/([^"]+)"', await done.text())
    assert match
    [row] = [r for r in s.store.subscribers.confirmed() if r.address == address]
    return row.id, match.group(1)


async def test_preferences_show_a_masked_address_and_change_filters(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    async with site(sqlite_store, smtp_server, page_cache_seconds=60.0) as s:  # the micro-cache on, as in serve
        sid, prefs = await subscribed(s)
        page = await s.client.get(f"/preferences/{prefs}", headers={"Accept-Language": "en"})
        text = await page.text()
        assert page.status == 200 and "d•••e@example.org" in text and "dominique@example.org" not in text
        assert "Your daily digest" in text
        saved = await s.client.post(f"/preferences/{prefs}", data=[("tag", "lyon"), ("lang", "fr"), ("locale", "en")])
        assert saved.status == 200
        row = sqlite_store.subscribers.get(sid)
        assert row is not None and row.filters == DigestFilters(tags=("lyon",), languages=("fr",)) and row.locale == "en"
        again = await (await s.client.get(f"/preferences/{prefs}", headers={"Accept-Language": "en"})).text()
        assert 'value="lyon" checked' in again  # a page about one person is never served from the cache
        bad = await s.client.post(f"/preferences/{prefs}", data={"source": "nulle-part"})
        assert bad.status == 400 and sqlite_store.subscribers.get(sid).filters == row.filters  # type: ignore[union-attr]
        # the preferences token is not an unsubscribe token, nor a confirm token
        assert (await s.client.post(f"/unsubscribe/{prefs}")).status == 400
        assert (await s.client.post(f"/confirm/{prefs}")).status == 400
        assert s.counts()["confirmed"] == 1


@pytest.mark.parametrize(("email", "words"), [
    ("pas-une-adresse", "ne ressemble pas à une adresse mail"),
    ("a@b.c\r\nBcc: victime@example.org", "retour à la ligne"),
    ("a@b.c\nBcc: victime@example.org", "retour à la ligne"),
    ("camille@example.org\u200b", "caractère invisible"),
    ("x" * 250 + "@example.org", "trop longue"),
    ("", "Indiquez votre adresse mail"),
])
async def test_bad_addresses_get_a_clear_answer_no_mail_nothing_stored(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer, email: str, words: str
) -> None:
    async with site(sqlite_store, smtp_server) as s:
        answer = await s.client.post("/subscribe", data={"email": email})
        text = await answer.text()
        assert answer.status == 400 and words in text and 'role="alert"' in text
        assert smtp_server.sink.received == [] and smtp_server.sink.transactions == 0
        nothing_stored(s)


async def test_bad_forms_huge_bodies_and_foreign_origins(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server, limits=GENEROUS) as s:
        huge = await s.client.post("/subscribe", data={"email": "a@example.org", "tag": "x" * 100_000})
        assert huge.status == 413 and "trop grosse" in await huge.text()

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the app's own cap stops it
            yield b"email=a%40example.org&tag="
            for _ in range(200):
                yield b"y" * 1024

        chunked = await s.client.post("/subscribe", data=chunks(),
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert chunked.status == 413
        two = await s.client.post("/subscribe", data=[("email", "a@example.org"), ("email", "b@example.org")])
        assert two.status == 400 and "une seule adresse" in await two.text()
        unknown = await s.client.post("/subscribe", data={"email": "a@example.org", "source": "nulle-part"})
        assert unknown.status == 400
        many = await s.client.post("/subscribe", data=[("email", "a@example.org")] + [("tag", f"t{i}") for i in range(150)])
        assert many.status == 400
        json_body = await s.client.post("/subscribe", json={"email": "a@example.org"})
        assert json_body.status == 400
        foreign = await s.client.post("/subscribe", data={"email": "a@example.org"},
                                      headers={"Origin": "https://evil.example"})
        assert foreign.status == 403
        assert smtp_server.sink.received == []
        nothing_stored(s)
        same = await s.client.post("/subscribe", data={"email": "a@example.org"}, headers={"Origin": BASE})
        assert same.status == 200 and len(smtp_server.sink.received) == 1


async def test_forged_and_expired_links(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server, limits=GENEROUS) as s:
        assert (await s.client.post("/subscribe", data={"email": "a@example.org"})).status == 200
        token = token_in(plain(s.mails()[-1]), "confirm")
        subject, expiry, mac = token.split(".")
        forged = [f"{subject}.{expiry}.{'A' * 22}", f"{subject}.0.{mac}", f"{int(subject) + 1}.{expiry}.{mac}",
                  "not-a-token", "1.2", "x" * 5000, "%0d%0aSet-Cookie:x=y"]
        for bad in forged:
            for method in ("GET", "POST"):
                answer = await s.client.request(method, f"/confirm/{bad}")
                assert answer.status in (400, 404), (bad, method, answer.status)
                if answer.status == 400:
                    assert "pas valable" in await answer.text()
                    assert "Set-Cookie" not in answer.headers
        assert s.counts()["confirmed"] == 0
        clock.advance(days=3, minutes=1)
        expired = await s.client.post(f"/confirm/{token}")
        assert expired.status == 400 and "expiré" in await expired.text()
        assert s.counts()["confirmed"] == 0


async def test_flood_for_one_address_sends_one_mail(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server) as s:
        for _ in range(3):
            answer = await s.client.post("/subscribe", data={"email": "cible@example.org"})
            assert answer.status == 200  # the same answer every time: the form tells nothing
        assert len(s.mails()) == 1 and s.counts()["pending"] == 1


async def test_flood_from_one_client_is_limited(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server) as s:
        statuses = [(await s.client.post("/subscribe", data={"email": f"n{i}@example.org"})).status for i in range(7)]
        assert statuses == [200] * 5 + [429] * 2
        limited = await s.client.post("/subscribe", data={"email": "n9@example.org"})
        assert int(limited.headers["Retry-After"]) > 0 and "Trop de demandes" in await limited.text()
        assert len(s.mails()) == 5 and s.counts()["pending"] == 5
        # behind a reverse proxy on this machine, each reader is their own client
        proxied = await s.client.post("/subscribe", data={"email": "proxy@example.org"},
                                      headers={"X-Forwarded-For": "203.0.113.9"})
        assert proxied.status == 200


def test_client_keys_and_buckets() -> None:
    assert client_key("81.2.69.160", "198.51.100.1") == "81.2.69.160"  # a stranger's header is ignored
    assert client_key("127.0.0.1", "198.51.100.1, 203.0.113.7") == "203.0.113.7"  # our proxy's, the last one
    assert client_key("10.0.0.2", "garbage") == "10.0.0.2"
    assert client_key("2001:db8:1:2:3:4:5:6", None) == client_key("2001:db8:1:2:ffff::1", None) == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1", None) == "192.0.2.1"
    now = [0.0]
    limits = ClientLimits({"k": Rate(burst=2, every=10.0)}, overall={"k": Rate(burst=3, every=100.0)},
                          max_clients=2, clock=lambda: now[0])
    assert [limits.check("k", "a") for _ in range(3)] == [0.0, 0.0, 10.0]
    assert limits.check("k", "b") == 0.0 and limits.check("k", "c") > 0  # everyone's bucket ran out
    now[0] = 100.0
    assert limits.check("k", "a") == 0.0


async def test_archive_day_and_feeds(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server) as s:
        sqlite_store.sources.sync(SOURCES)
        clock.now = at("2026-11-21 09:00")
        save(sqlite_store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/a1")])
        save(sqlite_store, "paris-luttes", [article("p1", "Grève générale à Lyon ce jeudi !", "https://paris-luttes.example/p1")])
        save(sqlite_store, "crimethinc", [article("c1", "Loi « sécurité » & police <3", "https://crimethinc.example/c1")])
        clock.now = at("2026-11-22 06:00")
        s.agg.newsletter().cut(clock())
        archive = await s.client.get("/digest")
        text = await archive.text()
        assert archive.status == 200 and 'href="/digest/2026-11-22"' in text and "2 articles" in text
        day = await s.client.get("/digest/2026-11-22", headers={"Accept-Language": "en"})
        text = await day.text()
        assert day.status == 200 and "Digest of Sunday, November 22, 2026" in text
        assert 'href="https://rebellyon.example/a1"' in text and "Also published by:" in text
        assert "Loi « sécurité » &amp; police &lt;3" in text
        for missing in ("/digest/2026-11-23", "/digest/2026-13-45", "/digest/hier", "/digest?before=x"):
            assert (await s.client.get(missing)).status == 404, missing
        atom = await s.client.get("/digest.atom")
        assert atom.status == 200 and atom.content_type == "application/atom+xml"
        feed = ET.fromstring(await atom.read())
        ns = {"a": "http://www.w3.org/2005/Atom"}
        [entry] = feed.findall("a:entry", ns)
        assert entry.findtext("a:id", namespaces=ns) == f"{BASE}/digest/2026-11-22"
        assert "https://rebellyon.example/a1" in (entry.findtext("a:content", namespaces=ns) or "")
        doc = json.loads(await (await s.client.get("/digest.json")).text())
        [item] = doc["items"]
        assert item["url"] == f"{BASE}/digest/2026-11-22" and item["_aggregator"]["stories"] == 2
        assert {i["title"] for g in item["_aggregator"]["groups"] for i in g["items"]} == {
            "Grève générale à Lyon ce jeudi", "Loi « sécurité » & police <3"}


async def test_list_mode_and_closed_subscriptions(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    listed = replace(CONFIG, digest=replace(DIGEST, list_address="medias-du-jour@lists.example.org"))
    async with site(sqlite_store, smtp_server, listed) as s:
        text = await (await s.client.get("/subscribe")).text()
        assert "medias-du-jour@lists.example.org" in text and 'name="email"' not in text
        answer = await s.client.post("/subscribe", data={"email": "a@example.org"})
        assert answer.status == 400 and smtp_server.sink.received == []
        nothing_stored(s)
    async with site(sqlite_store, None) as s:  # no SMTP server in this process
        text = await (await s.client.get("/subscribe")).text()
        assert "pas ouverts" in text and 'name="email"' not in text
        assert (await s.client.post("/subscribe", data={"email": "a@example.org"})).status == 503
        assert (await s.client.get("/digest")).status == 200  # the archive does not need mail
        nothing_stored(s)
        # ...nor do the links of mails sent by another process: one click still unsubscribes
        sid = subscribe(sqlite_store, "camille@example.org")
        row = sqlite_store.subscribers.get(sid)
        assert row is not None
        token = keyring_for(sqlite_store).make("unsubscribe", sid, bind=row.salt)
        assert (await s.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})).status == 200
        assert s.counts()["confirmed"] == 0


async def test_without_a_digest_section_there_are_no_pages(sqlite_store: Store, clock: Any) -> None:
    async with site(sqlite_store, None, Config(sources=tuple(SOURCES))) as s:
        assert (await s.client.get("/subscribe")).status == 404
        assert 'href="/subscribe"' not in await (await s.client.get("/")).text()


def test_mask() -> None:
    assert mask("dominique@example.org") == "d•••e@example.org"
    assert mask("ab@example.org") == "a•••@example.org"


async def test_smtp_trouble_with_the_confirmation_mail(sqlite_store: Store, clock: Any, smtp_server: SmtpServer) -> None:
    async with site(sqlite_store, smtp_server) as s:
        smtp_server.sink.rcpt_script["camille@example.org"] = ["451 4.3.0 try again later"]
        answer = await s.client.post("/subscribe", data={"email": "camille@example.org"})
        assert answer.status == 503 and "Réessayez dans quelques minutes" in await answer.text()
        assert s.mails() == []
        again = await s.client.post("/subscribe", data={"email": "camille@example.org"})  # the server is back
        assert again.status == 200 and len(s.mails()) == 1 and s.counts()["pending"] == 1
        smtp_server.sink.rcpt_script["personne@example.org"] = ["550 5.1.1 no such user"]
        refused = await s.client.post("/subscribe", data={"email": "personne@example.org"})
        assert refused.status == 400 and "n’existe pas" in await refused.text() and len(s.mails()) == 1
        assert s.counts()["pending"] == 1  # the refused address is not kept


async def test_archive_feeds_without_a_base_url_never_use_the_requests_host(
    sqlite_store: Store, clock: Any, smtp_server: SmtpServer
) -> None:
    """A forged ``Host`` must not reach the feeds (a proxy may cache them for an hour):
    without ``AGGREGATOR_BASE_URL`` links are relative and ids ``urn:uuid:``, as the
    readers' feeds do."""
    async with site(sqlite_store, smtp_server) as s:  # a process that mails cuts the day
        sqlite_store.sources.sync(SOURCES)
        clock.now = at("2026-11-21 09:00")
        save(sqlite_store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/a1")])
        clock.now = at("2026-11-22 06:00")
        s.agg.newsletter().cut(clock())
    async with site(sqlite_store, None, base_url=None) as s:
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
        atom = await s.client.get("/digest.atom", headers=forged)
        body = await atom.read()
        assert atom.status == 200 and b"evil.example" not in body
        feed = ET.fromstring(body)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        [entry] = feed.findall("a:entry", ns)
        assert (entry.findtext("a:id", namespaces=ns) or "").startswith("urn:uuid:")
        assert entry.find("a:link", ns).get("href") == "/digest/2026-11-22"  # type: ignore[union-attr]
        json_feed = await s.client.get("/digest.json", headers=forged)
        doc = json.loads(await json_feed.text())
        assert b"evil.example" not in await json_feed.read()
        assert "feed_url" not in doc and "home_page_url" not in doc
        [item] = doc["items"]
        assert item["id"].startswith("urn:uuid:") and "url" not in item
