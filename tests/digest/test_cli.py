"""``digest show``, ``digest send``, ``digest unsubscribe-mail``, ``subscribers``: docs/commands.md's
contracts, through ``aggregator.cli.main`` (the process itself is run by test_crash.py),
against a real SMTP server, on the real clock."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.cli import main
from aggregator.digest.deliver import keyring_for
from aggregator.model import DigestFilters
from aggregator.store import Store
from tests.conftest import FrozenClock

from .conftest import SOURCES, SmtpServer, article, save, subscribe

SOURCES_YAML = """\
sources:
  - name: Rebellyon
    slug: rebellyon
    url: https://rebellyon.example/feed
    language: fr
    tags: [lyon]
  - name: CrimethInc.
    slug: crimethinc
    url: https://crimethinc.example/feed
    language: en
digest:
  from: "Médias libres <lettre@medias.example.org>"
  send_at: "00:00"
  timezone: UTC
"""


class Cli:
    """``aggregator …`` in this process, with its own environment; returns (status, out, err)."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.tmp = tmp
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.env = {"AGGREGATOR_CONFIG": str(tmp / "sources.yaml"), "AGGREGATOR_DATA_DIR": str(tmp / "data"),
                    "AGGREGATOR_LOG_FORMAT": "json", "AGGREGATOR_LOG_LEVEL": "WARNING"}

    def __call__(self, *args: str, stdin: bytes | None = None, **env: str) -> tuple[int, str, str]:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        if stdin is not None:
            self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        self.capsys.readouterr()
        try:
            status = main(list(args), {**self.env, **env})
        finally:
            root.handlers[:], root.level = handlers, level  # main() sets up logging for a process
        out, err = self.capsys.readouterr()
        return status, out, err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    (tmp_path / "sources.yaml").write_text(SOURCES_YAML, encoding="utf-8")
    (tmp_path / "data").mkdir()
    yield Cli(tmp_path, capsys, monkeypatch)


def yesterday_news(tmp: Path) -> Store:
    """Stories first seen yesterday (UTC): today's digest, due since 00:00 UTC, holds them."""
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    store = Store(f"sqlite:///{tmp / 'data' / 'aggregator.sqlite3'}", clock=FrozenClock(noon))
    store.upgrade()
    store.sources.sync([s for s in SOURCES if s.slug in ("rebellyon", "crimethinc")])
    save(store, "rebellyon", [article("r1", "Grève générale à Lyon ce jeudi", "https://rebellyon.example/1",
                                      published=noon - timedelta(hours=1))])
    save(store, "crimethinc", [article("c1", "A story in English", "https://crimethinc.example/1",
                                       published=noon - timedelta(hours=2))])
    return store


