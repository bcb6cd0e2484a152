"""``aggregator doctor`` as a real command: against a real SMTP server, the Mastodon stand-in,
the real local Bluesky network and a throwaway PostgreSQL."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from aggregator.relay.targets import BLUESKY_SESSION_KEY
from aggregator.store.migrate import head_revision
from tests.conftest import PostgresCluster, free_port
from tests.crawl.helpers import rss as old_rss
from tests.digest.conftest import start_server
from tests.feedserver import FeedServer
from tests.peers.bluesky import BlueskyNetwork, create_account
from tests.relay.mastodon_fake import FakeMastodon

from .helpers import aggregator, ago, clean_env, people, rss

#: The newest migration: what an up-to-date database reports.
HEAD = head_revision()


def findings(out: str) -> dict[str, list[str]]:
    """``check -> [lines]`` from doctor's human output."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        check = line[6:].split(":", 1)[0]
        found.setdefault(check, []).append(line)
    return found


def env_without_private(**extra: str) -> dict[str, str]:
    env = clean_env(**extra)
    del env["AGGREGATOR_ALLOW_PRIVATE_NETWORKS"]  # the crawler's real rule: loopback is refused
    return env


async def test_doctor_checks_everything_and_says_what_to_fix(tmp_path: Path, mastodon: FakeMastodon) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    smtp = start_server()
    try:
        async with FeedServer() as feeds:
            feeds.add("/a.xml", rss([("1", "Grève des cantines", "https://site.example/1", ago(hours=1))]))
            feeds.error("/down.xml", 503)
            config.write_text(
                "settings:\n  per_host_delay: 0\n"
                "sources:\n"
                f"  - name: Le Site\n    slug: site\n    url: http://localhost:{feeds.port}/a.xml\n"
                f"  - name: En panne\n    slug: panne\n    url: {feeds.url('/down.xml')}\n"
                f"relay:\n  mastodon:\n    api_base_url: {mastodon.base}\n  bluesky:\n    service: http://127.0.0.1:9\n"
                "digest:\n  from: Lettre <lettre@medias.example.org>\n",
                encoding="utf-8",
            )
            code, _, err = await aggregator(config, data, "crawl", "--once")
            assert code == 0, err

        env = env_without_private(MASTODON_ACCESS_TOKEN=mastodon.token, AGGREGATOR_BASE_URL="https://medias.example.org",
                                  AGGREGATOR_SMTP_URL=smtp.url)
        code, out, err = await aggregator(config, data, "doctor", env=env)
        assert code == 0, out + err
        found = findings(out)
        assert found["configuration"] == [f"ok    configuration: {config}: 2 sources, relay: mastodon, bluesky, "
                                          "newsletter: on"]
        assert found["public address"] == ["ok    public address: https://medias.example.org"]
        assert found["mail server"] == [f"ok    mail server: smtp://127.0.0.1:{smtp.port}?starttls=off answers "
                                        "(no encryption); nothing was sent"]
        assert found["data directory"][0].startswith(f"ok    data directory: {data.absolute()} is writable, ")
        assert found["database"] == [f"ok    database: {data.absolute() / 'aggregator.sqlite3'}, schema {HEAD} (up to date)"]
        # crawl --once does not index: the change log waits for run
        assert found["search index"] == ["warn  search index: 0 documents for 1 items; 1 changes wait to be indexed -> "
                                         "`aggregator run` indexes them within seconds; or `aggregator reindex`"]
        assert found["sources"] == ["ok    sources: 2 sources (1 failing, 1 ok); 2 cannot be reached"]
        [site] = found["source site"]
        assert site.startswith("warn  source site: localhost resolves to ") and site.endswith(
            ", a loopback address -> the crawler refuses private addresses; set AGGREGATOR_ALLOW_PRIVATE_NETWORKS=1 "
            "only for a feed on your own network")
        panne = found["source panne"]
        assert panne[0].startswith("warn  source panne: 127.0.0.1 is a loopback address")
        assert panne[1].startswith("warn  source panne: failing since ") and "HTTP 503" in panne[1]
        assert found["relay mastodon"] == [f"ok    relay mastodon: posting as @relay on {mastodon.base}; nothing was posted"]
        assert found["relay bluesky"][0].startswith(
            "warn  relay bluesky: configured, but BLUESKY_HANDLE and BLUESKY_APP_PASSWORD is not set")
        assert [s.path for s in mastodon.sent] == ["/api/v1/accounts/verify_credentials"]  # nothing posted
        assert smtp.sink.received == []
        assert "doctor: nothing blocks the aggregator" in people(err)

        # Refused credentials and a mail server that does not answer block operation: exit 1.
        env |= {"MASTODON_ACCESS_TOKEN": "revoked", "AGGREGATOR_SMTP_URL": f"smtp://127.0.0.1:{free_port()}?starttls=off"}
        code, out, err = await aggregator(config, data, "doctor", "--json", env=env)
        assert code == 1
        rows = {(r["check"], r["severity"]): r for r in map(json.loads, out.splitlines())}
        relay = rows["relay mastodon", "error"]
        assert "refused the access token" in relay["message"]
        assert "write:statuses read:accounts read:statuses read:search" in relay["fix"]
        assert "cannot connect" in rows["mail server", "error"]["message"]
        assert sum(1 for severity in (r[1] for r in rows) if severity == "error") == 2
    finally:
        smtp.controller.stop()


