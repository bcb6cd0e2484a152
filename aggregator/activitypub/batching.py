"""Group commit: what concurrent requests write is written together, in one transaction.

The inbox records every activity in the replay guard, and the fan-out records every 2xx: a
database transaction each. When many of them run at once, each waiting for its own commit
costs more than the work itself. :class:`GroupCommit` queues the items of concurrent
callers; one call of ``write`` (in a thread) takes everything queued while the previous call
ran, and each caller gets its own results back. Nothing is delayed when there is no
concurrency: a lone caller's items are written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Batches calls of ``write(items) -> results`` (one result per item, in order)."""

    def __init__(self, write: Callable[[list[T]], Sequence[R]]):
        self.write = write
        self._queue: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.calls = 0  # how many writes were made (tests, metrics)

    async def submit(self, items: Sequence[T]) -> list[R]:
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._queue.append((list(items), future))
        if self._writer is None or self._writer.done():
            # A task of its own: a caller that is cancelled does not strand the others.
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            flat = [item for items, _ in batch for item in items]
            self.calls += 1
            try:
                results = list(await asyncio.to_thread(self.write, flat))
            except Exception as exc:  # every caller of this batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for items, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(items)])
                start += len(items)
