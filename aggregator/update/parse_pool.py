"""Parsing in worker processes, so both cores of a small VPS parse (parsing is the bottleneck).

``ParsePool`` owns its ``ProcessPoolExecutor``: the factory opens it and closes it in
order. With ``workers <= 1`` documents are parsed in the calling thread (tests, one core).

A worker never outlives the process that started it: a parent killed with SIGKILL (an OOM
kill, a power cut of the container) cannot close its pool, so each worker watches for
itself (``watch_parent``): on Linux the kernel signals it when its parent dies
(``PR_SET_PDEATHSIG``), and everywhere a thread checks every second that its parent is
still the one that started it. Once the workers are gone, multiprocessing's resource
tracker (which they keep open) sees the end of its pipe and exits too.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from ..model import ParsedFeed
from ..parse.feed import parse_feed


class ParsePool:
    """``await pool.parse(body, ...)``: ``parse_feed`` in a worker process."""

    def __init__(self, workers: int):
        # "spawn", not fork: a forked worker would inherit open descriptors such as the
        # search index's lock file (held while a sync runs) and keep the index locked forever.
        self._executor = (
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                initializer=watch_parent, initargs=(os.getpid(),))
            if workers > 1 else None
        )

    async def parse(self, body: bytes, *, url: str, content_type: str | None, charset: str | None) -> ParsedFeed:
        call: Callable[[], ParsedFeed] = partial(parse_feed, body, url=url, content_type=content_type, charset=charset)
        if self._executor is None:
            return call()
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def close(self) -> None:
        """Stop the workers in order: queued parses are cancelled, one under way ends first.

        Workers left behind by an exiting parent print tracebacks when their queue breaks.
        """
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> ParsePool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


#: Seconds between two checks of the portable watch (the Linux signal is immediate).
PARENT_CHECK_EVERY = 1.0
_PR_SET_PDEATHSIG = 1


def watch_parent(parent: int) -> None:
    """Worker initializer: exit as soon as ``parent`` (the pool's process) is gone.

    The kernel's parent-death signal is tied to the *thread* that started the worker, not
    the process, so it is a nudge (SIGUSR1) that makes the worker check, not a SIGKILL: a
    worker started from a thread that has since ended keeps working for its live parent.
    """
    signal.signal(signal.SIGUSR1, lambda signum, frame: _exit_if_orphaned(parent))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watch thread below still ends it within a second
    _exit_if_orphaned(parent)  # the parent may have died before the signal was armed
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_if_orphaned(parent: int) -> None:
    if os.getppid() != parent:
        os._exit(0)  # nothing to hand back: the parent that wanted the result is gone


def _watch(parent: int) -> None:
    while True:
        _exit_if_orphaned(parent)
        time.sleep(PARENT_CHECK_EVERY)
