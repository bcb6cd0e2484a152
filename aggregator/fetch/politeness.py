"""Per-host politeness: few requests at a time, spaced out, under a global bound.

Small independent sites run on shared hosting that falls over (or bans us) when a
crawler opens ten connections at once; Mutu sites share a few servers. So each host
(keyed by hostname: 127.0.0.2 and 127.0.0.3 are two hosts) gets at most
``per_host_limit`` requests in flight and about ``per_host_delay`` seconds between two
request starts, and the whole process at most ``global_limit`` requests in flight.

State is kept only for hosts in use or started within the last ``per_host_delay``
seconds, so crawling thousands of hosts keeps memory bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

#: How often (seconds) idle host state is swept away at the latest.
SWEEP_INTERVAL = 10.0


class _Host:
    """What is remembered about one host while it is in use."""

    __slots__ = ("last_start", "next_slot", "semaphore", "users")

    def __init__(self, limit: int):
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0  # in flight plus waiting; the state may go only when it is 0
        self.next_slot = float("-inf")  # earliest start handed out to the next waiter
        self.last_start = float("-inf")  # when the latest request really started


class Politeness:
    """Hands out request slots per host; use as ``async with politeness.slot(host):``."""

    def __init__(
        self,
        *,
        per_host_limit: int = 2,
        per_host_delay: float = 1.0,
        global_limit: int = 16,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if per_host_limit < 1 or global_limit < 1:
            raise ValueError("per_host_limit and global_limit must be at least 1")
        self.per_host_limit = per_host_limit
        self.per_host_delay = max(0.0, per_host_delay)
        self._global = asyncio.Semaphore(global_limit)
        self._hosts: dict[str, _Host] = {}
        self._monotonic = monotonic
        self._next_sweep = monotonic() + SWEEP_INTERVAL

    def __len__(self) -> int:
        """Number of hosts whose state is currently kept (for memory checks)."""
        return len(self._hosts)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait until a request to ``host`` may start; hold the slot while it runs."""
        self._maybe_sweep()
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(self.per_host_limit)
        state.users += 1
        try:
            async with state.semaphore:
                await self._wait_turn(state)
                # Waiting for the global bound does not hold a global slot while sleeping
                # for a host's spacing; the re-check below covers the rare case where the
                # global wait let two starts to one host come closer than the delay.
                async with self._global:
                    await self._start_gate(state)
                    yield
        finally:
            state.users -= 1
            if state.users == 0 and self._monotonic() >= state.last_start + self.per_host_delay:
                self._hosts.pop(host, None)

    async def _wait_turn(self, state: _Host) -> None:
        """Reserve the next start time for this host, spaced by the delay, and sleep until it."""
        now = self._monotonic()
        start = max(now, state.next_slot)
        state.next_slot = start + self.per_host_delay
        if start > now:
            await asyncio.sleep(start - now)

    async def _start_gate(self, state: _Host) -> None:
        """Make sure no other start to this host happened within the delay, then start."""
        while True:
            now = self._monotonic()
            wait = state.last_start + self.per_host_delay - now
            if wait <= 0:
                state.last_start = now
                state.next_slot = max(state.next_slot, now + self.per_host_delay)
                return
            await asyncio.sleep(wait)

    def _maybe_sweep(self) -> None:
        """Forget idle hosts whose spacing no longer matters (bounded memory)."""
        now = self._monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        idle = [
            name
            for name, state in self._hosts.items()
            if state.users == 0 and now >= state.last_start + self.per_host_delay
        ]
        for name in idle:
            del self._hosts[name]
