"""Group commit: what waits while a write runs goes into the next batch; failures stay local."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aggregator.errors import StoreError
from aggregator.update.write_batches import BatchWriter


class Recorder:
    """A real blocking write (in BatchWriter's thread) that the test can hold open."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.release.set()

    def write(self, items: list[str]) -> list[str]:
        self.release.wait(10)
        if "bad" in items:
            raise StoreError("database write failed: one bad row")
        self.batches.append(list(items))
        return [item.upper() for item in items]


async def test_items_queued_during_a_write_share_the_next_transaction() -> None:
    recorder = Recorder()
    writer: BatchWriter[str, str] = BatchWriter(recorder.write, max_items=3)
    recorder.release.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0)  # "a" is being written (held)
    later = [asyncio.create_task(writer.submit(x)) for x in "bcde"]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == "A"
    assert [await t for t in later] == ["B", "C", "D", "E"]
    await writer.close()
    assert recorder.batches == [["a"], ["b", "c", "d"], ["e"]]


async def test_a_failing_batch_is_written_again_one_by_one() -> None:
    recorder = Recorder()
    writer: BatchWriter[str, str] = BatchWriter(recorder.write)
    recorder.release.clear()
    first = asyncio.create_task(writer.submit("a"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writer.submit(x)) for x in ("b", "bad", "c")]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await first == "A"
    assert await rest[0] == "B" and await rest[2] == "C"
    with pytest.raises(StoreError, match="one bad row"):
        await rest[1]
    assert recorder.batches == [["a"], ["b"], ["c"]]


async def test_an_item_that_may_not_join_a_batch_waits_for_the_next() -> None:
    recorder = Recorder()
    writer: BatchWriter[str, str] = BatchWriter(recorder.write, same_batch=lambda item, batch: item not in batch)
    recorder.release.clear()
    first = asyncio.create_task(writer.submit("x"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writer.submit(x)) for x in ("a", "a", "b")]
    await asyncio.sleep(0)
    recorder.release.set()
    await asyncio.gather(first, *rest)
    await writer.close()
    assert recorder.batches == [["x"], ["a", "b"], ["a"]]
