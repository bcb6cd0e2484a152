"""Structured logs: one event name per outcome, with fields (``source``, ``status``, ``new``...).

Modules log through ``logs.get(name)``, whose methods take the event and its fields as
keyword arguments::

    log = logs.get("aggregator.crawl")
    log.info("crawl.source", source=slug, status="ok", new=3)

The formatter prints ``event key=value ...`` on a terminal or one JSON object per line for
collectors. Records made by other libraries, or with plain ``extra={...}``, keep their
fields too: every attribute a record has beyond the standard ones is printed.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

#: The attributes every ``LogRecord`` has; anything else on a record is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "fields"}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: ``fields`` first, then any plain extras."""
    fields: dict[str, Any] = dict(getattr(record, "fields", None) or {})
    for key, value in vars(record).items():
        if key not in _STANDARD and not key.startswith("_"):
            fields.setdefault(key, value)
    return fields


class EventLogger:
    """A ``logging.Logger`` whose methods take an event name and keyword fields."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger

    def _log(self, level: int, event: str, fields: dict[str, Any], exc_info: bool = False) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(level, event, extra={"fields": fields}, exc_info=exc_info, stacklevel=3)

    def debug(self, event: str, /, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, /, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, /, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, /, **fields: Any) -> None:
        """An error with the traceback of the exception being handled (a bug)."""
        self._log(logging.ERROR, event, fields, exc_info=True)


def get(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name))


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        event = record.getMessage()
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if self.as_json:
            data = {"time": stamp, "level": record.levelname.lower(), "event": event, **fields}
            if record.exc_info:
                data["traceback"] = self.formatException(record.exc_info)
            return json.dumps(data, ensure_ascii=False, default=str)
        text = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        line = f"{stamp} {record.levelname.lower():7} {event} {text}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text or '"' in text) else text


def setup(level: str = "INFO", fmt: str | None = None) -> None:
    """Log to stderr; JSON unless stderr is a terminal (or as ``fmt`` says)."""
    as_json = (fmt or ("text" if sys.stderr.isatty() else "json")) == "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(as_json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "httpx", "atproto", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
