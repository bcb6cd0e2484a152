"""The newsletter's mails as ``email.message.EmailMessage`` objects.

Every mail is ``multipart/alternative``: a plain-text part and an HTML part, both from
Jinja2 templates in ``web/templates/mail/`` and translated with the ``mail`` gettext
domain of ``web/translations`` (French by default, English available), loaded the way the
web front end loads its own (``aggregator/templating.py``).

The HTML has inline styles only, one column at most 600 px wide, no image at all (so no
remote image and no tracking pixel), and no colour but neutral borders, so dark modes
adapt it. Every link is either the original article's (cleaned of tracking parameters by
compose) or ours, under the public base URL: no redirect.

Headers: From, To, Subject (date and count), Date, a stable Message-ID, List-Id,
List-Archive, List-Unsubscribe (https, plus mailto when a mailbox is configured),
List-Unsubscribe-Post (RFC 8058 one-click), ``Auto-Submitted: auto-generated`` and
``Precedence: list`` (no vacation auto-replies). Both parts are quoted-printable, so the
bytes are 7-bit and pass any relay.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

from ..model import DigestConfig
from ..templating import DEFAULT_LOCALE, LOCALES, load_translations, make_environment, web_root
from .compose import Digest
from .links import SubscriberLinks, archive_url, digest_url, host_of, normalize_base_url

#: The gettext domain of the mails (``web/translations/*/LC_MESSAGES/mail.po``), kept apart
#: from the pages' ``messages`` so the two catalogues evolve without stepping on each other.
DOMAIN = "mail"


def N_(message: str) -> str:
    """Marks a message for extraction (``pybabel extract -k N_``) without translating it."""
    return message


SITE_NAME = N_("Independent media")
CONFIRM_SUBJECT = N_("Confirm your subscription")
RECONFIRM_SUBJECT = N_("Do you still want the daily digest?")


@dataclass(frozen=True)
class MailSettings:
    """What every mail needs to know about the sender."""

    from_address: str  # "Name <addr>" or "addr"
    base_url: str
    timezone: str = "Europe/Paris"
    unsubscribe_address: str | None = None
    list_address: str | None = None

    @classmethod
    def from_config(cls, config: DigestConfig, base_url: str) -> MailSettings:
        return cls(
            from_address=config.from_address,
            base_url=normalize_base_url(base_url),
            timezone=config.timezone,
            unsubscribe_address=config.unsubscribe_address,
            list_address=config.list_address,
        )

    @property
    def host(self) -> str:
        return host_of(self.base_url)

    @property
    def envelope_sender(self) -> str:
        """The bare address of ``from_address`` (SMTP ``MAIL FROM``)."""
        return parseaddr(self.from_address)[1]

    @property
    def list_id(self) -> str:
        name = parseaddr(self.from_address)[0]
        ident = f"<digest.{self.host}>"
        return f'"{name}" {ident}' if name and '"' not in name else ident


def locale_of(value: str | None) -> str:
    return value if value in LOCALES else DEFAULT_LOCALE


class MailRenderer:
    """Templates and catalogues, loaded once; renders any number of mails."""

    def __init__(self, settings: MailSettings, *, root: Path | None = None):
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        root = root or web_root()
        translations = load_translations(root / "translations", DOMAIN)
        self.envs = {}
        for locale in LOCALES:
            env = make_environment(root / "templates", translations[locale], locale=locale)
            env.filters["clock"] = self._clock_filter(locale)
            self.envs[locale] = env
        self.translations = translations
        self._head: bytes | None = None

    def _clock_filter(self, locale: str) -> Any:
        zone = self.zone

        @lru_cache(maxsize=8192)
        def clock(value: datetime) -> str:
            # Babel is slow per call and a digest repeats the same few hundred times.
            return format_time(value.astimezone(zone), "short", locale=locale)

        return clock

    def gettext(self, locale: str, message: str) -> str:
        return self.translations[locale_of(locale)].gettext(message)

    def site_name(self, locale: str) -> str:
        return self.gettext(locale, SITE_NAME)

    def date_label(self, day: date, locale: str) -> str:
        return format_date(day, "full", locale=locale_of(locale))

    def _render(self, locale: str, name: str, context: Mapping[str, Any]) -> str:
        return self.envs[locale_of(locale)].get_template(name).render(context)

    # -- the digest ------------------------------------------------------------------------

    def subject(self, digest: Digest, locale: str) -> str:
        locale = locale_of(locale)
        template = self.translations[locale].ngettext(
            "%(site)s, %(date)s: %(num)d article", "%(site)s, %(date)s: %(num)d articles", digest.count
        )
        return template % {"site": self.site_name(locale), "date": self.date_label(digest.day, locale), "num": digest.count}

    def digest_bodies(self, digest: Digest, *, locale: str, links: SubscriberLinks | None) -> tuple[str, str]:
        """The (plain text, HTML) of a digest; ``links`` None is the mailing-list variant."""
        locale = locale_of(locale)
        context = {
            "digest": digest,
            "subject": self.subject(digest, locale),
            "site_name": self.site_name(locale),
            "date_label": self.date_label(digest.day, locale),
            "web_url": digest_url(self.settings.base_url, digest.day),
            "links": links,
            "list_address": self.settings.list_address or "",
        }
        return self._render(locale, "mail/digest.txt", context), self._render(locale, "mail/digest.html", context)

    def digest_message(
        self,
        digest: Digest,
        *,
        to: str,
        locale: str,
        message_id: str,
        date: datetime,
        links: SubscriberLinks,
        bodies: tuple[str, str] | None = None,
    ) -> EmailMessage:
        """One subscriber's digest; ``bodies`` lets the caller reuse a cached rendering."""
        text, html = bodies or self.digest_bodies(digest, locale=locale, links=links)
        msg = self._message(to=to, subject=self.subject(digest, locale), message_id=message_id, date=date)
        msg["List-Unsubscribe"] = links.list_unsubscribe
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return _with_parts(msg, text, html)

    def digest_bytes(
        self,
        digest: Digest,
        *,
        to: str,
        locale: str,
        message_id: str,
        date: datetime,
        links: SubscriberLinks,
        bodies: tuple[str, str],
    ) -> bytes:
        """The same mail as :meth:`digest_message`, straight to wire bytes (CRLF, 7-bit).

        The delivery loop's fast path (``prepare_digest`` once per filters and language,
        then ``digest_wire`` per subscriber); a test checks that both paths parse to the
        same message.
        """
        return self.digest_wire(self.prepare_digest(digest, locale=locale, bodies=bodies), to=to,
                                message_id=message_id, date=date, links=links)

    def prepare_digest(self, digest: Digest, *, locale: str, bodies: tuple[str, str],
                       markers: tuple[str, ...] = ()) -> PreparedDigest:
        """What every subscriber with these filters and this language shares, encoded once:
        the Subject header and both bodies, quoted-printable, except the lines holding
        one of ``markers`` (the per-subscriber tokens), encoded per mail by ``digest_wire``.

        The ``email`` package's encoders are pure Python and took most of the time of a
        10,000-subscriber run; ``binascii`` does the same quoted-printable in C, and
        encoding a 200 kB body once instead of once per subscriber does the rest.
        """
        return PreparedDigest(_folded({"Subject": self.subject(digest, locale)}), PreparedBody.prepare(bodies[0], markers), PreparedBody.prepare(bodies[1], markers))

    def digest_wire(self, prepared: PreparedDigest, *, to: str, message_id: str, date: datetime,
                    links: SubscriberLinks, replacements: Mapping[str, str] | None = None) -> bytes:
        """One subscriber's digest as wire bytes; ``replacements`` fills the marked lines.

        The per-subscriber headers are ASCII by construction (a validated address in its
        IDNA form, our Message-ID, our URLs and URL-safe tokens) and are written directly;
        the shared ones were folded once by the ``email`` package.
        """
        boundary = "=_digest_" + hashlib.sha256(message_id.encode()).hexdigest()[:24]
        unsubscribe = f"<{links.unsubscribe_url}>"
        if links.unsubscribe_mailto:
            unsubscribe += f",\r\n <{links.unsubscribe_mailto}>"
        head = (
            self._shared_head() + f"To: {to}\r\n".encode() + prepared.subject
            + f"Date: {format_datetime(date.astimezone(self.zone))}\r\nMessage-ID: {message_id}\r\n"
              f"List-Unsubscribe: {unsubscribe}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
              f"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n".encode()
        )
        return _multipart(head, boundary, prepared.text.encode(replacements), prepared.html.encode(replacements))

    def _shared_head(self) -> bytes:
        """From, List-Id, List-Archive and the auto-reply headers: the same in every digest."""
        if self._head is None:
            self._head = _folded({
                "From": self.settings.from_address, "List-Id": self.settings.list_id,
                "List-Archive": f"<{archive_url(self.settings.base_url)}>", "Auto-Submitted": "auto-generated",
                "Precedence": "list", "X-Auto-Response-Suppress": "OOF, AutoReply",
            })
        return self._head

    def list_message(self, digest: Digest, *, message_id: str, date: datetime, locale: str = DEFAULT_LOCALE) -> EmailMessage:
        """The mailing-list mode: one mail to the list address; the list software adds its
        own List-* headers and handles unsubscribing, so none of ours are per-person."""
        if not self.settings.list_address:
            raise ValueError("no list_address configured")
        text, html = self.digest_bodies(digest, locale=locale, links=None)
        msg = self._message(to=self.settings.list_address, subject=self.subject(digest, locale),
                            message_id=message_id, date=date, list_headers=False)
        return _with_parts(msg, text, html)

    # -- subscribing -----------------------------------------------------------------------

    def confirmation(
        self, *, to: str, locale: str, confirm_url: str, message_id: str, date: datetime, expires: datetime
    ) -> EmailMessage:
        """Double opt-in: the link opens a page whose POST button confirms."""
        locale = locale_of(locale)
        context = {
            "subject": self.gettext(locale, CONFIRM_SUBJECT),
            "site_name": self.site_name(locale),
            "confirm_url": confirm_url,
            "expires_label": self._moment(expires, locale),
        }
        msg = self._message(to=to, subject=f"{context['subject']} · {context['site_name']}", message_id=message_id,
                            date=date, list_headers=False)
        return _with_parts(msg, self._render(locale, "mail/confirm.txt", context),
                           self._render(locale, "mail/confirm.html", context))

    def reconfirmation(
        self,
        *,
        to: str,
        locale: str,
        confirm_url: str,
        links: SubscriberLinks,
        message_id: str,
        date: datetime,
        since: datetime,
        deadline: datetime,
    ) -> EmailMessage:
        """The periodic "do you still want it?" that replaces activity tracking."""
        locale = locale_of(locale)
        context = {
            "subject": self.gettext(locale, RECONFIRM_SUBJECT),
            "site_name": self.site_name(locale),
            "confirm_url": confirm_url,
            "links": links,
            "since_label": format_date(since.astimezone(self.zone).date(), "long", locale=locale),
            "deadline_label": format_date(deadline.astimezone(self.zone).date(), "long", locale=locale),
        }
        msg = self._message(to=to, subject=f"{context['subject']} · {context['site_name']}", message_id=message_id, date=date)
        msg["List-Unsubscribe"] = links.list_unsubscribe
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return _with_parts(msg, self._render(locale, "mail/reconfirm.txt", context),
                           self._render(locale, "mail/reconfirm.html", context))

    # -- plumbing ---------------------------------------------------------------------------

    def _moment(self, value: datetime, locale: str) -> str:
        local = value.astimezone(self.zone)
        return f"{format_date(local.date(), 'long', locale=locale)} {format_time(local, 'short', locale=locale)}"

    def _message(self, *, to: str, subject: str, message_id: str, date: datetime, list_headers: bool = True) -> EmailMessage:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = self.settings.from_address
        msg["To"] = str(HeaderAddress(addr_spec=to))
        msg["Subject"] = subject
        msg["Date"] = format_datetime(date.astimezone(self.zone))
        msg["Message-ID"] = message_id
        if list_headers:
            msg["List-Id"] = self.settings.list_id
            msg["List-Archive"] = f"<{archive_url(self.settings.base_url)}>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["Precedence"] = "list"
        msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"
        return msg


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)


