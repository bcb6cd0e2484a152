"""Many loopback feed servers on many 127.0.0.x hosts, and what their request logs show.

Linux routes all of 127.0.0.0/8 to loopback, so each ``FeedServer`` on its own address is
a separate host for the crawler's per-host politeness. Sources are spread round-robin
over the hosts, so every batch a crawler leases touches many hosts and several crawler
processes compete for the same hosts (what the spacing check is about).
"""

from __future__ import annotations

import itertools
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tests.crawl.helpers import rss
from tests.feedserver import FeedServer


@dataclass
class Farm:
    """The servers, and the source number -> (server, path) map."""

    servers: list[FeedServer]
    paths: dict[int, tuple[FeedServer, str]] = field(default_factory=dict)
    items_per_feed: int = 3

    def url(self, n: int) -> str:
        server, path = self.paths[n]
        return server.url(path)

    def slug(self, n: int) -> str:
        return f"s{n:05d}"

    def write_config(self, path: Path, extra: str = "") -> Path:
        lines = ["sources:"]
        for n in sorted(self.paths):
            lines += [f"  - name: Source {n}", f"    slug: {self.slug(n)}", f"    url: {self.url(n)}"]
        path.write_text(extra + "\n".join(lines) + "\n", encoding="utf-8")
        return path

    def requests_per_source(self) -> Counter[str]:
        """How many times each source's feed was requested (every server's log)."""
        by_path = {(id(server), path): n for n, (server, path) in self.paths.items()}
        counts: Counter[str] = Counter()
        for server in self.servers:
            for r in server.requests:
                n = by_path.get((id(server), r.path))
                if n is not None:
                    counts[self.slug(n)] += 1
        return counts

    def min_gap_per_host(self) -> dict[str, float]:
        """The smallest time between two request starts to each host (inf: one request)."""
        gaps = {}
        for server in self.servers:
            starts = sorted(r.time for r in server.requests)
            gaps[server.host] = min((b - a for a, b in itertools.pairwise(starts)), default=float("inf"))
        return gaps

    def total_requests(self) -> int:
        return sum(len(s.requests) for s in self.servers)


def feed_body(n: int, items: int, *, generation: int = 0) -> str:
    when = datetime(2026, 11, 20, 10, 0) - timedelta(minutes=n % 600)
    return rss(
        [(f"src{n}-item{i}-g{generation}", f"Article {i} de la source {n}") for i in range(items)],
        title=f"Source {n}", link=f"https://source{n}.example/", when=when,
    )


async def start_farm(stack: AsyncExitStack, sources: int, hosts: int, *, items: int = 3,
                     body: str | None = None) -> Farm:
    """``sources`` feeds (with ETag, so a second pass gets 304) over ``hosts`` addresses.

    ``body``: serve this same document for every feed (the benchmark's realistic feed);
    otherwise each feed gets ``items`` small items of its own.
    """
    servers = [await stack.enter_async_context(FeedServer(host=f"127.0.0.{2 + h}")) for h in range(hosts)]
    farm = Farm(servers, items_per_feed=items)
    for n in range(sources):
        server = servers[n % hosts]
        path = f"/feed/{n}.xml"
        server.add(path, body if body is not None else feed_body(n, items), etag=f'"v{n}"')
        farm.paths[n] = (server, path)
    return farm
