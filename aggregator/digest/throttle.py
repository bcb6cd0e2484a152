"""Per-client limits on the newsletter's forms: a flood costs the flooder, not the readers.

A subscription request makes the server send a mail to an address a stranger typed, so
the form is an obvious way to use the site against third parties (mail bombing), and
any form is a way to load the database. Each client gets a token bucket per kind of
request, and the subscription form also has one bucket for everyone, so that a
distributed flood still cannot turn the site into a mail cannon (the per-address limit,
one confirmation mail an hour, is ``subscriptions.CONFIRM_INTERVAL``).

In memory, per process, bounded: the least recently seen clients are forgotten past
``max_clients``. A restart forgets everything, which only ever lets a flooder start over
once. The client is the TCP peer; when the peer is a reverse proxy on this machine or on
a private network, the address it appended to ``X-Forwarded-For`` (the last one) is used
instead. IPv6 clients are grouped by /64, the block one subscriber line usually gets.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``burst`` requests at once, then one every ``every`` seconds."""

    burst: int
    every: float


#: Subscription requests: 5 at once, then one every 2 minutes per client; for everyone
#: together, 60 at once then one every 10 seconds (360 an hour at most).
SUBSCRIBE = Rate(burst=5, every=120.0)
SUBSCRIBE_ALL = Rate(burst=60, every=10.0)
#: Buttons behind links (confirm, unsubscribe, preferences): generous, a person clicks.
BUTTONS = Rate(burst=30, every=2.0)


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float):
        self.tokens = tokens
        self.at = at

    def take(self, rate: Rate, now: float) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(float(rate.burst), self.tokens + (now - self.at) / rate.every)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) * rate.every


class ClientLimits:
    """Token buckets by (kind, client), plus one shared bucket per kind when asked."""

    def __init__(self, rates: Mapping[str, Rate], *, overall: Mapping[str, Rate] | None = None,
                 max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self.rates = dict(rates)
        self.overall = dict(overall or {})
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._shared: dict[str, _Bucket] = {}

    def check(self, kind: str, client: str) -> float:
        """0 when the request may go on, else how many seconds to wait (Retry-After)."""
        now = self.clock()
        rate = self.rates[kind]
        bucket = self._buckets.get((kind, client))
        if bucket is None:
            bucket = self._buckets[(kind, client)] = _Bucket(float(rate.burst), now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end((kind, client))
        wait = bucket.take(rate, now)
        if wait or kind not in self.overall:
            return wait
        shared_rate = self.overall[kind]
        shared = self._shared.setdefault(kind, _Bucket(float(shared_rate.burst), now))
        return shared.take(shared_rate, now)


def client_key(peer: str | None, forwarded_for: str | None) -> str:
    """Who is asking, as a limit key (see the module docstring)."""
    address = _ip(peer)
    if address is not None and (address.is_loopback or address.is_private) and forwarded_for:
        last = forwarded_for[-200:].split(",")[-1].strip()
        forwarded = _ip(last)
        if forwarded is not None:
            address = forwarded
    if address is None:
        return peer or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        value = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        return value.ipv4_mapped
    return value
