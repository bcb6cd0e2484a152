"""The web server's log: a malformed request is one short warning, rate-limited; a bug keeps its traceback."""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from aggregator.webapp.server_log import BadRequestLines, server_logger


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def record(exc: BaseException) -> logging.LogRecord:
    return logging.LogRecord("aggregator.web.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                             ("1.2.3.4",), (type(exc), exc, None))


def test_parse_errors_become_short_warnings_at_most_per_minute() -> None:
    clock = Clock()
    lines = BadRequestLines(per_minute=3, clock=clock)
    kept = []
    for _ in range(10):
        rec = record(BadHttpMessage("Invalid header value char:\n\n  b'X-A: <fz>\\x00'\n   ^"))
        if lines.filter(rec):
            kept.append(rec)
    assert len(kept) == 3 and lines.suppressed == 7
    first = kept[0]
    assert (first.levelno, first.getMessage(), first.exc_info) == (logging.WARNING, "web.bad_request", None)
    assert first.fields == {"status": 400, "error": "BadHttpMessage", "detail": "Invalid header value char:"}  # type: ignore[attr-defined]
    assert "1.2.3.4" not in str(vars(first)), "readers' addresses are not logged"
    clock.t += 20  # a third of a minute: one more line, which says what was left out
    rec = record(LineTooLong("a" * 9000, "8190"))
    assert lines.filter(rec) and rec.fields["left_out"] == 7  # type: ignore[attr-defined]
    assert len(rec.fields["detail"]) <= 120  # type: ignore[attr-defined]
    assert not lines.filter(record(LineTooLong("x", "1")))


def test_a_bug_keeps_its_error_and_traceback() -> None:
    rec = record(ZeroDivisionError("division by zero"))
    assert BadRequestLines().filter(rec)
    assert rec.levelno == logging.ERROR and rec.exc_info is not None


def test_the_filter_is_installed_once(caplog: pytest.LogCaptureFixture) -> None:
    logger = server_logger()
    assert server_logger() is logger
    assert sum(isinstance(f, BadRequestLines) for f in logger.filters) == 1
