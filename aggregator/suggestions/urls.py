"""What a suggested address may be, its normal form, and the key that makes two spellings one.

Pure. Readers type ``rebellyon.info`` as often as a full URL: a missing scheme means
https. Credentials in the address, other schemes, blanks and control characters are
refused here; private and loopback addresses are refused later, by the HTTP client's
guard, after DNS (a name can hide one).
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidSuggestion
from ..parse.identity import canonical_url, strip_tracking
from ..webapp.health_words import N_

#: Longest address accepted; real feed URLs are far shorter.
MAX_URL = 2000


def normalize_url(raw: str) -> str:
    """The address as it will be fetched and stored: http(s), host in IDNA, no fragment, no trackers.

    Raises:
        InvalidSuggestion: (its message a msgid for the reader) empty, too long, not a web address, or carrying credentials.
    """
    text = raw.strip()
    if not text:
        raise InvalidSuggestion(N_("Give the address of the site or of its feed."))
    if len(text) > MAX_URL:
        raise InvalidSuggestion(N_("This address is too long."))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidSuggestion(N_("An address has no spaces in it."))
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidSuggestion(N_("This is not a web address.")) from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if scheme not in ("http", "https") or not host or ("." not in host.strip(".") and ":" not in host):
        raise InvalidSuggestion(N_("This is not a web address."))
    if parts.username is not None or parts.password is not None:
        raise InvalidSuggestion(N_("Give the address without a user name or password."))
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidSuggestion(N_("This is not a web address.")) from None
    netloc = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        netloc += f":{port}"
    return strip_tracking(urlunsplit((scheme, netloc, parts.path or "/", parts.query, "")))


def url_key(url: str) -> str:
    """One key for every spelling of an address (case of the host, trackers, default port)."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()
