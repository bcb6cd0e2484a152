"""A rate limit for strangers' suggestions, in memory, without keeping anyone's address for long.

Per client (the address the application sees, ``request.remote``) and for everyone
together: each accepted suggestion may cost an outbound fetch, so the total is bounded
even when many addresses take part. Windows slide; a client unseen for a window is
forgotten, and at most ``max_clients`` are remembered at once. Behind a reverse proxy
every request comes from the proxy's address: limit ``/suggest`` in the proxy itself
(docs/web.md, "Readers suggest sources").
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    """At most ``per_client`` per client and ``overall`` in all, per ``window`` seconds."""

    def __init__(
        self,
        *,
        per_client: int = 5,
        overall: int = 60,
        window: float = 600.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self.max_clients = max_clients
        self.clock = clock
        self._clients: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def _prune(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def check(self, client: str) -> float | None:
        """None when ``client`` may go on (the attempt is counted), else seconds to wait."""
        now = self.clock()
        self._prune(self._all, now)
        times = self._clients.get(client)
        if times is not None:
            self._prune(times, now)
            self._clients.move_to_end(client)
        waits = []
        if times is not None and len(times) >= self.per_client:
            waits.append(times[0] + self.window - now)
        if len(self._all) >= self.overall:
            waits.append(self._all[0] + self.window - now)
        if waits:
            return max(1.0, max(waits))
        if times is None:
            times = self._clients[client] = deque()
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        times.append(now)
        self._all.append(now)
        return None