def _qp_lines(lines: Sequence[str]) -> bytes:
    """Quoted-printable of whole lines, without the last line break. QP encodes each line
    on its own, so encodings of consecutive groups joined by CRLF equal the encoding of
    the whole (a test holds it); the line break added here keeps ``binascii`` in CRLF
    mode for its soft breaks, which it otherwise guesses from the first line break."""
    return _qp("\n".join(lines) + "\n")[:-2]


@dataclass(frozen=True)
class PreparedBody:
    """A body encoded once for everyone who shares it: encoded chunks (bytes), and the
    lines holding a marker (str) that each mail fills in and encodes."""

    chunks: tuple[bytes | str, ...]

    @classmethod
    def prepare(cls, text: str, markers: Sequence[str]) -> PreparedBody:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        chunks: list[bytes | str] = []
        static: list[str] = []
        for line in lines:
            if markers and any(m in line for m in markers):
                if static:
                    chunks.append(_qp_lines(static))
                    static = []
                chunks.append(line)
            else:
                static.append(line)
        if static:
            chunks.append(_qp_lines(static))
        return cls(tuple(chunks))

    def encode(self, replacements: Mapping[str, str] | None = None) -> bytes:
        out = []
        for chunk in self.chunks:
            if isinstance(chunk, str):
                for marker, value in (replacements or {}).items():
                    chunk = chunk.replace(marker, value)
                out.append(_qp_lines([chunk]))
            else:
                out.append(chunk)
        return b"\r\n".join(out)


@dataclass(frozen=True)
class PreparedDigest:
    """What ``MailRenderer.prepare_digest`` makes once per filters and language."""

    subject: bytes  # the folded Subject header line(s)
    text: PreparedBody
    html: PreparedBody


def _folded(headers: Mapping[str, str]) -> bytes:
    """Header lines as the ``email`` package folds and encodes them (RFC 2047 words)."""
    msg = EmailMessage(policy=SMTP)
    for name, value in headers.items():
        msg[name] = value
    return b"".join(SMTP.fold_binary(name, value) for name, value in msg.items())


def _multipart(head: bytes, boundary: str, text: bytes, html: bytes) -> bytes:
    """Headers plus a ``multipart/alternative`` body of two quoted-printable parts.

    The boundary starts with ``=_``, which never occurs in quoted-printable text (``=``
    is always encoded there), so it cannot collide with the content.
    """
    b = boundary.encode()
    return b"".join((
        head, b"\r\n",
        b"--", b, b'\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
        text, b"\r\n",
        b"--", b, b'\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
        html, b"\r\n",
        b"--", b, b"--\r\n",
    ))


def _with_parts(msg: EmailMessage, text: str, html: str) -> EmailMessage:
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
