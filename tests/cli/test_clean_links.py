"""The operator's view of links (issue 10): ``items --json`` shows the link as stored, which
is the clean one (what readers and followers get); the GUID is the item's identity, untouched."""

from __future__ import annotations

import json
from pathlib import Path

from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

from .test_cli import aggregator


async def test_items_json_shows_the_link_without_tracking_parameters(tmp_path: Path) -> None:
    async with FeedServer() as server:
        # rss() links are "https://site.example/spip.php?article{guid}&utm_source=rss"
        server.add("/a.xml", rss([("1", "Grève reconductible"), ("2", "Assemblée générale de grève")]))
        (tmp_path / "sources.yaml").write_text(f"sources:\n  - name: Le Site\n    url: {server.url('/a.xml')}\n",
                                               encoding="utf-8")
        code, _, err = await aggregator(tmp_path, "crawl", "--once")
        assert code == 0, err
    code, out, err = await aggregator(tmp_path, "items", "--json")
    assert code == 0, err
    items = {i["guid"]: i for i in map(json.loads, out.splitlines())}
    assert {g: i["url"] for g, i in items.items()} == {
        "1": "https://site.example/spip.php?article1", "2": "https://site.example/spip.php?article2"}
