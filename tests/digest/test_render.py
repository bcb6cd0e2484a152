"""The mails, parsed back from their bytes with the ``email`` package."""

from __future__ import annotations

import email
import re
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.digest.compose import Story, compose
from aggregator.digest.links import confirm_link, reconfirm_link, subscriber_links
from aggregator.digest.render import MailRenderer, MailSettings, PreparedBody, _qp
from aggregator.digest.tokens import Keyring, new_secret
from aggregator.model import StoredEntry

from .conftest import SOURCES

BASE = "https://medias.example.org"
NOW = datetime(2026, 11, 20, 6, 0, 5, tzinfo=UTC)
SETTINGS = MailSettings(from_address="Médias libres <lettre@medias.example.org>", base_url=BASE,
                        unsubscribe_address="desabonnement@medias.example.org")


def stored(i: int, source: str, title: str, url: str, *, story: int | None = None, summary: str = "<p>Résumé.</p>",
           tags: tuple[str, ...] = ()) -> StoredEntry:
    when = datetime(2026, 11, 19, 9, i, tzinfo=UTC)
    return StoredEntry(id=i, source=source, guid=str(i), url=url, title=title, author=None, published=when,
                       updated=None, first_seen=when, language="fr", summary=summary, content="", text="", tags=tags,
                       image=None, kind="article", native_uri=None, native_cid=None, story_id=story or i)


ORIGINALS = {
    "https://rebellyon.example/spip.php?article42",
    "https://paris-luttes.example/greve-1234",
    "https://reporterre.example/ecologie?id=9",
}


def digest() -> object:
    stories = [
        Story(stored(1, "rebellyon", "Grève à Lyon : <script>alert(1)</script> & \"suite\"",
                     "https://rebellyon.example/spip.php?article42&utm_source=newsletter",
                     summary='<p>Un résumé <img src="https://tracker.example/p.gif"> avec <a href="https://x.example">un lien</a>.</p>'),
              (stored(2, "paris-luttes", "Grève à Lyon", "https://paris-luttes.example/greve-1234?fbclid=zz", story=1),)),
        Story(stored(3, "reporterre", "Écologie\r\nBcc: victim@example.org", "https://reporterre.example/ecologie?id=9#xtor=RSS-1")),
    ]
    return compose(stories, day=date(2026, 11, 20), window_start=NOW - timedelta(days=1), window_end=NOW,
                   sources={s.slug: s for s in SOURCES})


@pytest.fixture(scope="module")
def renderer() -> MailRenderer:
    return MailRenderer(SETTINGS)


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return Keyring(new_secret())


def parse(msg: EmailMessage) -> EmailMessage:
    raw = msg.as_bytes(policy=policy.SMTP)
    assert all(b < 128 for b in raw), "7-bit on the wire"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def header(msg: EmailMessage, name: str) -> str:
    """A header's value unfolded (long ones are folded on the wire)."""
    return " ".join(str(msg[name]).split())


def parts(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in msg.iter_parts()]
    assert types == ["text/plain", "text/html"]  # plain first: clients show the last they can
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def links_and_resources(html: str) -> tuple[set[str], list[str]]:
    doc = lxml.html.fromstring(html)
    hrefs = {a.get("href") for a in doc.iter("a")}
    fetched = [el.get("src") or el.get("href") or "" for el in doc.iter("img", "script", "link", "iframe", "object",
                                                                            "embed", "video", "audio", "source")]
    fetched += re.findall(r"url\(", html)
    return hrefs, fetched


