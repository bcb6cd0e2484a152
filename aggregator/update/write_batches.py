"""Group commit: the crawl's writes queued while one is under way are written together.

A first crawl stores thousands of sources. Written one transaction each, from several
threads, they queue at SQLite's write lock (whose busy handler sleeps, so the lock sits
idle between writers) and pay a commit each: that, not fetching or parsing, was where a
crawl's time went (bench/crawl.py --profile). ``BatchWriter`` keeps one write in flight:
sources that finish while it runs wait in a queue and go into the next transaction
together, so batches grow with the load and a lone source is written at once.

One batch failing does not fail its neighbours: its sources are written again one by
one, and each gets its own result or its own exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from .. import logs

log = logs.get("aggregator.crawl")

T = TypeVar("T")
R = TypeVar("R")


class BatchWriter(Generic[T, R]):
    """``await writer.submit(item)``: ``write`` runs in a thread over a batch of items.

    Args:
        write: writes a batch in one transaction; returns one result per item, in order.
        max_items: the most items in one batch (bounds a transaction's length, so other
            writers, such as the web's forms, are not kept waiting long).
        same_batch: whether an item may join a batch already holding others (e.g. not
            the same source twice); one that may not waits for the next batch.
    """

    def __init__(
        self,
        write: Callable[[list[T]], list[R]],
        *,
        max_items: int = 64,
        same_batch: Callable[[T, Sequence[T]], bool] = lambda item, batch: True,
    ):
        self.write = write
        self.max_items = max(1, max_items)
        self.same_batch = same_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its result (or its exception)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._run())
        return await future

    async def close(self) -> None:
        """Wait for the write under way and those queued (a transaction is never cut)."""
        while self._drain is not None and not self._drain.done():
            await asyncio.shield(self._drain)

    async def _run(self) -> None:
        while self._queue:
            batch: list[tuple[T, asyncio.Future[R]]] = []
            rest: list[tuple[T, asyncio.Future[R]]] = []
            for entry in self._queue:
                if entry[1].done():
                    continue  # its waiter was cancelled before the write began: nothing to do
                if len(batch) < self.max_items and self.same_batch(entry[0], [b[0] for b in batch]):
                    batch.append(entry)
                else:
                    rest.append(entry)
            self._queue = rest
            if not batch:
                continue
            outcomes = await asyncio.to_thread(self._write_batch, [item for item, _ in batch])
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # cancelled meanwhile; the write itself is whole
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _write_batch(self, items: list[T]) -> list[R | BaseException]:
        try:
            return list(self.write(items))
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            log.warning("crawl.batch_retried", items=len(items), error=f"{exc.__class__.__name__}: {exc}")
        out: list[R | BaseException] = []
        for item in items:
            try:
                out.extend(self.write([item]))
            except Exception as exc:
                out.append(exc)
        return out