def last_json(out: str) -> dict[str, Any]:
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_show_send_and_subscribers(cli: Cli, smtp_server: SmtpServer, tmp_path: Path) -> None:
    store = yesterday_news(tmp_path)
    subscribe(store, "camille@example.org")
    subscribe(store, "dominique@example.org", filters=DigestFilters(languages=("en",)), locale="en")
    subscribe(store, "personne@example.org", filters=DigestFilters(tags=("nulle-part",)))
    subscribe(store, "pas-encore@example.org", confirm=False)
    mail_env = {"AGGREGATOR_SMTP_URL": smtp_server.url, "AGGREGATOR_BASE_URL": "https://medias.example.org"}
    today = datetime.now(UTC).date().isoformat()

    status, out, _ = cli("digest", "show", "--json")
    shown = json.loads(out)
    assert status == 0 and shown["day"] == today and shown["cut"] is False and shown["stories"] == 2
    assert {i["title"] for g in shown["groups"] for i in g["items"]} == {"Grève générale à Lyon ce jeudi",
                                                                       "A story in English"}
    status, out, _ = cli("digest", "show")
    assert status == 0 and "Grève générale à Lyon ce jeudi" in out and "https://rebellyon.example/1" in out

    status, out, _ = cli("digest", "send", "--dry-run", "--json")
    assert status == 0 and out.strip().splitlines()[-1] == '{"sent": 2, "failed": 0, "skipped": 1}'
    assert store.digests.latest() is None and smtp_server.sink.received == []

    # no public base URL: one clear line, nothing sent
    status, out, err = cli("digest", "send", "--json", AGGREGATOR_SMTP_URL=smtp_server.url)
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and "AGGREGATOR_BASE_URL" in err
    status, _, err = cli("digest", "send", "--json", AGGREGATOR_BASE_URL="https://medias.example.org")
    assert status == 2 and "AGGREGATOR_SMTP_URL" in err
    status, _, err = cli("digest", "run", AGGREGATOR_SMTP_URL=smtp_server.url)  # refuses at once
    assert status == 2 and len(err.strip().splitlines()) == 1 and "AGGREGATOR_BASE_URL" in err
    assert smtp_server.sink.received == [] and store.digests.latest() is None

    status, out, _ = cli("digest", "send", "--json", **mail_env)
    assert status == 0 and out.strip().splitlines()[-1] == '{"sent": 2, "failed": 0, "skipped": 1}'
    assert sorted(r.rcpt_tos[0] for r in smtp_server.sink.received) == ["camille@example.org", "dominique@example.org"]
    status, out, _ = cli("digest", "send", "--json", **mail_env)
    assert status == 0 and last_json(out) == {"sent": 0, "failed": 0, "skipped": 0}
    status, out, _ = cli("digest", "show", "--json", "--date", today)
    assert json.loads(out)["cut"] is True

    status, out, _ = cli("subscribers", "--json")
    counts = json.loads(out)
    assert status == 0 and {k: counts[k] for k in ("pending", "confirmed", "unsubscribed")} == {
        "pending": 1, "confirmed": 3, "unsubscribed": 0}
    assert "@" not in out  # the addresses never leave the server, not even here
    status, out, _ = cli("subscribers")
    assert status == 0 and out.strip() == "pending 1, confirmed 3, unsubscribed 0"

    status, out, _ = cli("subscribers", "remove", "CAMILLE@example.org")
    assert status == 0 and out.startswith("removed")
    status, out, _ = cli("subscribers", "remove", "inconnue@example.org")
    assert status == 0 and out.startswith("not subscribed")
    status, _, err = cli("subscribers", "remove", "a@b.c\r\nBcc: x@y.z")
    assert status == 2 and "line break" in err
    counts = json.loads(cli("subscribers", "--json")[1])
    assert (counts["confirmed"], counts["unsubscribed"]) == (2, 2)
    assert "camille@example.org" not in {r.address for r in store.subscribers.confirmed()}
    store.close()


def test_unsubscribe_mail_from_an_mta_alias(cli: Cli, tmp_path: Path) -> None:
    store = yesterday_news(tmp_path)
    sid = subscribe(store, "camille@example.org")
    row = store.subscribers.get(sid)
    assert row is not None
    token = keyring_for(store).make("unsubscribe", sid, bind=row.salt)
    mail = f"From: camille@example.org\r\nTo: desabonnement@medias.example.org\r\nSubject: unsubscribe-{token}\r\n\r\n"
    status, out, _ = cli("digest", "unsubscribe-mail", stdin=mail.encode())
    assert status == 0 and out.strip() == "unsubscribed" and store.subscribers.counts()["confirmed"] == 0
    status, out, _ = cli("digest", "unsubscribe-mail", stdin=mail.encode())
    assert status == 0 and out.strip() == "already unsubscribed"
    forged = mail.replace(token, token[:-4] + "AAAA")
    other = subscribe(store, "autre@example.org")
    forged = forged.replace(f"unsubscribe-{sid}.", f"unsubscribe-{other}.")
    status, _, err = cli("digest", "unsubscribe-mail", stdin=forged.encode())
    assert status == 2 and store.subscribers.counts()["confirmed"] == 1
    status, _, err = cli("digest", "unsubscribe-mail", stdin=b"Subject: hello\r\n\r\nbody")
    assert status == 2 and "no unsubscribe token" in err
    store.close()


def test_mailing_list_mode_end_to_end(cli: Cli, smtp_server: SmtpServer, tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(SOURCES_YAML + "  list_address: medias-du-jour@lists.example.org\n",
                                           encoding="utf-8")
    store = yesterday_news(tmp_path)
    mail_env = {"AGGREGATOR_SMTP_URL": smtp_server.url, "AGGREGATOR_BASE_URL": "https://medias.example.org"}
    status, out, _ = cli("digest", "send", "--json", **mail_env)
    assert status == 0 and last_json(out) == {"sent": 1, "failed": 0, "skipped": 0}
    [received] = smtp_server.sink.received
    message = received.message
    assert received.rcpt_tos == ["medias-du-jour@lists.example.org"]
    assert message["List-Unsubscribe"] is None and message["List-Id"] is None  # the list software adds its own
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Grève générale à Lyon ce jeudi" in text and "medias-du-jour@lists.example.org" in text
    assert last_json(cli("digest", "send", "--json", **mail_env)[1])["sent"] == 0
    assert json.loads(cli("subscribers", "--json")[1])["confirmed"] == 0
    store.close()
