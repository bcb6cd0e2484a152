"""Newsletter fixtures: a real SMTP server (aiosmtpd) on 127.0.0.1, TLS certificates made
here (trustme), stored entries and subscribers."""

from __future__ import annotations

import email
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from aggregator.digest.addresses import parse_address
from aggregator.digest.deliver import keyring_for
from aggregator.model import ALL_STORIES, DigestFilters, EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Store
from tests.building import store_entries
from tests.conftest import free_port

SOURCES = [
    SourceConfig(slug="rebellyon", name="Rebellyon", kind="feed", url="https://rebellyon.example/feed", language="fr",
                 tags=("lyon",)),
    SourceConfig(slug="paris-luttes", name="Paris-luttes.info", kind="feed", url="https://paris-luttes.example/feed",
                 language="fr", tags=("paris",)),
    SourceConfig(slug="reporterre", name="Reporterre", kind="feed", url="https://reporterre.example/feed", language="fr"),
    SourceConfig(slug="crimethinc", name="CrimethInc.", kind="feed", url="https://crimethinc.example/feed", language="en"),
]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class Sink:
    """An aiosmtpd handler that keeps what it accepts and answers from a script.

    ``rcpt_script[address]`` and ``data_script`` are lists of replies used one per
    transaction (``None`` means accept), so a test can make the server answer 4xx then 2xx.
    """

    received: list[Received] = field(default_factory=list)
    rcpt_script: dict[str, list[str | None]] = field(default_factory=dict)
    data_script: list[str | None] = field(default_factory=list)
    transactions: int = 0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        script = self.rcpt_script.get(address)
        if script:
            reply = script.pop(0)
            if reply is not None:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.transactions += 1
        if self.data_script:
            reply = self.data_script.pop(0)
            if reply is not None:
                return reply
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, tls, login))
        return "250 2.0.0 OK queued as X"

    def for_address(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


@dataclass
class SmtpServer:
    sink: Sink
    port: int
    controller: Controller

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=off"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"lettre" and auth_data.password == b"p@ss:w/rd"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def start_server(sink: Sink | None = None, **kwargs: Any) -> SmtpServer:
    sink = sink or Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return SmtpServer(sink, port, controller)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.controller.stop()


@dataclass
class Tls:
    ca: trustme.CA
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls() -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(ca, server, client)


# -- stored data -----------------------------------------------------------------------------


def article(guid: str, title: str, url: str, *, text: str = "Un résumé de l'article.", published: datetime | None = None,
            tags: tuple[str, ...] = (), language: str | None = None, kind: str = "article") -> EntryData:
    return EntryData(guid=guid, url=url, title=title, text=text, summary=f"<p>{text}</p>", published=published,
                     tags=tags, language=language, kind=kind,  # type: ignore[arg-type]
                     content_hash=content_hash(title, text))


def save(store: Store, slug: str, entries: list[EntryData]) -> None:
    """Store entries the way the crawler does (the write path)."""
    store_entries(store, next(s for s in SOURCES if s.slug == slug), entries)


def subscribe(store: Store, address: str, *, filters: DigestFilters = ALL_STORIES, locale: str = "fr",
              confirm: bool = True) -> int:
    keyring = keyring_for(store)
    parsed = parse_address(address)
    now = store.db.clock()
    row, _ = store.subscribers.request(address=parsed.value, address_key=keyring.address_key(parsed.comparison),
                                       filters=filters, locale=locale, now=now)
    if confirm:
        store.subscribers.confirm(row.id, now)
    return row.id


def at(text: str) -> datetime:
    """``"2026-11-20 07:00"`` (UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def sqlite_store(tmp_path: Any, clock: Any) -> Iterator[Store]:
    """One store on SQLite only, for tests about HTTP and processes (the storage itself is
    tested on both databases in test_store.py and test_deliver.py)."""
    s = Store(f"sqlite:///{tmp_path / 'digest.sqlite3'}", clock=clock)
    s.upgrade()
    try:
        yield s
    finally:
        s.close()
