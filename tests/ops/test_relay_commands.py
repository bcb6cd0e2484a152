"""The relay for someone who has never made a bot: dry run without accounts, cards, items
stored before the relay existed, ``--queue-recent`` and ``--retry-failed``, as real commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator import cli
from aggregator.cli import relaying
from aggregator.settings import load_settings
from tests.feedserver import FeedServer
from tests.relay.conftest import ArticleSite
from tests.relay.mastodon_fake import FakeMastodon

from .helpers import aggregator, ago, clean_env, dump, people, rss

TABLES = ("outbox", "entries", "sources", "meta", "stories")


def write_config(path: Path, feed: str, *, relay: str = "") -> None:
    path.write_text(
        "settings:\n  per_host_delay: 0\n"
        f"sources:\n  - name: Le Site\n    slug: site\n    url: {feed}\n    language: fr\n    tags: [luttes]\n"
        + relay,
        encoding="utf-8",
    )


def relay_section(mastodon: str | None = None, bluesky: str | None = None) -> str:
    text = "relay:\n  hashtags: [presse]\n"
    if mastodon:
        text += f"  mastodon:\n    api_base_url: {mastodon}\n"
    if bluesky:
        text += f"  bluesky:\n    service: {bluesky}\n"
    return text


async def test_dry_run_without_credentials_shows_posts_and_cards_and_writes_nothing(
    tmp_path: Path, site: ArticleSite, mastodon: FakeMastodon
) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    async with FeedServer() as feeds:
        feeds.add("/a.xml", rss([
            ("1", "Grève générale à Lyon ce jeudi", site.url("big-1"), ago(hours=1)),
            ("2", "Un article sans image du tout", site.url("noimage-1"), ago(hours=2)),
        ]))
        # The Bluesky service is never contacted by a dry run: an address where nothing listens.
        write_config(config, feeds.url("/a.xml"), relay=relay_section(mastodon.base, "http://127.0.0.1:9"))
        code, _, err = await aggregator(config, data, "crawl", "--once")
        assert code == 0, err
    before = dump(data / "aggregator.sqlite3", *TABLES)

    code, out, err = await aggregator(config, data, "relay", "--once", "--dry-run")
    assert code == 0, err
    said = people(err)
    assert out.count("[mastodon] would post") == 2 and out.count("[bluesky] would post") == 2
    assert "    Grève générale à Lyon ce jeudi" in out and f"    {site.url('big-1')}" in out
    assert "card: 'Carte : big-1'" in out
    assert "card image: attached" in out and "after resizing" in out
    assert "card image: none: the page names no og:image" in out
    assert "dry run: 4 posts would be made (mastodon 2, bluesky 2)" in said
    assert "mastodon has no credentials yet (MASTODON_ACCESS_TOKEN)" in said
    assert "bluesky has no credentials yet (BLUESKY_HANDLE and BLUESKY_APP_PASSWORD)" in said
    assert "Traceback" not in err

    code, out, err = await aggregator(config, data, "relay", "--dry-run", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {(r["target"], r["state"], r["action"]) for r in rows} == {
        ("mastodon", "pending", "post"), ("bluesky", "pending", "post")}
    sky = {r["url"]: r["card"] for r in rows if r["target"] == "bluesky"}
    big = sky[site.url("big-1")]
    assert big["title"] == "Carte : big-1" and big["description"] == "Description de l'article big-1 & plus"
    assert big["image"] == f"{site.base}/images/big.jpg" and big["image_attached"] is True
    assert 0 < big["image_bytes"] <= 1_000_000 < len(site.big)  # resized under the blob limit
    assert sky[site.url("noimage-1")]["image_attached"] is False
    assert all(r["card"] is None for r in rows if r["target"] == "mastodon")

    assert dump(data / "aggregator.sqlite3", *TABLES) == before
    assert mastodon.sent == []  # and nothing reached an account
    assert "/images/big.jpg" in site.hits  # the card really was built from the page

    # Posting for real still needs an account, and says how to look first.
    code, _, err = await aggregator(config, data, "relay", "--once")
    assert code == 2 and "`aggregator relay --dry-run` shows what would be posted" in err


async def test_items_stored_before_the_relay_are_explained_and_queued(tmp_path: Path) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    async with FeedServer() as feeds:
        feed = feeds.url("/a.xml")
        feeds.add("/a.xml", rss([
            ("1", "Rassemblement ce soir devant la mairie", "https://site.example/1", ago(hours=1)),
            ("2", "Assemblée générale des grévistes", "https://site.example/2", ago(hours=3)),
            ("3", "Un vieil article des archives", "https://site.example/3", ago(days=3)),
        ]))
        write_config(config, feed)  # no relay: yet
        code, _, err = await aggregator(config, data, "crawl", "--once")
        assert code == 0, err

    write_config(config, feed, relay=relay_section(mastodon="https://mastodon.example"))
    code, out, err = await aggregator(config, data, "relay", "--once", "--dry-run")
    said = people(err)
    assert code == 0 and out == ""
    assert "nothing to post:" in said
    assert ("2 items were stored before the relay (or this target) was configured, so they never entered the "
            "outbox; 2 of them were first seen in the last 6h: `aggregator relay --queue-recent 6h` queues those") in said
    assert "1 items are older than the backlog window (24h before they were first seen)" in said

    before = dump(data / "aggregator.sqlite3", *TABLES)
    code, out, err = await aggregator(config, data, "relay", "--queue-recent", "6h", "--dry-run")
    assert code == 0 and out.strip() == "would queue 2 items for mastodon"
    assert "1 older than the backlog window" in people(err)
    assert dump(data / "aggregator.sqlite3", *TABLES) == before

    code, out, err = await aggregator(config, data, "relay", "--queue-recent", "6h")
    assert code == 0 and out.strip() == "queued 2 items for mastodon", err
    code, out, _ = await aggregator(config, data, "relay", "--dry-run", "--json")
    titles = sorted(json.loads(line)["text"].splitlines()[0] for line in out.splitlines())
    assert titles == ["Assemblée générale des grévistes", "Rassemblement ce soir devant la mairie"]
    code, out, _ = await aggregator(config, data, "relay", "--queue-recent", "6h")
    assert code == 0 and out.strip() == "queued 0 items for mastodon"  # nothing twice


async def test_failed_deliveries_are_requeued_by_command(tmp_path: Path, mastodon: FakeMastodon) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    async with FeedServer() as feeds:
        feeds.add("/a.xml", rss([("1", "Un article que l'instance refuse", "https://site.example/1", ago(hours=1))]))
        write_config(config, feeds.url("/a.xml"), relay=relay_section(mastodon=mastodon.base))
        code, _, err = await aggregator(config, data, "crawl", "--once")
        assert code == 0, err
    env = clean_env(MASTODON_ACCESS_TOKEN=mastodon.token)
    mastodon.fail_next.append(422)  # the instance refuses this status: a permanent failure
    code, out, err = await aggregator(config, data, "relay", "--once", "--json", env=env)
    [row] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["state"] == "failed", err

    code, out, _ = await aggregator(config, data, "relay", "--retry-failed", "--target", "bluesky", "--dry-run", env=env)
    assert code == 0 and out.strip() == "would re-queue 0 failed deliveries for bluesky"
    code, out, _ = await aggregator(config, data, "relay", "--retry-failed", "--target", "mastodon", env=env)
    assert code == 0 and out.strip() == "re-queued 1 failed deliveries for mastodon"

    code, out, err = await aggregator(config, data, "relay", "--once", "--json", env=env)
    [row] = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["state"] == "posted" and row["attempts"] == 1, err
    assert len(mastodon.own_posts()) == 1


async def test_relay_arguments_are_checked_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The parser and the command's own checks, in-process (no database is opened)."""
    parser = cli.build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["relay", "--queue-recent", "soon"])
    assert exited.value.code == 2 and "expected a duration such as 30m, 6h or 2d, got 'soon'" in capsys.readouterr().err
    settings = load_settings({}, config_path=tmp_path / "none.yaml", data_dir=tmp_path / "data", read_config=False)
    for argv, message in ((["relay", "--target", "mastodon"], "--target goes with --retry-failed"),
                          (["relay", "--queue-recent", "6h", "--retry-failed"], "are separate steps")):
        assert await relaying.cmd_relay(settings, parser.parse_args(argv)) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
