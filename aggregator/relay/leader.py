"""One relay process posts; the others stand by and take over within seconds.

Several relay processes may run (docker-compose restarts, a standby, ``relay`` started
beside ``run``): the leader lock (``store.leader_lock``) lets exactly one deliver.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..store import LeaderLock, run_while_leader
from .delivery import Relay

#: The name of the relay's lock; other leaders (the newsletter, ActivityPub) take their own.
RELAY_LOCK = "relay"


async def relay_while_leader(lock: LeaderLock, relay: Relay, stop: asyncio.Event, *, poll: float = 5.0) -> None:
    """Deliver while this process holds the lock; stand by otherwise; until ``stop``."""
    await run_while_leader(lock, stop, relay.run_forever, poll=poll)


async def relay_once_if_leader(lock: LeaderLock, relay: Relay) -> list[dict[str, Any]] | None:
    """``relay --once``: one round unless another relay process is active (then None)."""
    if not await asyncio.to_thread(lock.try_acquire):
        return None
    try:
        return list(await relay.run_once())
    finally:
        await asyncio.to_thread(lock.release)
