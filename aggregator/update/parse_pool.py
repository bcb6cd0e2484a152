"""Parsing in worker processes, so both cores of a small VPS parse (parsing is the bottleneck).

``ParsePool`` owns its ``ProcessPoolExecutor``: the factory opens it and closes it in
order. With ``workers <= 1`` documents are parsed in the calling thread (tests, one core).
"""

from __future__ import annotations

import asyncio
import multiprocessing
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
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
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
