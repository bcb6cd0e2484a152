"""Sending mail through the SMTP server named by ``AGGREGATOR_SMTP_URL``, with aiosmtplib.

The URL:

- ``smtp://user:pass@host:587``: STARTTLS is **required** (default port 587). A server that
  does not offer it is an error, never a silent fall-back to clear text: a man in the
  middle could strip the offer and read the password and every subscriber's address.
- ``smtps://user:pass@host:465``: TLS from the first byte (implicit TLS, default port 465).
- ``smtp://host:25?starttls=off``: clear text, for a local relay (Postfix or Exim on the
  same machine). Credentials are refused with ``starttls=off`` unless the host is a
  loopback address.
- Other query parameters: ``timeout`` (seconds, default 30), ``cafile`` (a PEM bundle to
  trust instead of the system's, for a relay with a private CA).
- User and password are percent-decoded (``%40`` for ``@``). Error messages show the URL
  with the password replaced by ``***``; the password is never logged or printed.

Answers are classified for the delivery loop (``MailError.kind``): 4xx, a refused or lost
connection, a timeout: ``temporary``; a 5xx about the recipient's address (at RCPT, or at
the end of DATA with an enhanced code ``5.1.x``; ``550``/``551``/``553`` without an
enhanced code): ``refused`` (the address is suppressed); any other 5xx for this message
(too big, policy ``5.7.x``…): ``rejected``; a failure that says our side is misconfigured
(authentication, STARTTLS missing, certificate, our sender refused): ``config``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from ..errors import ConfigError, MailError

Security = Literal["starttls", "tls", "none"]
ENV = "AGGREGATOR_SMTP_URL"
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    cafile: str | None = None

    def redacted(self) -> str:
        """The URL for logs and messages, password hidden."""
        scheme = "smtps" if self.security == "tls" else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        query = "?starttls=off" if self.security == "none" else ""
        return f"{scheme}://{user}{host}:{self.port}{query}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redact(url: str) -> str:
    """A URL as typed, with whatever sits between ``:`` and ``@`` in the authority hidden."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", url)


