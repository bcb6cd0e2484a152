"""Date helpers shared by the parsers: everything leaves as an aware UTC datetime or None.

A feed's dates are hints, not facts: an unparseable or impossible date becomes ``None``
and the decide step fills it (first-seen time) or clamps it (fetch time).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

#: RFC 3339 allows a lower-case ``t``/``z`` and a space instead of ``T`` (section 5.6 NOTE).
_RFC3339 = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2}|[+-]\d{2})?)?\s*$"
)


def from_struct_time(value: time.struct_time | Sequence[int] | None) -> datetime | None:
    """Turn feedparser's ``*_parsed`` value (already normalized to UTC) into a datetime."""
    if value is None:
        return None
    try:
        # timegm rather than datetime(*value[:6]): feedparser can hand back a day 31 of a
        # 30-day month or second 60; timegm normalizes them instead of raising.
        seconds = calendar.timegm((*tuple(value)[:6], 0, 0, 0))
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def parse_rfc3339(value: str | None) -> datetime | None:
    """Parse an RFC 3339 / ISO 8601 timestamp (JSON Feed, Bluesky, Mastodon) to UTC.

    A missing offset is read as UTC. Anything else that does not parse yields ``None``,
    after one try with feedparser's lenient date parser (RFC 822 dates do appear in
    JSON feeds written by hand).
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        return None
    match = _RFC3339.match(value)
    if match:
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        try:
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            parsed = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                min(int(second or 0), 59), micro, tzinfo=UTC,
            )
        except ValueError:
            return None
        if offset and offset not in ("Z", "z"):
            sign = 1 if offset[0] == "+" else -1
            digits = offset[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
            try:
                parsed = parsed - sign * timedelta(minutes=minutes)
            except OverflowError:
                return None
        return parsed
    return _lenient(value)


def _lenient(value: str) -> datetime | None:
    """feedparser's date parser knows RFC 822, W3DTF, and a dozen local oddities."""
    try:
        from feedparser.datetimes import _parse_date

        return from_struct_time(_parse_date(value))
    except Exception:  # a private helper of a library: any failure just means "no date"
        return None
