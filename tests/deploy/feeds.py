"""The feeds and the Mastodon the stack's containers reach: real servers run by the test on the host.

Containers on the compose network reach the host at the network's gateway address, which
podman names ``host.containers.internal`` inside every container. The servers bind that
address only (it exists once the network's first container runs), so nothing listens
beyond this machine. Each feed serves real conditional GET (ETag), and grows by two
articles per ``publish`` ("generations"), dated minutes ago so the relay's backlog
window takes them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

from tests.feedserver import FeedServer
from tests.relay.mastodon_fake import FakeMastodon

HOST_NAME = "host.containers.internal"
ITEMS_PER_GENERATION = 2


def guid(n: int, generation: int, k: int) -> str:
    return f"s{n}-g{generation}-i{k}"


def title(n: int, generation: int, k: int) -> str:
    # four words or more and unique: every article is a story of its own
    return f"Article {k} de la source {n}, génération {generation}"


def feed_document(n: int, generation: int, base: str, now: datetime) -> str:
    items = []
    for g in range(generation, -1, -1):
        for k in range(ITEMS_PER_GENERATION):
            when = now - timedelta(minutes=60 - 10 * g - k)
            items.append(
                f"<item><title>{escape(title(n, g, k))}</title>"
                f"<link>{base}/articles/{n}/{g}/{k}</link>"
                f'<guid isPermaLink="false">{guid(n, g, k)}</guid>'
                f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
                f"<description><![CDATA[<p>Texte de l'article {k} de la source {n}.</p>]]></description></item>"
            )
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Source {n}</title><link>{base}/</link><description>Infos</description>"
            f"<language>fr</language>{''.join(items)}</channel></rss>")


@dataclass
class Feeds:
    """``count`` feeds on one server bound to the gateway address; ``relayed`` of them relayed."""

    server: FeedServer
    count: int
    relayed: int
    generation: dict[int, int] = field(default_factory=dict)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def base(self) -> str:
        """The server as containers see it."""
        return f"http://{HOST_NAME}:{self.server.port}"

    @staticmethod
    def slug(n: int) -> str:
        return f"s{n:03d}"

    def path(self, n: int) -> str:
        return f"/feed/{n}.xml"

    def publish(self, n: int, generation: int) -> None:
        self.generation[n] = generation
        self.server.add(self.path(n), feed_document(n, generation, self.base, self.started),
                        etag=f'"{n}-{generation}"')

    def expected_guids(self) -> set[tuple[str, str]]:
        """(source slug, guid) of every article the feeds serve now."""
        return {(self.slug(n), guid(n, g, k)) for n, gen in self.generation.items()
                for g in range(gen + 1) for k in range(ITEMS_PER_GENERATION)}

    def unconditional_gets(self) -> Counter[str]:
        """Requests without If-None-Match per source: a second one means a source fetched twice
        before its first fetch was stored (once stored, the crawler sends its ETag)."""
        by_path = {self.path(n): self.slug(n) for n in range(self.count)}
        return Counter(by_path[r.path] for r in self.server.requests
                       if r.path in by_path and "If-None-Match" not in r.headers)

    def write_config(self, path: Path, mastodon: str) -> None:
        lines = [
            "settings:",
            '  user_agent: "aggregator deployment test"',
            # every source due again 20 s after a fetch: the restart step sees new articles soon
            "  min_interval: 20s",
            "  max_interval: 20s",
            "  per_host_delay: 0.08",
            "relay:",
            "  mastodon:",
            f"    api_base_url: {mastodon}",
            "  max_posts_per_hour: 1000",
            "sources:",
        ]
        for n in range(self.count):
            lines += [f"  - name: Source {n}", f"    slug: {self.slug(n)}", f"    url: {self.base}{self.path(n)}",
                      "    language: fr", f"    relay: {'true' if n < self.relayed else 'false'}"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o644)  # read by the image's non-root user through the read-only mount


async def start_feeds(gateway: str, count: int, relayed: int) -> Feeds:
    server = await FeedServer(host=gateway).start()
    feeds = Feeds(server, count, relayed)
    for n in range(count):
        feeds.publish(n, 0)
    return feeds


async def start_mastodon(gateway: str, token: str) -> tuple[FakeMastodon, str]:
    """The tests' stateful Mastodon fake, also listening on the gateway; returns it and its URL."""
    fake = FakeMastodon(token=token)
    await fake.start()  # on 127.0.0.1
    assert fake._runner is not None
    site = web.TCPSite(fake._runner, gateway, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"http://{HOST_NAME}:{port}"
    return fake, fake.base
