"""The command line contracts of docs/commands.md, run as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

JSON_CRAWL_KEYS = ["sources", "ok", "not_modified", "failed", "new_items", "updated_items", "seconds"]
ITEM_KEYS = {"id", "source", "guid", "url", "title", "author", "published", "updated", "language", "summary"}
SOURCE_KEYS = {"slug", "name", "kind", "url", "status", "last_fetch", "last_error", "error_count", "next_fetch", "items"}


async def aggregator(tmp: Path, *args: str, private: bool = True, config: Path | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env["AGGREGATOR_LOG_FORMAT"] = "json"
    if private:
        env["AGGREGATOR_ALLOW_PRIVATE_NETWORKS"] = "1"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "--config", str(config or tmp / "sources.yaml"), "--data-dir", str(tmp / "data"),
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp: Path, server: FeedServer) -> None:
    (tmp / "sources.yaml").write_text(
        "sources:\n"
        f"  - name: Le Site\n    url: {server.url('/a.xml')}\n    tags: [mutu]\n"
        f"  - name: Autre Site\n    slug: autre\n    url: {server.url('/b.xml')}\n"
        f"  - name: En panne\n    url: {server.url('/down.xml')}\n",
        encoding="utf-8",
    )


async def test_crawl_items_sources_json_contracts(tmp_path: Path) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Grève reconductible"), ("2", "Assemblée générale")]), etag='"a"')
        server.add("/b.xml", rss([("3", "Un autre article")], when=datetime(2026, 11, 19, 8, 0)), etag='"b"')
        server.error("/down.xml", 503)
        write_config(tmp_path, server)

        code, out, err = await aggregator(tmp_path, "crawl", "--once", "--json")
        assert code == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        assert list(summary) == JSON_CRAWL_KEYS
        assert {k: summary[k] for k in JSON_CRAWL_KEYS[:-1]} == {
            "sources": 3, "ok": 2, "not_modified": 0, "failed": 1, "new_items": 3, "updated_items": 0}

        code, out, _ = await aggregator(tmp_path, "crawl", "--once", "--all", "--json")
        second = json.loads(out.strip().splitlines()[-1])
        assert code == 0 and second["not_modified"] == 2 and second["new_items"] == 0

        code, out, _ = await aggregator(tmp_path, "items", "--json", "--limit", "10")
        items = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and len(items) == 3 and all(set(i) == ITEM_KEYS for i in items)
        assert items[0]["published"].endswith("Z") and items[0]["title"] == "Grève reconductible"
        code, out, _ = await aggregator(tmp_path, "items", "--json", "--source", "autre")
        assert [json.loads(line)["source"] for line in out.splitlines()] == ["autre"]

        code, out, _ = await aggregator(tmp_path, "delete", str(items[0]["id"]))
        assert code == 0
        code, out, _ = await aggregator(tmp_path, "crawl", "--once", "--all", "--json")
        code, out, _ = await aggregator(tmp_path, "items", "--json")
        assert [json.loads(line)["title"] for line in out.splitlines()] == ["Assemblée générale", "Un autre article"]

        code, out, _ = await aggregator(tmp_path, "sources", "--json")
        rows = {r["slug"]: r for r in map(json.loads, out.splitlines())}
        assert code == 0 and all(set(r) >= SOURCE_KEYS for r in rows.values())
        assert rows["le-site"]["status"] == "not_modified" and rows["le-site"]["items"] == 1  # the deleted one no longer counts
        assert rows["en-panne"]["status"] == "failing" and "503" in rows["en-panne"]["last_error"]
        assert rows["en-panne"]["error_count"] == 3


async def test_private_addresses_are_refused_by_default(tmp_path: Path) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Jamais récupéré")]))
        write_config(tmp_path, server)
        code, out, _ = await aggregator(tmp_path, "crawl", "--once", "--source", "le-site", "--json", private=False)
        assert code == 0 and json.loads(out.splitlines()[-1])["failed"] == 1
        assert server.requests == []
        code, out, _ = await aggregator(tmp_path, "sources", "--json")
        row = next(r for r in map(json.loads, out.splitlines()) if r["slug"] == "le-site")
        assert "AGGREGATOR_ALLOW_PRIVATE_NETWORKS" in row["last_error"]


async def test_invalid_configuration_exits_2_naming_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - name: A\n    url: https://a.example/feed\n    langage: fr\n", encoding="utf-8")
    code, _out, err = await aggregator(tmp_path, "crawl", "--once", config=bad)
    assert code == 2
    assert f"{bad}:4: sources[0].langage: unknown key" in err


async def test_opml_export_then_import(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - name: Reporterre\n    url: https://reporterre.net/spip.php?page=backend\n    language: fr\n    tags: [écologie]\n",
        encoding="utf-8",
    )
    code, opml, _ = await aggregator(tmp_path, "opml", "export")
    assert code == 0 and 'xmlUrl="https://reporterre.net/spip.php?page=backend"' in opml
    other = tmp_path / "other.opml"
    other.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="Luttes">'
        '<outline text="Rebellyon" type="rss" xmlUrl="https://rebellyon.info/spip.php?page=backend"/>'
        '<outline text="Reporterre" type="rss" xmlUrl="https://reporterre.net/spip.php?page=backend"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    code, out, err = await aggregator(tmp_path, "opml", "import", str(other))
    assert code == 0 and "rebellyon" in out and "reporterre.net" not in out
    code, _, err = await aggregator(tmp_path, "opml", "import", str(other), "--write")
    assert code == 0, err
    code, out, _ = await aggregator(tmp_path, "sources", "--json")
    slugs = [json.loads(line)["slug"] for line in out.splitlines()]
    assert slugs == ["reporterre", "rebellyon"]


async def test_search_and_reindex_commands(tmp_path: Path) -> None:
    async with FeedServer() as server:
        server.add("/a.xml", rss([("1", "Grèves dans les transports"), ("2", "Marché de Noël solidaire")]))
        server.add("/b.xml", rss([("3", "Une autre grève à Lyon")]))
        server.error("/down.xml", 500)
        write_config(tmp_path, server)
        code, _, err = await aggregator(tmp_path, "crawl", "--once", "--json")
        assert code == 0, err
    code, out, err = await aggregator(tmp_path, "search", "greve", "--json")
    hits = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    # every item of rss() says "à propos de la grève" in its text; titles weigh more
    assert len(hits) == 3
    assert {h["title"] for h in hits[:2]} == {"Grèves dans les transports", "Une autre grève à Lyon"}
    assert set(hits[0]) == {"id", "source", "url", "title", "published", "score", "snippet"}
    assert all("<mark>" in h["snippet"] for h in hits)
    code, out, _ = await aggregator(tmp_path, "search", "greve", "--source", "autre", "--json")
    assert [json.loads(line)["source"] for line in out.splitlines()] == ["autre"]
    code, _, err = await aggregator(tmp_path, "search", '"grève', "--json")
    assert code == 2 and err.startswith("search: ")  # a readable message, not a traceback
    code, out, _ = await aggregator(tmp_path, "reindex")
    assert code == 0 and out.strip() == "reindexed 3 entries"
