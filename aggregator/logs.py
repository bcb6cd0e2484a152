"""Structured logs: one event name per outcome, with fields (``source``, ``status``, ``new``...).

Loggers are called as ``log.info("crawl.source", extra={"fields": {...}})``; the formatter
prints ``event key=value ...`` on a terminal or one JSON object per line for collectors.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


class _Formatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {}) or {}
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
