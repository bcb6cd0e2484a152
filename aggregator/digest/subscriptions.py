"""Subscribing, confirming, unsubscribing and changing filters: what the web routes call.

The synchronous methods touch the database: call them through ``asyncio.to_thread`` from
a request handler, as the web front end does for its reads.

Double opt-in: the form records a ``pending`` address and mails a confirmation link; the
link opens a page whose POST button confirms (``confirm``); a plain GET must never call
``confirm`` or ``unsubscribe`` (mail scanners follow links). Unconfirmed addresses are
forgotten after ``UNCONFIRMED_TTL``. A confirmation is mailed at most once per
``CONFIRM_INTERVAL`` per address, so a flood of requests for one address sends one mail.
Throttling per client (IP) is the pages' job (``throttle``, used by ``routes``).

Every outcome a stranger can trigger looks the same from the form (``subscribe`` returns a
status for logs and tests, not for the page): the form must not tell whether an address
is subscribed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from .. import logs
from ..errors import DigestError, MailError, TokenError
from ..model import Clock, DigestConfig, DigestFilters, utcnow
from ..store import Store
from ..store.subscribers import Subscriber
from ..templating import LOCALES
from .addresses import parse_address
from .deliver import MailTransport, keyring_for
from .links import confirm_link, reconfirm_link, subscriber_links
from .render import MailRenderer, MailSettings, locale_of
from .tokens import Keyring, Purpose

log = logs.get("aggregator.digest")

#: A confirmation link works this long; unconfirmed addresses are forgotten after it.
CONFIRM_TTL = timedelta(days=3)
UNCONFIRMED_TTL = CONFIRM_TTL
#: A second request for the same pending address within this time sends no mail.
CONFIRM_INTERVAL = timedelta(hours=1)
#: Confirmed subscribers are asked again after this long without a proof of interest...
RECONFIRM_EVERY = timedelta(days=365)
#: ...and deleted when they do not answer within this.
RECONFIRM_GRACE = timedelta(days=30)
#: Bounds on the form's repeated fields (hostile input: a huge form must stay cheap).
MAX_CHOICES = 100
MAX_CHOICE_LENGTH = 100
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")

Status = Literal["confirmation_sent", "throttled", "already_confirmed"]


@dataclass(frozen=True)
class SubscribeOutcome:
    status: Status
    subscriber_id: int


def filters_from_form(
    sources: Iterable[str], tags: Iterable[str], languages: Iterable[str], *, known_sources: Iterable[str]
) -> DigestFilters:
    """The form's repeated ``source``, ``tag`` and ``lang`` fields, checked and bounded.

    Raises:
        DigestError: an unknown source, a malformed language, too many or too long values.
    """
    known = set(known_sources)

    def bounded(values: Iterable[str], what: str) -> list[str]:
        out: list[str] = []
        for raw in values:
            value = " ".join(str(raw).split())
            if not value:
                continue
            if len(value) > MAX_CHOICE_LENGTH:
                raise DigestError(f"a {what} is longer than {MAX_CHOICE_LENGTH} characters")
            if value not in out:
                out.append(value)
            if len(out) > MAX_CHOICES:
                raise DigestError(f"more than {MAX_CHOICES} {what}s")
        return out

    slugs = bounded(sources, "source")
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise DigestError(f"unknown source: {unknown[0][:40]}")
    langs = [lang.lower() for lang in bounded(languages, "language")]
    bad = [lang for lang in langs if not _LANG.match(lang)]
    if bad:
        raise DigestError(f"not a language code: {bad[0][:20]}")
    return DigestFilters(sources=tuple(slugs), tags=tuple(t.lower() for t in bounded(tags, "tag")), languages=tuple(langs))


class Subscriptions:
    """The subscription flows over the store, mailing through the newsletter's transport."""

    def __init__(
        self,
        store: Store,
        config: DigestConfig,
        *,
        base_url: str,
        transport: MailTransport | None,
        clock: Clock = utcnow,
        renderer: MailRenderer | None = None,
    ):
        self.store = store
        self.config = config
        self.settings = MailSettings.from_config(config, base_url)
        self.transport = transport
        self.clock = clock
        self.renderer = renderer or MailRenderer(self.settings)
        self._keyring: Keyring | None = None

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = keyring_for(self.store)
        return self._keyring

    # -- the form ----------------------------------------------------------------------------

    async def subscribe(self, raw_address: object, filters: DigestFilters, locale: str | None) -> SubscribeOutcome:
        """Record a request and mail the confirmation link (at most once an hour per address).

        Raises:
            AddressError: the address is refused (nothing stored, nothing sent).
            MailError: the confirmation could not be handed to the SMTP server (the request
                stays pending; asking again retries).
        """
        if self.config.list_address:
            raise DigestError("this newsletter is sent to a mailing list; subscribe there")
        if self.transport is None:
            raise DigestError("no SMTP server configured (AGGREGATOR_SMTP_URL)")
        address = parse_address(raw_address)
        now = self.clock()
        keyring = await asyncio.to_thread(lambda: self.keyring)
        row, _ = await asyncio.to_thread(
            self.store.subscribers.request, address=address.value, address_key=keyring.address_key(address.comparison),
            filters=filters, locale=locale_of(locale), now=now,
        )
        if row.state == "confirmed":
            log.info("digest.subscribe_again", subscriber=row.id)
            return SubscribeOutcome("already_confirmed", row.id)
        if row.confirm_sent_at is not None and now - row.confirm_sent_at < CONFIRM_INTERVAL:
            log.info("digest.subscribe_throttled", subscriber=row.id)
            return SubscribeOutcome("throttled", row.id)
        expires = now + CONFIRM_TTL
        message = self.renderer.confirmation(
            to=row.address, locale=row.locale, message_id=self.keyring.message_id(f"s{row.id}.{row.salt}", now.isoformat(),
                                                                                  self.settings.host, kind="confirm"),
            confirm_url=confirm_link(self.settings.base_url, self.keyring, row.id, row.salt, expires=expires),
            date=now, expires=expires,
        )
        try:
            await self.transport.send(message, sender=self.settings.envelope_sender, recipient=row.address)
        except MailError as exc:
            if exc.kind == "refused" and row.confirm_sent_at is None:
                # The address's own server says it does not exist: keep nothing of it.
                await asyncio.to_thread(self.store.subscribers.forget_pending, row.id)
            raise
        await asyncio.to_thread(self.store.subscribers.mark_confirm_sent, row.id, now)
        log.info("digest.confirmation_sent", subscriber=row.id)
        return SubscribeOutcome("confirmation_sent", row.id)

    # -- the links in mails --------------------------------------------------------------------

    def _open(self, purpose: Purpose, token: str) -> Subscriber:
        """The subscriber a genuine token names.

        Raises:
            TokenError: malformed, forged, expired, or its row is gone (``forged``: a
                deleted row's salt is gone with it, so the two cannot be told apart).
        """
        subject = Keyring.subject_of(token)
        if subject is None or not subject.isdigit():
            raise TokenError("this link is malformed", reason="malformed")
        row = self.store.subscribers.get(int(subject))
        if row is None:
            raise TokenError("this link is not valid (any more)", reason="forged")
        self.keyring.verify(purpose, token, bind=row.salt, now=self.clock())
        return row

    def peek(self, purpose: Purpose, token: str) -> Subscriber:
        """Check a token without acting (the GET page before the POST button)."""
        return self._open(purpose, token)

    def confirm(self, token: str) -> Subscriber:
        """The confirmation page's POST."""
        row = self._open("confirm", token)
        self.store.subscribers.confirm(row.id, self.clock())
        log.info("digest.confirmed", subscriber=row.id)
        return row

    def reconfirm(self, token: str) -> Subscriber:
        row = self._open("reconfirm", token)
        self.store.subscribers.reconfirm(row.id, self.clock())
        return row

    def unsubscribe(self, token: str) -> bool:
        """The one-click POST (RFC 8058) and the unsubscribe page's button.

        True when an address was deleted; False when the token names no row any more (an
        earlier click did it: callers answer with the same success page). A forged token
        for an existing row raises TokenError.
        """
        subject = Keyring.subject_of(token)
        if subject is None or not subject.isdigit():
            raise TokenError("this link is malformed", reason="malformed")
        row = self.store.subscribers.get(int(subject))
        if row is None:
            return False
        self.keyring.verify("unsubscribe", token, bind=row.salt, now=self.clock())
        done = self.store.subscribers.unsubscribe(row.id, reason="unsubscribed", now=self.clock())
        log.info("digest.unsubscribed", subscriber=row.id)
        return done

    def update_filters(self, token: str, filters: DigestFilters, locale: str | None = None) -> Subscriber:
        row = self._open("preferences", token)
        self.store.subscribers.update_filters(row.id, filters, locale=locale if locale in LOCALES else None)
        return row

    # -- the operator ---------------------------------------------------------------------------

    def remove_address(self, raw_address: str) -> bool:
        """``aggregator subscribers remove ADDRESS``: delete it and never mail it again.
        True when a subscriber was deleted (the hash is recorded either way)."""
        address = parse_address(raw_address)
        return self.store.subscribers.suppress(self.keyring.address_key(address.comparison), reason="removed",
                                               now=self.clock())

    def housekeeping(self) -> dict[str, int]:
        """Forget stale unconfirmed addresses and unanswered re-confirmations (``run`` calls it)."""
        now = self.clock()
        purged = self.store.subscribers.purge_unconfirmed(now - UNCONFIRMED_TTL)
        expired = self.store.subscribers.expire_reconfirmations(now - RECONFIRM_GRACE, now)
        if purged or expired:
            log.info("digest.housekeeping", purged=purged, expired=expired)
        return {"purged": purged, "expired": expired}

    async def send_reconfirmations(self, *, limit: int = 100) -> int:
        """Ask those without a proof of interest for ``RECONFIRM_EVERY`` (within the hourly cap
        of the caller's choosing: ``limit``)."""
        if self.transport is None:
            raise DigestError("no SMTP server configured (AGGREGATOR_SMTP_URL)")
        now = self.clock()
        sent = 0
        due = await asyncio.to_thread(self.store.subscribers.due_reconfirmation, now - RECONFIRM_EVERY, limit=limit)
        for row in due:
            deadline = now + RECONFIRM_GRACE
            links = subscriber_links(self.settings.base_url, self.keyring, row.id, row.salt,
                                     unsubscribe_address=self.config.unsubscribe_address)
            message = self.renderer.reconfirmation(
                to=row.address, locale=row.locale, links=links, date=now, deadline=deadline,
                since=row.confirmed_at or row.consent_at,
                confirm_url=reconfirm_link(self.settings.base_url, self.keyring, row.id, row.salt, expires=deadline),
                message_id=self.keyring.message_id(f"s{row.id}.{row.salt}", now.date(), self.settings.host, kind="reconfirm"),
            )
            await self.transport.send(message, sender=self.settings.envelope_sender, recipient=row.address)
            await asyncio.to_thread(self.store.subscribers.mark_reconfirm_sent, row.id, now)
            sent += 1
        return sent
