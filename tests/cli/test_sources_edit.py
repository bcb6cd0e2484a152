"""``aggregator sources add URL`` and ``sources remove SLUG`` on a real file, through the real command."""

from __future__ import annotations

import json
from pathlib import Path

from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

from .test_cli import aggregator

#: The operator's file: comments, blank lines, a section after sources:, odd spacing.
ORIGINAL = """\
# Nos médias
sources:
  # Lyon
  - name: Rebellyon
    url: https://rebellyon.info/spip.php?page=backend   # SPIP
    tags: [lyon]

  # Marseille
  - name: Mars Infos
    url: https://mars-infos.org/spip.php?page=backend
relay:
  hashtags: [presse]   # gardé tel quel
"""

PAGE = """<!doctype html><html><head><title>Le Poing</title>
<link rel="alternate" type="application/rss+xml" title="Articles" href="/spip.php?page=backend">
</head><body><p>Un journal.</p></body></html>"""


async def test_add_finds_the_feed_of_a_site_and_remove_restores_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(ORIGINAL, encoding="utf-8")
    async with FeedServer() as server:
        server.add("/", PAGE, content_type="text/html; charset=utf-8")
        server.add("/spip.php", rss([("1", "Grève"), ("2", "Manif"), ("3", "AG")], title="Le Poing, journal"))
        site = server.url("/")
        code, out, err = await aggregator(tmp_path, "sources", "add", site, "--tag", "Luttes", "--tag", "presse libre")
        assert code == 0, err
        feed = server.url("/spip.php?page=backend")
        assert out.splitlines()[0] == f"Le Poing, journal: 3 items at {feed} (found on {site})"
        assert "added le-poing-journal to" in err
        text = config.read_text(encoding="utf-8")
        # appended after the last entry, before relay:, every other byte kept
        assert text.startswith(ORIGINAL.split("relay:")[0]) and text.endswith("relay:\n  hashtags: [presse]   # gardé tel quel\n")
        assert "  - name: Le Poing, journal\n    slug: le-poing-journal\n    kind: feed\n" in text
        code, out, _ = await aggregator(tmp_path, "sources", "--json")
        rows = {r["slug"]: r for r in map(json.loads, out.splitlines())}
        assert code == 0 and list(rows) == ["rebellyon", "mars-infos", "le-poing-journal"]
        assert rows["le-poing-journal"]["url"] == feed

        # the same feed again, through its own address this time: refused, file untouched
        code, out, err = await aggregator(tmp_path, "sources", "add", feed, "--name", "Autre nom")
        assert (code, err.splitlines()[-1]) == (2, f"{feed} is already configured as le-poing-journal")
        assert config.read_text(encoding="utf-8") == text
        # a page without any feed: a clear error, nothing written
        server.add("/rien", "<html><head></head><body>rien</body></html>", content_type="text/html")
        code, _, err = await aggregator(tmp_path, "sources", "add", server.url("/rien"))
        assert code == 1 and "no feed found on the page" in err and config.read_text(encoding="utf-8") == text

    code, out, err = await aggregator(tmp_path, "sources", "remove", "le-poing-journal")
    assert code == 0, err
    assert out.strip() == f"removed le-poing-journal (Le Poing, journal) from {config}; its stored items are kept"
    assert config.read_text(encoding="utf-8") == ORIGINAL
    code, _, err = await aggregator(tmp_path, "sources", "remove", "mars-infos")
    assert code == 0, err
    assert config.read_text(encoding="utf-8") == ORIGINAL.replace(
        "  - name: Mars Infos\n    url: https://mars-infos.org/spip.php?page=backend\n", "")


async def test_remove_refuses_what_it_cannot_cut_safely(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    flow = 'sources: [{name: A, url: "https://a.example/feed"}, {name: B, url: "https://b.example/feed"}]\n'
    config.write_text(flow, encoding="utf-8")
    code, out, err = await aggregator(tmp_path, "sources", "remove", "a")
    assert (code, out) == (2, "") and err.startswith("cannot remove a: ") and "by hand" in err
    assert config.read_text(encoding="utf-8") == flow
