"""What the two-relay-processes test needs: a paced Mastodon fake, a filled outbox, log reading.

The real relay posts a dozen rows in well under a second against the fake, too fast to
kill the leader mid-round; ``PacedMastodon`` answers each post after a short delay and
hangs on one chosen post after committing it, so the kill lands at a known moment: some
rows posted, one posted on the server but still ``sending`` in the outbox.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from aggregator.model import EntryData, SourceConfig
from aggregator.parse.identity import content_hash
from aggregator.store import Store
from tests.building import store_entries
from tests.relay.mastodon_fake import FakeMastodon


@dataclass
class PacedMastodon(FakeMastodon):
    """The stateful fake, answering each status post after ``delay`` s, hanging on post ``hang_on``."""

    delay: float = 0.4
    hang_on: int | None = None  # the n-th own post (1-based) is committed, then never answered
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def post_status(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.delay)
        if self.hang_on is not None and not self.hanging.is_set() and len(self.own_posts()) == self.hang_on - 1:
            self.hang_after_commit = True  # the base class clears it once used
            self.hanging.set()
        return await super().post_status(request)

    def links(self) -> Counter[str]:
        """How many own statuses link to each URL (the fake renders links as ``href``)."""
        found = (re.search(r'href="([^"]+)"', s["content"]) for s in self.own_posts())
        return Counter(m.group(1) for m in found if m)


SOURCE = SourceConfig(slug="media", name="Le Média", kind="feed", url="https://media.example/feed", language="fr")


def write_config(path: Path, mastodon: str) -> Path:
    """sources.yaml: the one source, the relay's Mastodon target, no hourly cap in the way."""
    path.write_text(
        "relay:\n"
        f"  mastodon:\n    api_base_url: {mastodon}\n"
        "  max_posts_per_hour: 1000\n"
        "sources:\n"
        f"  - name: {SOURCE.name}\n    slug: {SOURCE.slug}\n    url: {SOURCE.url}\n    language: fr\n",
        encoding="utf-8",
    )
    return path


def fill_outbox(store: Store, n: int) -> list[str]:
    """Store ``n`` recent articles the way the crawler does, each with a Mastodon outbox row."""
    store.sources.sync([SOURCE])
    urls = [f"https://media.example/articles/{i}" for i in range(n)]
    entries = []
    for i, url in enumerate(urls):
        title, text = f"Article numéro {i} du relais", f"Résumé de l'article {i}."
        entries.append(EntryData(guid=f"a{i}", url=url, title=title, text=text,
                                 summary=f"<p>{text}</p>", content_hash=content_hash(title, text)))
    saved = store_entries(store, SOURCE, entries, targets=("mastodon",))
    assert saved.new == n, saved
    return urls


def events(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON log records among a child's stderr lines (tracebacks and the like skipped)."""
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def posted(lines: list[str]) -> list[dict[str, str]]:
    """The ``relay.posted`` events of a child's log: entry, target, remote id, reconciled."""
    return [{key: str(record[key]) for key in ("entry", "target", "action", "remote", "reconciled")}
            for record in named(lines, "relay.posted")]


def named(lines: list[str], event: str) -> list[dict[str, Any]]:
    return [r for r in events(lines) if r.get("event") == event]
