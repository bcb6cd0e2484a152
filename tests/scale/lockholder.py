"""A process that competes for a LeaderLock and prints each change of its state.

Run as ``python -m tests.scale.lockholder DATABASE_URL NAME [lead]``; prints ``leader``,
``standby`` and ``lost`` lines (flushed) so a test can follow who leads; with ``lead``,
runs ``run_while_leader`` and prints ``working``/``stopped`` around its work.
"""

from __future__ import annotations

import sys
import time

from aggregator.store import Store
from aggregator.store.locks import LeaderLock


def main(url: str, name: str, every: float = 0.2) -> None:
    store = Store(url)
    lock = LeaderLock(store.db, name)
    state = ""
    while True:
        if state == "leader":
            new = "leader" if lock.still_held() else "lost"
        else:
            new = "leader" if lock.try_acquire() else "standby"
        if new != state:
            print(new, flush=True)
            state = new
        time.sleep(every)




async def lead(url: str, name: str) -> None:
    """``run_while_leader`` with a work that prints ``working`` and ``stopped``."""
    import asyncio
    import signal

    from aggregator.store.locks import run_while_leader

    store = Store(url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def work(done: asyncio.Event) -> None:
        print("working", flush=True)
        await done.wait()
        print("stopped", flush=True)

    print("standby", flush=True)
    await run_while_leader(LeaderLock(store.db, name), stop, work, poll=0.3)
    store.close()
    print("exited", flush=True)


if __name__ == "__main__":
    if sys.argv[3:] == ["lead"]:
        import asyncio

        asyncio.run(lead(sys.argv[1], sys.argv[2]))
    else:
        main(sys.argv[1], sys.argv[2])
