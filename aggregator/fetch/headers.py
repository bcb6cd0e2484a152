"""Pure parsing of the HTTP response headers the crawler acts on.

Kept apart from the client so that these rules (RFC 9110 and 9111) are plain functions
of a header value and a clock: they are read and tested without a network, and the
meaning the crawler gives a header (Cache-Control to a freshness lifetime, Retry-After
to a pause) is defined once. Hostile values are normal input: a header that does not
parse gives None (or "already stale"), never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from multidict import CIMultiDict, CIMultiDictProxy


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of the header ``name``: a response may repeat a field (Link, Cache-Control).

    A plain mapping (tests, a single value per name) gives at most one value.
    """
    if isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return list(headers.getall(name, []))
    value = headers.get(name)
    return [value] if value is not None else []


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime; a naive one is taken to be UTC already.

    Every date the fetch layer handles is UTC, but not all of them arrive aware: SQLite
    hands back naive datetimes from the shared host store.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """``"text/xml; charset=ISO-8859-1"`` -> ``("text/xml", "iso-8859-1")``."""
    if not value:
        return None, None
    parts = value.split(";")
    media = parts[0].strip().lower() or None
    charset = None
    for param in parts[1:]:
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("\"'").lower() or None
    return media, charset


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110 5.6.7, all three historic forms) as aware UTC, or None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return as_utc(parsed)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    when = parse_http_date(text)
    if when is None:
        return None
    return max(0.0, (when - now).total_seconds())


def parse_max_age(headers: Mapping[str, str], now: datetime) -> float | None:
    """Freshness lifetime in seconds from Cache-Control max-age, else Expires.

    ``s-maxage`` is for shared caches, not us; ``no-cache``/``no-store`` mean no lifetime.
    Expires is measured against the server's Date when present (their clock, their
    intent), else against ours; an unparsable Expires means already stale (RFC 9111 5.3).
    """
    cache_control = ",".join(header_values(headers, "Cache-Control"))
    max_age: float | None = None
    for directive in cache_control.split(","):
        name, _, val = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age":
            try:
                max_age = float(int(val.strip().strip('"')))
            except ValueError:
                continue
    if max_age is not None:
        return max(0.0, max_age)
    expires = headers.get("Expires")
    if expires is None:
        return None
    when = parse_http_date(expires)
    if when is None:
        return 0.0
    base = parse_http_date(headers.get("Date")) or now
    return max(0.0, (when - base).total_seconds())


__all__ = [
    "as_utc",
    "header_values",
    "parse_content_type",
    "parse_http_date",
    "parse_max_age",
    "parse_retry_after",
]