async def test_doctor_reports_every_configuration_error_and_no_database(tmp_path: Path) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    config.write_text("sources:\n  - name: A\n    url: ftp://a.example/feed\n", encoding="utf-8")
    code, out, err = await aggregator(config, data, "doctor")
    assert code == 1
    found = findings(out)
    assert found["configuration"] == [
        f"FAIL  configuration: {config}:3: sources[0].url: expected an http:// or https:// URL -> "
        "fix the file (the line and field are named)"]
    assert found["database"] == [f"warn  database: no database yet at {data.absolute() / 'aggregator.sqlite3'} -> "
                                 "`aggregator run` (or `aggregator db upgrade`) creates it"]
    assert not data.exists()  # doctor creates nothing
    assert "Traceback" not in err


@pytest.mark.postgres
async def test_doctor_and_backup_on_postgresql(tmp_path: Path, pg_cluster: PostgresCluster) -> None:
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    config.write_text("sources:\n  - name: A\n    url: https://a.example/feed\n", encoding="utf-8")
    url = pg_cluster.create_database()
    env = clean_env(AGGREGATOR_DATABASE_URL=url)
    code, out, _ = await aggregator(config, data, "doctor", env=env)
    found = findings(out)
    assert code == 0 and found["database"][0].endswith("was never migrated -> `aggregator db upgrade` (run does it too)")
    assert "data directory" not in found  # everything lives in PostgreSQL
    code, _, err = await aggregator(config, data, "db", "upgrade", env=env)
    assert code == 0, err
    code, out, _ = await aggregator(config, data, "doctor", env=env)
    found = findings(out)
    assert code == 0 and found["database"][0].endswith(f"schema {HEAD} (up to date)")
    assert found["search index"] == ["ok    search index: 0 documents for 0 items"]

    code, out, err = await aggregator(config, data, "backup", str(tmp_path / "bk"), env=env)
    assert code == 2 and out == "" and not (tmp_path / "bk").exists()
    assert "the database is PostgreSQL" in err and "reachable" in err and "pg_dump -Fc -d 'postgresql://" in err

    down = env | {"AGGREGATOR_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"}
    code, out, _ = await aggregator(config, data, "doctor", env=down)
    assert code == 1 and "does not answer" in findings(out)["database"][0]
    code, _, err = await aggregator(config, data, "backup", str(tmp_path / "bk"), env=down)
    assert code == 1 and "does not answer" in err


@pytest.mark.peers
async def test_doctor_logs_in_to_bluesky_without_posting(tmp_path: Path, bluesky_network: BlueskyNetwork) -> None:
    net = bluesky_network
    async with aiohttp.ClientSession() as http:
        account = await create_account(http, net, f"relay-{secrets.token_hex(4)}.test")
    config, data = tmp_path / "sources.yaml", tmp_path / "data"
    async with FeedServer() as feeds:
        feeds.add("/a.xml", old_rss([("1", "Un article")]))
        config.write_text(f"sources:\n  - name: A\n    url: {feeds.url('/a.xml')}\n"
                          f"relay:\n  bluesky:\n    service: {net.pds}\n", encoding="utf-8")
        code, _, err = await aggregator(config, data, "db", "upgrade")
        assert code == 0, err
    env = clean_env(BLUESKY_HANDLE=account.handle, BLUESKY_APP_PASSWORD="correct-horse-battery")
    code, out, err = await aggregator(config, data, "doctor", env=env)
    assert code == 0, out + err
    assert findings(out)["relay bluesky"] == [
        f"ok    relay bluesky: posting as @{account.handle} ({account.did}) on {net.pds}, logged in with the app "
        "password; nothing was posted"]
    async with aiohttp.ClientSession() as http, http.get(
            f"{net.pds}/xrpc/com.atproto.repo.listRecords",
            params={"repo": account.did, "collection": "app.bsky.feed.post"}) as r:
        assert (await r.json())["records"] == []

    # The relay keeps its session (createSession is rate-limited hard): a mistyped password
    # shows only once that session is gone.
    env["BLUESKY_APP_PASSWORD"] = "wrong-password"
    code, out, _ = await aggregator(config, data, "doctor", env=env)
    [line] = findings(out)["relay bluesky"]
    assert code == 0 and line.endswith("with the session kept from an earlier login; nothing was posted")
    conn = sqlite3.connect(data / "aggregator.sqlite3")
    with conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (BLUESKY_SESSION_KEY,))
    conn.close()
    code, out, _ = await aggregator(config, data, "doctor", env=env)
    [line] = findings(out)["relay bluesky"]
    assert code == 1 and line.startswith("FAIL  relay bluesky: bluesky: createSession: ") and "app password" in line
