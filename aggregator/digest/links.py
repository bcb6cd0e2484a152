"""The absolute URLs a mail carries, all under the public base URL (``AGGREGATOR_BASE_URL``).

The web routes behind them (phase 2 of issue 11) must answer exactly these paths:

- ``/confirm/{token}``: a page with a POST form that confirms (a GET never confirms);
- ``/reconfirm/{token}``: the same for the periodic re-confirmation;
- ``/unsubscribe/{token}``: a page with a button; a ``POST`` with the body
  ``List-Unsubscribe=One-Click`` (RFC 8058) unsubscribes with no cookie, session or CSRF
  token;
- ``/preferences/{token}``: change one's filters (and unsubscribe);
- ``/digest`` and ``/digest/YYYY-MM-DD``: the archive and one day on the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote, urlsplit

from .tokens import Keyring


def normalize_base_url(value: str) -> str:
    """``https://medias.example.org`` without a trailing slash; ValueError when not an
    absolute http(s) URL (mail links must be absolute)."""
    text = (value or "").strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("expected an absolute http:// or https:// URL such as https://medias.example.org")
    return text


def host_of(base_url: str) -> str:
    """The base URL's host name: the right-hand side of Message-IDs and List-Id."""
    return (urlsplit(base_url).hostname or "localhost").lower()


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url}/confirm/{token}"


def reconfirm_url(base_url: str, token: str) -> str:
    return f"{base_url}/reconfirm/{token}"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url}/preferences/{token}"


def digest_url(base_url: str, day: date | str) -> str:
    return f"{base_url}/digest/{day}"


def archive_url(base_url: str) -> str:
    return f"{base_url}/digest"


@dataclass(frozen=True)
class SubscriberLinks:
    """The per-subscriber links of every digest mail."""

    unsubscribe_url: str
    preferences_url: str
    unsubscribe_mailto: str | None = None  # only when a mailbox processes unsubscribe mails

    @property
    def list_unsubscribe(self) -> str:
        """The ``List-Unsubscribe`` header value: https first (RFC 8058), then mailto."""
        value = f"<{self.unsubscribe_url}>"
        return f"{value}, <{self.unsubscribe_mailto}>" if self.unsubscribe_mailto else value


def subscriber_links(
    base_url: str, keyring: Keyring, subscriber_id: int, salt: str, *, unsubscribe_address: str | None = None
) -> SubscriberLinks:
    """Unsubscribe and preferences links for one subscriber: tokens without expiry (a link
    in a mail years old must still unsubscribe), bound to the subscriber row."""
    unsub = keyring.make("unsubscribe", subscriber_id, bind=salt)
    prefs = keyring.make("preferences", subscriber_id, bind=salt)
    mailto = None
    if unsubscribe_address:
        mailto = f"mailto:{unsubscribe_address}?subject={quote('unsubscribe-' + unsub)}"
    return SubscriberLinks(unsubscribe_url(base_url, unsub), preferences_url(base_url, prefs), mailto)


def confirm_link(base_url: str, keyring: Keyring, subscriber_id: int, salt: str, *, expires: datetime) -> str:
    return confirm_url(base_url, keyring.make("confirm", subscriber_id, bind=salt, expires=expires))


def reconfirm_link(base_url: str, keyring: Keyring, subscriber_id: int, salt: str, *, expires: datetime) -> str:
    return reconfirm_url(base_url, keyring.make("reconfirm", subscriber_id, bind=salt, expires=expires))