def test_digest_mail_headers_and_parts(renderer: MailRenderer, keyring: Keyring) -> None:
    links = subscriber_links(BASE, keyring, 17, "salt", unsubscribe_address=SETTINGS.unsubscribe_address)
    mid = keyring.message_id("s17.salt", "2026-11-20", "medias.example.org")
    msg = parse(renderer.digest_message(digest(), to="camille@example.org", locale="fr", message_id=mid, date=NOW,  # type: ignore[arg-type]
                                        links=links))
    assert msg["From"].addresses[0].display_name == "Médias libres"
    assert msg["From"].addresses[0].addr_spec == "lettre@medias.example.org"
    assert msg["To"] == "camille@example.org"
    assert header(msg, "Subject") == "Médias indépendants, vendredi 20 novembre 2026 : 2 articles"
    assert parsedate_to_datetime(msg["Date"]) == NOW.replace(microsecond=0)
    assert msg["Message-ID"] == mid
    assert msg["List-Id"] == '"Médias libres" <digest.medias.example.org>'
    assert msg["List-Archive"] == f"<{BASE}/digest>"
    unsubscribe = links.unsubscribe_url.rsplit("/", 1)[1]
    assert header(msg, "List-Unsubscribe") == (
        f"<{BASE}/unsubscribe/{unsubscribe}>, <mailto:desabonnement@medias.example.org?subject=unsubscribe-{unsubscribe}>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["Precedence"] == "list"
    assert msg.get_all("Bcc") is None and msg.get_all("Cc") is None  # the CRLF in a title went nowhere
    plain, html = parts(msg)
    for text in (plain, html):
        assert "Rebellyon" in text and "Reporterre" in text and "Aussi publié par" in text
        assert "Paris-luttes.info" in text  # also published by
        assert "utm_source" not in text and "fbclid" not in text and "xtor" not in text
        assert links.preferences_url in text and links.unsubscribe_url in text
        assert f"{BASE}/digest/2026-11-20" in text
    assert "https://rebellyon.example/spip.php?article42" in plain
    assert "<script>" not in html and "&lt;script&gt;" not in html  # markup in titles is dropped, not shown
    assert "Écologie Bcc: victim@example.org" in plain  # the line break became a space


def test_html_fetches_nothing_and_links_only_to_originals_and_us(renderer: MailRenderer, keyring: Keyring) -> None:
    links = subscriber_links(BASE, keyring, 17, "salt")
    text, html = renderer.digest_bodies(digest(), locale="fr", links=links)  # type: ignore[arg-type]
    hrefs, fetched = links_and_resources(html)
    assert fetched == []  # no image, pixel, script, stylesheet or font
    assert "tracker.example" not in html and "x.example" not in html  # summaries are plain text
    ours = {h for h in hrefs if h.startswith(BASE + "/")}
    assert hrefs - ours == ORIGINALS  # the articles and the also-published copies, cleaned
    assert ours == {f"{BASE}/digest/2026-11-20", links.preferences_url, links.unsubscribe_url}
    assert "<style" not in html and "class=" not in html  # inline styles only
    assert 'name="viewport"' in html and "max-width:600px" in html and 'name="color-scheme"' in html
    doc = lxml.html.fromstring(html)
    assert doc.get("lang") == "fr" and doc.find(".//h1") is not None
    urls_in_text = set(re.findall(r"https?://\S+", text))
    assert urls_in_text == ORIGINALS - {"https://paris-luttes.example/greve-1234"} | ours


def test_english_mail(renderer: MailRenderer, keyring: Keyring) -> None:
    links = subscriber_links(BASE, keyring, 3, "salt")
    msg = parse(renderer.digest_message(digest(), to="sam@example.org", locale="en", message_id="<m@x>", date=NOW,  # type: ignore[arg-type]
                                        links=links))
    assert header(msg, "Subject") == "Independent media, Friday, November 20, 2026: 2 articles"
    plain, html = parts(msg)
    assert "Also published by:" in plain and "Unsubscribe" in html and 'lang="en"' in html
    assert header(msg, "List-Unsubscribe") == f"<{links.unsubscribe_url}>"  # no mailbox given: https only


def test_mailing_list_variant(keyring: Keyring) -> None:
    renderer = MailRenderer(MailSettings(from_address="lettre@medias.example.org", base_url=BASE,
                                         list_address="medias-du-jour@lists.example.org"))
    msg = parse(renderer.list_message(digest(), message_id="<list.2026-11-20@medias.example.org>", date=NOW))  # type: ignore[arg-type]
    assert msg["To"] == "medias-du-jour@lists.example.org"
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert msg[header] is None  # the list software's business
    plain, html = parts(msg)
    assert "medias-du-jour@lists.example.org" in plain and "/unsubscribe/" not in html and "/preferences/" not in html


def test_confirmation_mail(renderer: MailRenderer, keyring: Keyring) -> None:
    url = confirm_link(BASE, keyring, 5, "salt", expires=NOW + timedelta(days=3))
    msg = parse(renderer.confirmation(to="camille@example.org", locale="fr", confirm_url=url, message_id="<c@x>",
                                      date=NOW, expires=NOW + timedelta(days=3)))
    assert msg["Subject"].startswith("Confirmez votre abonnement")
    assert msg["List-Unsubscribe"] is None and msg["Auto-Submitted"] == "auto-generated"
    plain, html = parts(msg)
    assert url in plain and url in html and "23 novembre 2026" in plain
    hrefs, fetched = links_and_resources(html)
    assert hrefs == {url} and fetched == []


def test_reconfirmation_mail(renderer: MailRenderer, keyring: Keyring) -> None:
    links = subscriber_links(BASE, keyring, 5, "salt")
    url = reconfirm_link(BASE, keyring, 5, "salt", expires=NOW + timedelta(days=30))
    msg = parse(renderer.reconfirmation(to="camille@example.org", locale="en", confirm_url=url, links=links,
                                        message_id="<r@x>", date=NOW, since=NOW - timedelta(days=365),
                                        deadline=NOW + timedelta(days=30)))
    assert msg["Subject"].startswith("Do you still want the daily digest?")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain, html = parts(msg)
    assert url in plain and "November 20, 2025" in plain and "December 20, 2026" in plain
    hrefs, _ = links_and_resources(html)
    assert hrefs == {url, links.preferences_url, links.unsubscribe_url}


def test_fast_path_bytes_equal_the_email_package_message(renderer: MailRenderer, keyring: Keyring) -> None:
    links = subscriber_links(BASE, keyring, 17, "salt", unsubscribe_address=SETTINGS.unsubscribe_address)
    d = digest()
    bodies = renderer.digest_bodies(d, locale="fr", links=links)  # type: ignore[arg-type]
    kwargs = dict(to="camille@example.org", locale="fr", message_id="<m@medias.example.org>", date=NOW, links=links)
    slow = parse(renderer.digest_message(d, **kwargs))  # type: ignore[arg-type]
    raw = renderer.digest_bytes(d, bodies=bodies, **kwargs)  # type: ignore[arg-type]
    assert all(b < 128 for b in raw) and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    fast = email.message_from_bytes(raw, policy=policy.default)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Archive", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "Auto-Submitted", "Precedence", "MIME-Version"):
        assert header(fast, name) == header(slow, name), name  # type: ignore[arg-type]
    assert parts(fast) == parts(slow)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab é=.\t -<>\"x\r\n€", max_size=180), min_size=1, max_size=8),
       st.sets(st.integers(min_value=0, max_value=7)), st.text(alphabet="AZaz09._-", min_size=1, max_size=40))
def test_a_body_encoded_once_then_filled_equals_the_body_encoded_whole(
    lines: list[str], marked: set[int], token: str
) -> None:
    """The fast path encodes the shared lines once and the token lines per mail: the bytes
    must be exactly those of encoding each subscriber's whole body."""
    text = "\n".join(line + (" MARK-U " if i in marked else "") for i, line in enumerate(lines)) + "\n"
    prepared = PreparedBody.prepare(text, ("MARK-U",))
    assert prepared.encode({"MARK-U": token}) == _qp(text.replace("MARK-U", token))
