"""Keyed tokens and hashes for the newsletter, from one secret kept in the database.

The secret is generated once and stored in the ``meta`` table (``digest.secret``), so
every process on a shared PostgreSQL signs and checks with the same key; it never comes
from ``sources.yaml`` (which is often published). Each use derives its own key (HMAC of
the secret with a label), so a token for one purpose never passes for another.

A token is ``SUBJECT.EXPIRY.MAC``: the subscriber id, an expiry (base-36 Unix seconds,
``0`` for none) and 128 bits of HMAC-SHA256 over both plus a *binding*: the subscriber
row's random salt. A token therefore dies with its row: an unsubscribed address that
subscribes again gets a new row, and an id reused by SQLite does not revive old links.
Checks use ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import date, datetime
from typing import Literal

from ..errors import TokenError

Purpose = Literal["confirm", "unsubscribe", "preferences", "reconfirm"]
PURPOSES: tuple[str, ...] = ("confirm", "unsubscribe", "preferences", "reconfirm")
SECRET_KEY = "digest.secret"
MAX_TOKEN = 120

_SUBJECT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{1,40})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$")


def new_secret() -> str:
    """A fresh 256-bit secret, hex (what ``MetaRepo.get_or_create`` stores)."""
    return secrets.token_hex(32)


class Keyring:
    """Every keyed value the newsletter makes: tokens, address keys, Message-IDs."""

    def __init__(self, secret: str | bytes):
        raw = bytes.fromhex(secret) if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise ValueError("the newsletter secret must be at least 128 bits")
        self._secret = raw

    def _key(self, label: str) -> bytes:
        return hmac.new(self._secret, b"aggregator/digest/" + label.encode(), hashlib.sha256).digest()

    # -- tokens ---------------------------------------------------------------------------

    def _mac(self, purpose: str, subject: str, expiry: str, bind: str) -> str:
        message = f"{subject}.{expiry}.{bind}".encode()
        digest = hmac.new(self._key("token/" + purpose), message, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def make(self, purpose: Purpose, subject: str | int, *, bind: str = "", expires: datetime | None = None) -> str:
        """A token for ``purpose`` about ``subject`` (URL-safe, under 80 characters)."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        subject = str(subject)
        if not _SUBJECT.fullmatch(subject):
            raise ValueError("a token subject is 1 to 40 letters, digits, - or _")
        expiry = _base36(int(expires.timestamp())) if expires is not None else "0"
        return f"{subject}.{expiry}.{self._mac(purpose, subject, expiry, bind)}"

    @staticmethod
    def subject_of(token: str) -> str | None:
        """The subject a token claims, NOT verified: only to look its row (and salt) up."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            return None
        match = _TOKEN.fullmatch(token)
        return match.group(1) if match else None

    def verify(self, purpose: Purpose, token: str, *, bind: str = "", now: datetime) -> str:
        """The token's subject when it is genuine, for this purpose and binding, and not expired.

        Raises:
            TokenError: ``malformed``, ``forged`` or ``expired``.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN or not (match := _TOKEN.fullmatch(token)):
            raise TokenError("this link is malformed", reason="malformed")
        subject, expiry, mac = match.groups()
        if purpose not in PURPOSES or not hmac.compare_digest(mac, self._mac(purpose, subject, expiry, bind)):
            raise TokenError("this link is not valid", reason="forged")
        if expiry != "0" and int(expiry, 36) <= now.timestamp():
            raise TokenError("this link has expired", reason="expired")
        return subject

    # -- keyed hashes ---------------------------------------------------------------------

    def address_key(self, comparison: str) -> str:
        """The keyed hash that identifies an address (subscribers, suppressions): 64 hex.

        Keyed, so a leaked database does not let anyone test "is this address in it?"
        without the secret.
        """
        return hmac.new(self._key("address"), comparison.encode("utf-8"), hashlib.sha256).hexdigest()

    def message_id(self, recipient: str, day: date | str, host: str, *, kind: str = "digest") -> str:
        """A stable ``Message-ID`` per (recipient, day): a resend carries the same one, so
        mail stores that deduplicate on it show the message once. Reveals nothing of the
        recipient (keyed hash)."""
        mac = hmac.new(self._key("message-id"), f"{kind}|{recipient}|{day}".encode(), hashlib.sha256).hexdigest()[:24]
        return f"<{kind}.{day}.{mac}@{host}>"


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if value <= 0:
        return "0"
    out = ""
    while value:
        value, rem = divmod(value, 36)
        out = digits[rem] + out
    return out


def unsubscribe_token_from_subject(subject: str) -> str | None:
    """The token in a ``mailto:`` unsubscribe mail's subject (``unsubscribe-TOKEN``)."""
    text = (subject or "").strip()
    if len(text) > MAX_TOKEN + 20:
        return None
    prefix = "unsubscribe-"
    if not text.lower().startswith(prefix):
        return None
    token = text[len(prefix):]
    return token if Keyring.subject_of(token) else None
