"""SMTP against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS, implicit TLS, AUTH,
4xx, 5xx and refused connections; and the parsing of AGGREGATOR_SMTP_URL."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from aggregator.digest.smtp import SmtpTransport, classify, parse_smtp_url
from aggregator.errors import ConfigError, MailError
from tests.conftest import free_port

from .conftest import SmtpServer, Tls, authenticator, start_server

TO = "camille@example.org"
FROM = "lettre@medias.example.org"


def message(subject: str = "Bonjour") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = TO
    msg["Subject"] = subject
    msg["Message-ID"] = "<t.1@medias.example.org>"
    msg.set_content("Un texte accentué.\n.ligne commençant par un point\n")
    return msg


@pytest.fixture
def server_factory() -> Iterator[list[SmtpServer]]:
    servers: list[SmtpServer] = []
    yield servers
    for s in servers:
        s.controller.stop()


def serve(servers: list[SmtpServer], **kwargs: object) -> SmtpServer:
    server = start_server(**kwargs)
    servers.append(server)
    return server


# -- the URL ---------------------------------------------------------------------------------


def test_parse_urls() -> None:
    s = parse_smtp_url("smtp://lettre:p%40ss%3Aw%2Frd@mail.example.org:587")
    assert (s.host, s.port, s.security, s.username, s.password) == ("mail.example.org", 587, "starttls", "lettre", "p@ss:w/rd")
    assert "p@ss" not in repr(s) and s.redacted() == "smtp://lettre:***@mail.example.org:587"
    assert parse_smtp_url("smtp://mail.example.org").port == 587
    t = parse_smtp_url("smtps://mail.example.org")
    assert (t.port, t.security) == (465, "tls")
    local = parse_smtp_url("smtp://127.0.0.1:25?starttls=off&timeout=5")
    assert (local.security, local.port, local.timeout) == ("none", 25, 5.0)
    assert parse_smtp_url("smtp://u:p@localhost:2525?starttls=off").username == "u"  # loopback may
    assert parse_smtp_url("smtp://[::1]:25?starttls=off").host == "::1"
    assert parse_smtp_url("smtps://mail.example.org?cafile=/etc/ssl/ca.pem").cafile == "/etc/ssl/ca.pem"


@pytest.mark.parametrize(("url", "words"), [
    ("", "not set"),
    ("http://u:hunter2@mail.example.org", "expected smtp://"),
    ("smtp://", "no host"),
    ("smtp://u:hunter2@mail.example.org:99999", "not a valid URL"),
    ("smtp://u:hunter2@mail.example.org:587/path", "no path"),
    ("smtp://u:hunter2@mail.example.org?starttls=maybe", "starttls must be on or off"),
    ("smtp://u:hunter2@mail.example.org?starttls=off", "clear text"),
    ("smtps://u:hunter2@mail.example.org?starttls=off", "makes no sense"),
    ("smtp://u:hunter2@mail.example.org?timeout=0", "timeout"),
    ("smtp://u:hunter2@mail.example.org?verify=no", "unknown parameter"),
    ("smtp://u:hunter2@mail.example.org?timeout=5&timeout=6", "twice"),
    ("smtp://:hunter2@mail.example.org", "without a user"),
    ("smtp://u:hunter2@mail.example.org\r\nX: y", "control characters"),
])
def test_bad_urls_say_why_and_never_show_the_password(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_smtp_url(url)
    text = str(info.value)
    assert words in text and "AGGREGATOR_SMTP_URL" in text
    assert "hunter2" not in text


@pytest.mark.parametrize(("code", "text", "stage", "kind"), [
    (421, "4.3.2 shutting down", "rcpt", "temporary"),
    (451, "4.7.1 greylisted", "rcpt", "temporary"),
    (452, "4.2.2 mailbox full", "data", "temporary"),
    (550, "5.1.1 no such user", "rcpt", "refused"),
    (550, "no such user", "rcpt", "refused"),
    (553, "mailbox name not allowed", "rcpt", "refused"),
    (550, "5.2.1 mailbox disabled", "data", "refused"),
    (552, "5.2.2 mailbox full", "rcpt", "rejected"),
    (554, "5.7.1 relay access denied", "rcpt", "rejected"),
    (552, "5.3.4 message too big", "data", "rejected"),
    (554, "transaction failed", "data", "rejected"),
    (553, "5.7.1 sender not allowed", "mail", "config"),
    (535, "5.7.8 bad credentials", "auth", "config"),
])
def test_classification(code: int, text: str, stage: str, kind: str) -> None:
    assert classify(code, text, stage) == kind


# -- against the server ----------------------------------------------------------------------


async def test_plain_delivery_keeps_the_bytes(smtp_server: SmtpServer) -> None:
    transport = SmtpTransport(parse_smtp_url(smtp_server.url))
    marks: list[str] = []

    async def before_data() -> None:
        marks.append("data")

    try:
        reply = await transport.send(message(), sender=FROM, recipient=TO, before_data=before_data)
        await transport.send(message("Second"), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    assert "queued" in reply and marks == ["data"]
    first, second = smtp_server.sink.received
    assert (first.mail_from, first.rcpt_tos, first.tls) == (FROM, [TO], False)
    body = first.message.get_content()
    assert "accentué" in body and "\n.ligne" in body  # dot-stuffing undone by the server
    assert second.message["Subject"] == "Second"


async def test_starttls_required_and_used(server_factory: list[SmtpServer], tls: Tls) -> None:
    server = serve(server_factory, tls_context=tls.server, require_starttls=True)
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{server.port}"), tls_context=tls.client)
    try:
        await transport.send(message(), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    [received] = server.sink.received
    assert received.tls


async def test_starttls_missing_is_a_configuration_error(smtp_server: SmtpServer, tls: Tls) -> None:
    # smtp:// requires STARTTLS: a server that does not offer it is never used in clear text.
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp_server.port}"), tls_context=tls.client)
    with pytest.raises(MailError) as info:
        await transport.send(message(), sender=FROM, recipient=TO)
    await transport.close()
    assert info.value.kind == "config"
    assert smtp_server.sink.received == []


async def test_implicit_tls(server_factory: list[SmtpServer], tls: Tls) -> None:
    server = serve(server_factory, ssl_context=tls.server)
    transport = SmtpTransport(parse_smtp_url(f"smtps://127.0.0.1:{server.port}"), tls_context=tls.client)
    try:
        await transport.send(message(), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    [received] = server.sink.received
    assert received.tls


async def test_untrusted_certificate_is_a_configuration_error(server_factory: list[SmtpServer]) -> None:
    server = serve(server_factory, ssl_context=_self_signed_server())
    transport = SmtpTransport(parse_smtp_url(f"smtps://127.0.0.1:{server.port}"))  # the system's CAs
    with pytest.raises(MailError) as info:
        await transport.send(message(), sender=FROM, recipient=TO)
    await transport.close()
    assert info.value.kind == "config" and server.sink.received == []


def _self_signed_server() -> ssl.SSLContext:
    import trustme

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


async def test_auth_over_starttls_with_percent_encoded_password(server_factory: list[SmtpServer], tls: Tls) -> None:
    server = serve(server_factory, tls_context=tls.server, require_starttls=True, authenticator=authenticator,
                   auth_require_tls=True)
    good = SmtpTransport(parse_smtp_url(f"smtp://lettre:p%40ss%3Aw%2Frd@127.0.0.1:{server.port}"), tls_context=tls.client)
    try:
        await good.send(message(), sender=FROM, recipient=TO)
    finally:
        await good.close()
    assert [r.login for r in server.sink.received] == ["lettre"]
    bad = SmtpTransport(parse_smtp_url(f"smtp://lettre:wrong@127.0.0.1:{server.port}"), tls_context=tls.client)
    with pytest.raises(MailError) as info:
        await bad.send(message(), sender=FROM, recipient=TO)
    await bad.close()
    assert info.value.kind == "config" and "wrong" not in str(info.value)
    assert len(server.sink.received) == 1


async def test_auth_in_clear_on_loopback(server_factory: list[SmtpServer]) -> None:
    server = serve(server_factory, authenticator=authenticator, auth_require_tls=False)
    transport = SmtpTransport(parse_smtp_url(f"smtp://lettre:p%40ss%3Aw%2Frd@127.0.0.1:{server.port}?starttls=off"))
    try:
        await transport.send(message(), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    assert [r.login for r in server.sink.received] == ["lettre"]


async def test_4xx_then_2xx(smtp_server: SmtpServer) -> None:
    smtp_server.sink.rcpt_script[TO] = ["451 4.7.1 Greylisted, come back later"]
    transport = SmtpTransport(parse_smtp_url(smtp_server.url))
    called: list[int] = []

    async def before_data() -> None:
        called.append(1)

    try:
        with pytest.raises(MailError) as info:
            await transport.send(message(), sender=FROM, recipient=TO, before_data=before_data)
        assert (info.value.kind, info.value.code, info.value.stage) == ("temporary", 451, "rcpt")
        assert called == []  # refused before DATA: certainly not delivered
        await transport.send(message(), sender=FROM, recipient=TO, before_data=before_data)  # same connection, after RSET
    finally:
        await transport.close()
    assert len(smtp_server.sink.received) == 1 and called == [1]


async def test_4xx_at_end_of_data(smtp_server: SmtpServer) -> None:
    smtp_server.sink.data_script = ["452 4.3.1 Insufficient system storage"]
    transport = SmtpTransport(parse_smtp_url(smtp_server.url))
    try:
        with pytest.raises(MailError) as info:
            await transport.send(message(), sender=FROM, recipient=TO)
        assert (info.value.kind, info.value.stage) == ("temporary", "data")
        await transport.send(message(), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    assert len(smtp_server.sink.received) == 1


@pytest.mark.parametrize(("rcpt", "data", "kind"), [
    ("550 5.1.1 <camille@example.org>: user unknown", None, "refused"),
    ("554 5.7.1 Relay access denied", None, "rejected"),
    (None, "552 5.3.4 Message too big", "rejected"),
])
async def test_5xx(smtp_server: SmtpServer, rcpt: str | None, data: str | None, kind: str) -> None:
    if rcpt:
        smtp_server.sink.rcpt_script[TO] = [rcpt]
    if data:
        smtp_server.sink.data_script = [data]
    transport = SmtpTransport(parse_smtp_url(smtp_server.url))
    try:
        with pytest.raises(MailError) as info:
            await transport.send(message(), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    assert info.value.kind == kind and str(info.value.code).startswith("5")
    assert smtp_server.sink.received == []


async def test_connection_refused_is_temporary() -> None:
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}?starttls=off&timeout=5"))
    with pytest.raises(MailError) as info:
        await transport.send(message(), sender=FROM, recipient=TO)
    await transport.close()
    assert info.value.kind == "temporary" and info.value.stage == "connect"


async def test_a_kept_connection_closed_by_the_server_is_reopened(server_factory: list[SmtpServer]) -> None:
    server = serve(server_factory)
    transport = SmtpTransport(parse_smtp_url(server.url))
    try:
        await transport.send(message("Un"), sender=FROM, recipient=TO)
        server.controller.stop()  # drops the connection the transport keeps
        server.controller = Controller(server.sink, hostname="127.0.0.1", port=server.port)
        server.controller.start()
        await transport.send(message("Deux"), sender=FROM, recipient=TO)
    finally:
        await transport.close()
    assert [r.message["Subject"] for r in server.sink.received] == ["Un", "Deux"]
