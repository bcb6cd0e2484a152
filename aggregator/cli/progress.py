"""A progress bar on a terminal that log lines and messages are written above, never into.

The bar is one line redrawn in place (``\\r`` and "erase to end of line"). Anything else
written to the terminal meanwhile (a log record, a failed source) first erases the bar,
is written as a whole line, then the bar is drawn again below it. The bar is cut to the
terminal's width: a line that wrapped could not be redrawn in place.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import TextIO

ERASE = "\r\x1b[K"


class ProgressBar:
    def __init__(self, stream: TextIO, *, width: int = 30):
        self.stream = stream
        self.width = width
        self._line = ""
        self._lock = threading.RLock()  # log records may come from worker threads

    def _columns(self) -> int:
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError):
            return 80

    def update(self, done: int, total: int, label: str) -> None:
        filled = int(self.width * done / max(total, 1))
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {label}"
        with self._lock:
            self._line = line[: max(self._columns() - 1, 10)]
            self.stream.write(ERASE + self._line)
            self.stream.flush()

    def say(self, text: str) -> None:
        """Write ``text`` as whole lines above the bar."""
        with self._lock:
            self.stream.write(ERASE + text.rstrip("\n") + "\n" + self._line)
            self.stream.flush()

    def close(self) -> None:
        """Leave the last state of the bar on its own line."""
        with self._lock:
            if self._line:
                self.stream.write("\n")
                self.stream.flush()
            self._line = ""

    @contextlib.contextmanager
    def above_logs(self) -> Iterator[ProgressBar]:
        """While in the block, log records written to this stream go above the bar."""
        root = logging.getLogger()
        original = list(root.handlers)
        root.handlers[:] = [_Above(h, self) if _writes_to(h, self.stream) else h for h in original]
        try:
            yield self
        finally:
            root.handlers[:] = original
            self.close()


def _writes_to(handler: logging.Handler, stream: TextIO) -> bool:
    return isinstance(handler, logging.StreamHandler) and handler.stream is stream


class _Above(logging.Handler):
    """Erases the bar, lets the real handler write its record, draws the bar again."""

    def __init__(self, handler: logging.Handler, bar: ProgressBar):
        super().__init__(handler.level)
        self.handler = handler
        self.bar = bar
        self.filters = handler.filters

    def emit(self, record: logging.LogRecord) -> None:
        with self.bar._lock:
            self.bar.stream.write(ERASE)
            self.handler.handle(record)
            self.bar.stream.write(self.bar._line)
            self.bar.stream.flush()


class DropEvents(logging.Filter):
    """Drops the records of these events: the command says the same thing itself."""

    def __init__(self, *events: str):
        super().__init__()
        self.events = frozenset(events)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in self.events


@contextlib.contextmanager
def events_said_by_the_command(*events: str) -> Iterator[None]:
    """Silence these log events while the command prints its own line for each of them."""
    drop = DropEvents(*events)
    handlers = list(logging.getLogger().handlers)
    for h in handlers:
        h.addFilter(drop)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(drop)