def parse_smtp_url(url: str) -> SmtpSettings:
    """Validate ``AGGREGATOR_SMTP_URL``.

    Raises:
        ConfigError: naming the variable and what to fix, never the password.
    """

    def fail(message: str) -> ConfigError:
        return ConfigError(f"{message} (got {_redact(url)!r})", file=ENV)

    text = (url or "").strip()
    if not text:
        raise ConfigError("not set: e.g. smtp://user:password@mail.example.org:587", file=ENV)
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in text):
        raise fail("spaces and control characters are not allowed")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise fail(f"not a valid URL ({exc.__class__.__name__})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise fail("expected smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    host = parts.hostname
    if not host:
        raise fail("no host name")
    if parts.path not in ("", "/") or parts.fragment:
        raise fail("no path or fragment expected after the host and port")
    security: Security = "tls" if scheme == "smtps" else "starttls"
    timeout = 30.0
    cafile = None
    seen: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in seen:
            raise fail(f"the parameter {key} is given twice")
        seen.add(key)
        if key == "starttls":
            if value in ("off", "no", "false", "0"):
                if scheme == "smtps":
                    raise fail("starttls=off makes no sense with smtps:// (TLS from the start)")
                security = "none"
            elif value not in ("on", "yes", "true", "1", "required"):
                raise fail("starttls must be on or off")
        elif key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                raise fail("timeout must be a number of seconds") from None
            if not 1 <= timeout <= 600:
                raise fail("timeout must be between 1 and 600 seconds")
        elif key == "cafile":
            if not value:
                raise fail("cafile needs a path")
            cafile = value
        else:
            raise fail(f"unknown parameter {key!r} (expected starttls, timeout or cafile)")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise fail("a password without a user name")
    if username and security == "none" and not _is_loopback(host):
        raise fail("refusing to send a password in clear text to a remote server: drop starttls=off")
    return SmtpSettings(
        host=host, port=port or (465 if security == "tls" else 587 if security == "starttls" else 25),
        security=security, username=username, password=password, timeout=timeout, cafile=cafile,
    )


def classify(code: int, message: str, stage: str) -> str:
    """``temporary``, ``refused``, ``rejected`` or ``config`` for an SMTP answer."""
    if code < 500:
        return "temporary"
    if stage not in ("rcpt", "data"):
        return "config"  # EHLO, AUTH, MAIL FROM: ours to fix, whoever the recipient
    enhanced = _ENHANCED.match(message or "")
    if enhanced:
        subject, detail = int(enhanced.group(2)), int(enhanced.group(3))
        # 5.1.x: bad mailbox or domain; 5.2.1: mailbox disabled. 5.2.2 (full) is not final.
        if subject == 1 or (subject == 2 and detail == 1):
            return "refused"
        return "rejected"
    if stage == "rcpt" and code in (550, 551, 553):
        return "refused"
    return "rejected"


BeforeData = Callable[[], Awaitable[object]]


class SmtpTransport:
    """One SMTP connection, opened on first use and kept for the next messages.

    One recipient per transaction (each mail is personal), so a 5xx is about that one
    address. A connection found dead when a new transaction starts is reopened once.
    Transactions are serialized: the web routes share one transport between concurrent
    requests, and SMTP is one conversation at a time per connection.
    """

    def __init__(self, settings: SmtpSettings, *, tls_context: ssl.SSLContext | None = None,
                 local_hostname: str | None = None):
        self.settings = settings
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    def _context(self) -> ssl.SSLContext | None:
        if self.settings.security == "none":
            return None
        if self._tls_context is not None:
            return self._tls_context
        return ssl.create_default_context(cafile=self.settings.cafile)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout, local_hostname=self._local_hostname,
            use_tls=s.security == "tls", start_tls=s.security == "starttls",
            tls_context=self._context(), username=s.username, password=s.password,
        )
        where = s.redacted()
        try:
            await smtp.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise MailError(f"{where}: authentication refused ({exc.code})", kind="config", code=exc.code, stage="auth") from None
        except ssl.SSLError as exc:
            smtp.close()
            raise MailError(f"{where}: TLS failed: {exc.reason or exc}", kind="config", stage="tls") from None
        except aiosmtplib.SMTPConnectError as exc:
            smtp.close()
            tls_error = _ssl_cause(exc)
            if tls_error is not None:  # a certificate we cannot trust: waiting will not fix it
                raise MailError(f"{where}: TLS failed: {tls_error.reason or tls_error}", kind="config", stage="tls") from None
            raise MailError(f"{where}: cannot connect: {_short(exc)}", kind="temporary", stage="connect") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            raise MailError(f"{where}: connection failed: {_short(exc)}", kind="temporary", stage="connect") from None
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            kind = "temporary" if exc.code < 500 else "config"
            raise MailError(f"{where}: the server answered {exc.code} {exc.message}", kind=kind, code=exc.code,
                            stage="connect") from None
        except aiosmtplib.SMTPException as exc:  # STARTTLS not offered, AUTH not offered…
            smtp.close()
            raise MailError(f"{where}: {_short(exc)}", kind="config", stage="connect") from None
        return smtp

    async def send(
        self, message: EmailMessage | bytes, *, sender: str, recipient: str, before_data: BeforeData | None = None
    ) -> str:
        """Hand one message to the server; returns its final answer (queue id…).

        ``before_data`` runs after the server accepted the recipient and before ``DATA``:
        the delivery loop commits there that the message may now be delivered.

        Raises:
            MailError: classified (see the module docstring).
        """
        data = message.as_bytes(policy=SMTP_POLICY) if isinstance(message, EmailMessage) else message
        async with self._lock:
            return await self._send(data, sender, recipient, before_data)

    async def _send(self, data: bytes, sender: str, recipient: str, before_data: BeforeData | None) -> str:
        reused = self._smtp is not None and self._smtp.is_connected
        if not reused:
            self._drop()
            self._smtp = await self._connect()
        try:
            return await self._transaction(data, sender, recipient, before_data)
        except _Stale:
            self._drop()
            self._smtp = await self._connect()
            try:
                return await self._transaction(data, sender, recipient, before_data, retry=False)
            except _Stale as exc:
                raise MailError(f"{self.settings.redacted()}: connection lost", kind="temporary", stage="mail") from exc.__cause__

    async def _transaction(
        self, data: bytes, sender: str, recipient: str, before_data: BeforeData | None, *, retry: bool = True
    ) -> str:
        smtp = self._smtp
        assert smtp is not None
        stage = "mail"
        try:
            await smtp.mail(sender)
            stage = "rcpt"
            await smtp.rcpt(recipient)
            stage = "data"
            if before_data is not None:
                try:
                    await before_data()
                except BaseException:
                    await self._reset()
                    raise
            response = await smtp.data(data)
            return response.message
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self._drop()
            if stage == "mail" and retry:
                raise _Stale() from exc  # a kept connection the server had closed: reopen once
            raise MailError(f"connection lost during {stage.upper()}: {_short(exc)}", kind="temporary", stage=stage) from None
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421:  # the server is closing the connection
                self._drop()
            else:
                await self._reset()
            kind = classify(exc.code, exc.message, stage)
            raise MailError(f"{stage.upper()} answered {exc.code} {exc.message}", kind=kind, code=exc.code, stage=stage) from None

    async def _reset(self) -> None:
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
        self._smtp = None

    async def probe(self) -> None:
        """Connect, EHLO, STARTTLS and log in as ``send`` would, then QUIT: nothing is sent
        (``aggregator doctor``). Raises MailError, classified like a send."""
        self._drop()
        self._smtp = await self._connect()
        await self.close()

    async def close(self) -> None:
        async with self._lock:
            await self._quit()

    async def _quit(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()


class _Stale(Exception):
    """A kept connection turned out dead at MAIL FROM (nothing was sent yet)."""


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text[:300]
