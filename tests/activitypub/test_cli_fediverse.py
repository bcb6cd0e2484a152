"""The command line around the actor, as real processes: ``run`` and ``serve`` refuse an actor
without ``AGGREGATOR_BASE_URL`` in one line; ``followers`` and ``sources --json`` show the state."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from aggregator.cli.fediverse import cmd_followers
from aggregator.cli.relaying import cmd_relay
from aggregator.cli.sources import cmd_sources
from aggregator.model import EntryData
from aggregator.settings import load_settings
from aggregator.store import Store
from tests.building import store_entries

CONFIG = """activitypub:
  username: medias
  name: Médias libres
sources:
  - name: Alice
    kind: activitypub
    actor: https://social.example/users/alice
"""


async def aggregator(tmp: Path, *args: str, base_url: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    if base_url:
        env["AGGREGATOR_BASE_URL"] = base_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "--config", str(tmp / "sources.yaml"), "--data-dir", str(tmp / "data"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_run_refuses_an_actor_without_a_base_url(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(CONFIG, encoding="utf-8")
    code, _, err = await aggregator(tmp_path, "run", "--port", "0")
    assert code == 2 and err.strip().count("\n") == 0 and "AGGREGATOR_BASE_URL" in err, err


async def test_followers_and_sources_show_the_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sources.yaml").write_text(CONFIG, encoding="utf-8")
    settings = load_settings({"AGGREGATOR_BASE_URL": "https://medias.example"}, config_path=tmp_path / "sources.yaml",
                             data_dir=tmp_path / "data")
    store = Store(settings.database_url)
    store.upgrade()
    actor = "https://medias.example/ap/actor"
    store.ap_followers.add_follower(local_actor=actor, actor_id="https://social.example/users/bob",
                                    inbox="https://social.example/users/bob/inbox", shared_inbox="https://social.example/inbox",
                                    follow_id="https://social.example/follows/1")
    store.ap_following.follow(local_actor=actor, remote_actor="https://social.example/users/alice",
                              follow_id="https://medias.example/ap/activities/follow/x", source="alice")
    store.close()
    assert await cmd_followers(settings, argparse.Namespace(json=True)) == 0
    out = capsys.readouterr().out
    [follower] = [json.loads(line) for line in out.splitlines()]
    assert follower == {"actor": "https://social.example/users/bob", "domain": "social.example",
                        "inbox": "https://social.example/users/bob/inbox", "shared_inbox": "https://social.example/inbox",
                        "since": follower["since"]}
    assert await cmd_sources(settings, argparse.Namespace(json=True)) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["kind"], row["url"], row["follow"]) == ("activitypub", "https://social.example/users/alice", "pending")


async def test_relay_once_publishes_with_only_the_actor_configured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No relay: section: the actor alone is a target (``relay --once`` publishes, ``--dry-run`` shows it)."""
    (tmp_path / "sources.yaml").write_text(CONFIG + "  - name: Média\n    url: https://media.example/feed\n",
                                           encoding="utf-8")
    settings = load_settings({"AGGREGATOR_BASE_URL": "https://medias.example"}, config_path=tmp_path / "sources.yaml",
                             data_dir=tmp_path / "data")
    store = Store(settings.database_url)
    store.upgrade()
    source = settings.config.sources[1]
    store.sources.sync(settings.config.sources)
    store_entries(store, source, [EntryData(guid="1", url="https://media.example/1", title="Grève", content_hash="1")],
                  targets=("activitypub",))
    store.close()
    args = dict(json=True, queue_recent=None, retry_failed=False, target=None)
    assert await cmd_relay(settings, argparse.Namespace(once=False, dry_run=True, **args)) == 0
    [planned] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (planned["target"], planned["action"], planned["state"]) == ("activitypub", "post", "pending")
    assert await cmd_relay(settings, argparse.Namespace(once=True, dry_run=False, **args)) == 0
    [posted] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (posted["target"], posted["state"]) == ("activitypub", "posted")
    assert posted["remote_id"] == f"https://medias.example/ap/activities/create/{posted['entry_id']}"
