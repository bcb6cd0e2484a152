"""The web server's own log: a request aiohttp cannot parse is one short warning, not a traceback.

aiohttp answers malformed requests (a 9,000-character URL, an 8 KB header, a negative
``Content-Length``, a NUL in a header, two ``Host`` headers) with a 400 by itself, then logs
"Error handling request" with the parser's traceback at ERROR. Anyone can send those, so
anyone could flood the operator's log with tracebacks. The server built in
``service.start_web`` logs through ``server_logger()`` instead (``web.AppRunner``'s
documented ``logger`` option, so only our server is concerned and no global logging state
changes): a parse error becomes one ``web.bad_request`` warning line, at most
``PER_MINUTE`` of them a minute (the next line says how many were left out); anything
else (a bug in a handler: a 500) keeps its ERROR and traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["PER_MINUTE", "BadRequestLines", "server_logger"]

NAME = "aggregator.web.server"
#: Warning lines about malformed requests, per minute and process, at most.
PER_MINUTE = 10
_DETAIL = 120


class BadRequestLines(logging.Filter):
    """Rewrites aiohttp's parse-error records into one rate-limited warning line each."""

    def __init__(self, per_minute: int = PER_MINUTE, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.per_minute = per_minute
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens = float(per_minute)
        self._at = clock()
        self.suppressed = 0

    def _take(self) -> int | None:
        """None when over the limit; else how many lines were left out since the last one."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.per_minute), self._tokens + (now - self._at) * self.per_minute / 60.0)
            self._at = now
            if self._tokens < 1.0:
                self.suppressed += 1
                return None
            self._tokens -= 1.0
            left_out, self.suppressed = self.suppressed, 0
            return left_out

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True  # not the client's garbage: a bug, logged as it came
        if not logging.getLogger(record.name).isEnabledFor(logging.WARNING):
            return False
        left_out = self._take()
        if left_out is None:
            return False
        fields: dict[str, object] = {"status": exc.code or 400, "error": type(exc).__name__, "detail": _short(exc.message)}
        if left_out:
            fields["left_out"] = left_out
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.msg, record.args = "web.bad_request", ()
        record.exc_info, record.exc_text = None, None
        record.fields = fields  # printed by logs._Formatter like any event's fields
        return True


def _short(message: object) -> str:
    """The parser's reason on one printable line: it may quote the hostile bytes themselves."""
    first = str(message).strip().split("\n", 1)[0]
    printable = "".join(c if c.isprintable() else "?" for c in first)
    return printable[:_DETAIL]


_installed = threading.Lock()


def server_logger() -> logging.Logger:
    """The logger to give ``web.AppRunner(logger=...)``; its filter is installed once."""
    logger = logging.getLogger(NAME)
    with _installed:
        if not any(isinstance(f, BadRequestLines) for f in logger.filters):
            logger.addFilter(BadRequestLines())
    return logger
