"""A process that competes for a LeaderLock and prints each change of its state.

Run as ``python -m tests.scale.lockholder DATABASE_URL NAME``; prints ``leader``,
``standby`` and ``lost`` lines (flushed) so a test can follow who leads.
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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
