"""Host-wide pauses (429/503 Retry-After) and the per-host spacing shared between processes.

The rule (docs/crawling.md, "Fetching rules"): a Retry-After pauses the whole host, not only the URL that got it, because a
small site that says "too many requests" means all of them. One process remembers the
pauses in memory (:class:`BlockedHosts`); several crawler processes on one database share
them, and the spacing between two requests to a host, through a store that satisfies
:class:`SharedHosts`. That store is ``aggregator.store.hosts.HostRepo`` (PostgreSQL's
``hosts`` table), matched structurally: fetch must not import store, so the seam is
declared here, on the side that needs it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .. import logs
from ..model import Clock
from .headers import as_utc

log = logs.get(__name__)

DEFAULT_429_WAIT = 60.0  # seconds, when a 429 names no Retry-After
MAX_HOST_WAIT = 86400.0  # seconds: a Retry-After of a year would silence a source forever
BLOCK_CACHE_SECONDS = 5.0  # a healthy host costs one database read per this many seconds


class HostBlocks(Protocol):
    """Where host pauses (Retry-After) are shared between crawler processes.

    Both calls are synchronous and may hit a database; the client runs them in a thread.
    Dates are UTC; a naive one (SQLite) is read as UTC.
    """

    def blocked_until(self, host: str) -> datetime | None:
        """The end of the host's pause as last recorded by any process, or None."""
        ...

    def block(self, host: str, until: datetime) -> None:
        """Record that ``host`` asked every process to wait until ``until``."""
        ...


class HostSlots(Protocol):
    """Where request start times per host are booked between crawler processes.

    The in-process politeness spaces one process's requests; processes that book their
    slots here keep about one delay between two request starts to a host between them.
    Synchronous, may hit a database.
    """

    def reserve(self, host: str, delay: float) -> float:
        """Book the next start for ``host``, ``delay`` after the previous one; seconds to wait."""
        ...


class SharedHosts(HostBlocks, HostSlots, Protocol):
    """Both capabilities, as one store provides them: what ``HttpClient(host_blocks=...)`` takes.

    Two protocols, not one, because the two are used apart (:class:`BlockedHosts` needs
    only the pauses, :func:`take_shared_turn` only the slots) and a stand-in for one need
    not fake the other. The client takes them together because the only store that has
    them, the ``hosts`` table, has both, and callers should not be able to share one
    without the other.
    """


@dataclass
class _Block:
    until: datetime | None  # None: checked, not blocked
    checked: float  # monotonic time of the last store read


class BlockedHosts:
    """This process's memory of which hosts asked us to wait, backed by an optional store.

    Without a store the memory is the truth. With one, a host's entry is re-read from the
    store at most every ``BLOCK_CACHE_SECONDS`` (other processes may have blocked it), so a
    healthy host costs one read per that interval, not one per request. Entries that are
    stale and not blocking are swept, so crawling thousands of hosts keeps memory bounded.
    """

    def __init__(self, store: HostBlocks | None, clock: Clock):
        self.store = store
        self.clock = clock
        self._blocks: dict[str, _Block] = {}
        self._next_sweep = 0.0

    async def until(self, host: str, *, consult_store: bool) -> datetime | None:
        """The end of the host's pause if it is still running, from memory or the store.

        ``consult_store=False`` answers from memory only: for the re-check right before a
        request, where another request to the host may just have been told to wait.
        """
        now_m = time.monotonic()
        self._sweep(now_m)
        entry = self._blocks.get(host)
        stale = entry is None or now_m - entry.checked >= BLOCK_CACHE_SECONDS
        if self.store is not None and consult_store and stale:
            stored = as_utc(await asyncio.to_thread(self.store.blocked_until, host))
            known = entry.until if entry is not None else None
            entry = self._blocks[host] = _Block(_latest(known, stored), now_m)
        if entry is None or entry.until is None:
            return None
        if entry.until <= self.clock():
            entry.until = None
            if self.store is None:
                del self._blocks[host]
            return None
        return entry.until

    async def block(self, host: str, until: datetime) -> None:
        """Pause ``host`` until ``until`` here at once, then in the store for the others."""
        entry = self._blocks.get(host)
        self._blocks[host] = _Block(
            _latest(entry.until if entry else None, until),
            entry.checked if entry else time.monotonic(),
        )
        if self.store is not None:
            await asyncio.to_thread(self.store.block, host, until)
        log.info("fetch.host_blocked", host=host, until=until.isoformat())

    def _sweep(self, now_m: float) -> None:
        """Drop cached host checks that are stale and not blocking (bounded memory)."""
        if now_m < self._next_sweep:
            return
        self._next_sweep = now_m + BLOCK_CACHE_SECONDS
        now = self.clock()
        for host in [
            h
            for h, b in self._blocks.items()
            if (b.until is None or b.until <= now) and now_m - b.checked >= BLOCK_CACHE_SECONDS
        ]:
            del self._blocks[host]


async def take_shared_turn(slots: HostSlots | None, host: str, delay: float) -> None:
    """Wait for this host's next start booked in the shared store, if there is one.

    Called last, right before the request and inside the in-process politeness slot, so
    no other wait comes between the booked start and the real one. The wait is capped at
    ``MAX_HOST_WAIT`` like a Retry-After, for the same reason: one bad value in the store
    must not silence a host for good.
    """
    if slots is None or delay <= 0:
        return
    wait = float(await asyncio.to_thread(slots.reserve, host, delay))
    if wait > 0:
        await asyncio.sleep(min(wait, MAX_HOST_WAIT))


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


__all__ = [
    "BLOCK_CACHE_SECONDS",
    "DEFAULT_429_WAIT",
    "MAX_HOST_WAIT",
    "BlockedHosts",
    "HostBlocks",
    "HostSlots",
    "SharedHosts",
    "take_shared_turn",
]
