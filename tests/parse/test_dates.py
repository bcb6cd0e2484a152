"""RFC 3339 and struct_time conversion: aware UTC or None, never an exception."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from aggregator.parse.dates import from_struct_time, parse_rfc3339


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-19T10:15:00Z", datetime(2026, 11, 19, 10, 15, tzinfo=UTC)),
        ("2026-11-19t10:15:00.123456789z", datetime(2026, 11, 19, 10, 15, 0, 123456, tzinfo=UTC)),
        ("2026-11-19T10:15:00+02:00", datetime(2026, 11, 19, 8, 15, tzinfo=UTC)),
        ("2026-11-19T10:15:00-0330", datetime(2026, 11, 19, 13, 45, tzinfo=UTC)),
        ("2026-11-19 10:15:00", datetime(2026, 11, 19, 10, 15, tzinfo=UTC)),  # no offset: UTC
        ("2026-11-19", datetime(2026, 11, 19, tzinfo=UTC)),
        ("Thu, 19 Nov 2026 10:15:00 +0100", datetime(2026, 11, 19, 9, 15, tzinfo=UTC)),  # RFC 822 fallback
        ("2026-02-30T00:00:00Z", None),
        ("0001-01-01T00:00:00+01:00", None),  # would fall before year 1
        ("yesterday", None),
        ("", None),
        (None, None),
        ("9" * 500, None),
    ],
)
def test_parse_rfc3339(value: str | None, expected: datetime | None) -> None:
    assert parse_rfc3339(value) == expected


def test_from_struct_time() -> None:
    assert from_struct_time(time.gmtime(0)) == datetime(1970, 1, 1, tzinfo=UTC)
    # feedparser can hand back second 60 or day 31 of a 30-day month: normalized, not an error.
    assert from_struct_time((2026, 4, 31, 0, 0, 60, 0, 0, 0)) == datetime(2026, 5, 1, 0, 1, tzinfo=UTC)
    assert from_struct_time(None) is None
    assert from_struct_time((99999999, 1, 1, 0, 0, 0, 0, 0, 0)) is None
