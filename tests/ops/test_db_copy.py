"""From SQLite to PostgreSQL: ``db copy --to`` moves a whole installation, then it runs there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PostgresCluster
from tests.feedserver import FeedServer

from .helpers import aggregator, ago, clean_env, rss

pytestmark = pytest.mark.postgres


async def test_db_copy_moves_everything_to_postgresql(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    pg = clean_env(AGGREGATOR_DATABASE_URL=pg_cluster.create_database())
    async with FeedServer() as feeds:
        feeds.add("/a.xml", rss([(str(i), f"Grève numéro {i} à Marseille", f"https://a.example/{i}", ago(hours=i))
                                 for i in range(1, 6)]))
        feeds.add("/b.xml", rss([("b1", "Assemblée générale des cantines", "https://b.example/1", ago(hours=1))]))
        feeds.error("/down.xml", 503)
        config.write_text(
            "settings:\n  per_host_delay: 0\nsources:\n"
            f"  - name: A\n    slug: a\n    url: {feeds.url('/a.xml')}\n"
            f"  - name: B\n    slug: b\n    url: {feeds.url('/b.xml')}\n"
            f"  - name: Down\n    slug: down\n    url: {feeds.url('/down.xml')}\n"
            "relay:\n  mastodon:\n    api_base_url: https://mastodon.example\n",
            encoding="utf-8",
        )
        code, _, err = await aggregator(config, data, "crawl", "--once")
        assert code == 0, err

        code, out, err = await aggregator(config, data, "db", "copy", "--to", pg["AGGREGATOR_DATABASE_URL"])
        assert code == 0, err
        assert "6 entries" in out and "3 sources" in out and "6 outbox" in out
        assert "search index rebuilt on the target: 6 items" in out

        async def both(*args: str) -> tuple[list[dict], list[dict]]:
            results = []
            for env in (None, pg):
                code, out, err = await aggregator(config, data, *args, "--json", env=env)
                assert code == 0, err
                results.append([json.loads(line) for line in out.splitlines()])
            return results[0], results[1]

        sqlite_items, pg_items = await both("items", "--limit", "100")
        assert pg_items == sqlite_items and len(pg_items) == 6
        sqlite_sources, pg_sources = await both("sources")
        assert pg_sources == sqlite_sources
        assert {s["slug"]: s["status"] for s in pg_sources} == {"a": "ok", "b": "ok", "down": "failing"}
        code, out, _ = await aggregator(config, data, "search", "greve", "--json", env=pg)
        assert code == 0 and len(out.splitlines()) == 5  # PostgreSQL's own full-text search, built by the copy
        code, out, _ = await aggregator(config, data, "relay", "--dry-run", "--json", env=pg)
        assert code == 0 and len(out.splitlines()) == 6  # the outbox came along

        # The installation goes on on PostgreSQL: new ids follow the copied ones.
        feeds.add("/b.xml", rss([("b2", "Une nouvelle après le déménagement", "https://b.example/2", ago(minutes=5)),
                                 ("b1", "Assemblée générale des cantines", "https://b.example/1", ago(hours=1))]))
        code, out, err = await aggregator(config, data, "crawl", "--once", "--all", "--json", env=pg)
        assert code == 0 and json.loads(out.splitlines()[-1])["new_items"] == 1, err

    code, _, err = await aggregator(config, data, "db", "copy", "--to", pg["AGGREGATOR_DATABASE_URL"])
    assert code == 1 and "already holds data" in err
