"""Crash test: ``aggregator digest send``, killed with SIGKILL at random moments and started
again, still gets every (subscriber, day) its digest: none missing, none with two
Message-IDs, and a repeat only where a kill fell inside the DATA exchange.

The command runs as a real process against a real SMTP server (aiosmtpd) on 127.0.0.1 and
a SQLite file. SMTP has no way to ask a server whether it kept a message, so a kill between
the server's final answer and the commit that records it leaves a message that may have
been delivered: it is sent again with the same Message-ID (mail stores that deduplicate on
it show it once) and logged ``digest.uncertain_resend``. The test holds the raw repeats to
exactly those, and every other crash point (before the claim, between claim and DATA,
during the cut) to zero repeats. docs/newsletter.md says why this is the best SMTP allows.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator.model import DigestFilters
from aggregator.store import Store
from tests.conftest import ROOT, FrozenClock
from tests.processes import send

from .conftest import SOURCES, Sink, article, save, start_server, subscribe

pytestmark = [pytest.mark.slow]
KILLS = 8
SUBSCRIBERS = 48
NOTHING_MATCHES = 4  # subscribers whose filters match nothing: no mail, ever

CONFIG = """\
sources:
  - name: Rebellyon
    slug: rebellyon
    url: https://rebellyon.example/feed
    language: fr
  - name: Paris-luttes.info
    slug: paris-luttes
    url: https://paris-luttes.example/feed
    language: fr
digest:
  from: "Médias libres <lettre@medias.example.org>"
  send_at: "00:00"
  timezone: UTC
  max_per_hour: 100000
"""


class SlowSink(Sink):
    """A server that takes a few milliseconds to queue each message, as real ones do, so
    that kills land in the middle of a round."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


async def life(env: dict[str, str], rng: random.Random, *, kill: bool) -> tuple[int | None, list[str]]:
    """One run of the command; killed at a random moment unless ``kill`` is False."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "digest", "send", "--json", cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    if not kill:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=180)
        return proc.returncode, [*err.decode().splitlines(), *out.decode().splitlines()]
    if rng.random() < 0.3:
        await asyncio.sleep(rng.uniform(0.0, 3.0))  # anywhere: start-up, the cut, reconciliation…
    else:  # inside the round: after a first mail went out
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            line = (await asyncio.wait_for(proc.stderr.readline(), timeout=60)).decode()
            if not line:
                break
            lines.append(line)
            if '"digest.sent"' in line:
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                break
    if proc.returncode is None:
        send(proc, signal.SIGKILL)
    out, err = await proc.communicate()
    return proc.returncode, [*lines, *err.decode().splitlines(), *out.decode().splitlines()]


def events(lines: list[str], name: str) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if line.startswith("{") and f'"{name}"' in line:
            try:
                found.append(json.loads(line))
            except ValueError:
                continue  # a line cut by the kill
    return found


async def test_sigkill_at_random_moments_delivers_every_digest_once(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "data").mkdir()
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    store = Store(f"sqlite:///{tmp_path / 'data' / 'aggregator.sqlite3'}", clock=FrozenClock(noon))
    store.upgrade()
    store.sources.sync([s for s in SOURCES if s.slug in ("rebellyon", "paris-luttes")])
    save(store, "rebellyon", [article(f"r{i}", f"Article {i} de Rebellyon sur la grève", f"https://rebellyon.example/{i}",
                                      published=noon - timedelta(minutes=i)) for i in range(6)])
    save(store, "paris-luttes", [article(f"p{i}", f"Article {i} de Paris-luttes", f"https://paris-luttes.example/{i}",
                                         published=noon - timedelta(minutes=i)) for i in range(6)])
    expected = {f"lecteur{i}@example.org" for i in range(SUBSCRIBERS - NOTHING_MATCHES)}
    for i in range(SUBSCRIBERS - NOTHING_MATCHES):  # every third one takes a single source
        subscribe(store, f"lecteur{i}@example.org", filters=DigestFilters(sources=("rebellyon",)) if i % 3 == 0 else DigestFilters())
    nobody = {f"personne{i}@example.org" for i in range(NOTHING_MATCHES)}
    for address in sorted(nobody):
        subscribe(store, address, filters=DigestFilters(tags=("nulle-part",)))

    sink = SlowSink()
    server = start_server(sink)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "MASTODON_", "BLUESKY_"))}
    env |= {"AGGREGATOR_CONFIG": str(tmp_path / "sources.yaml"), "AGGREGATOR_DATA_DIR": str(tmp_path / "data"),
            "AGGREGATOR_SMTP_URL": server.url, "AGGREGATOR_BASE_URL": "https://medias.example.org",
            "AGGREGATOR_LOG_FORMAT": "json", "AGGREGATOR_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    seed = int(os.environ.get("CRASH_SEED", secrets.randbits(32)))
    rng = random.Random(seed)
    output: list[str] = []
    kills = finished_early = 0
    in_flight = 0
    try:
        while kills < KILLS:
            code, lines = await life(env, rng, kill=True)
            output += lines
            if code == 0:
                finished_early += 1  # it finished before the kill: nothing left to interrupt
                break
            assert code == -signal.SIGKILL, "\n".join(lines[-20:])
            kills += 1
            in_flight += store.mail_deliveries.counts()["sending"]
        code, lines = await life(env, rng, kill=False)
        output += lines
        assert code == 0, "\n".join(lines[-30:])
    finally:
        server.controller.stop()

    digest = store.digests.latest()
    assert digest is not None and digest.sent is not None
    rows = store.mail_deliveries.for_digest(digest.id)
    by_address = {s.id: s.address for s in store.subscribers.confirmed()}
    message_id = {by_address[r.subscriber_id]: r.message_id for r in rows if r.subscriber_id is not None}
    received: dict[str, list[str]] = defaultdict(list)
    for r in sink.received:
        received[r.rcpt_tos[0]].append(str(r.message["Message-ID"]))
    raw = Counter({a: len(ids) for a, ids in received.items()})
    uncertain = len(events(output, "digest.uncertain_resend"))
    figures = {
        "seed": seed, "kills": kills, "finished_before_a_kill": finished_early, "rows_in_flight_at_kills": in_flight,
        "mails": len(sink.received), "recipients": len(received),
        "missing": len(expected - set(received)), "unexpected": len(set(received) - expected),
        "duplicate_digests": sum(1 for ids in received.values() if len(set(ids)) > 1),
        "raw_repeats": sum(n - 1 for n in raw.values()), "uncertain_resends_logged": uncertain,
    }
    print("CRASH", json.dumps(figures))
    assert kills + finished_early >= 1, figures
    assert figures["missing"] == 0 and figures["unexpected"] == 0, figures
    # one Message-ID per (recipient, day), the one its delivery row was cut with
    assert all(set(ids) == {message_id[a]} for a, ids in received.items()), figures
    # a repeat only where a kill fell inside DATA, each one logged
    assert figures["raw_repeats"] <= uncertain, figures
    assert Counter(r.state for r in rows) == {"sent": len(expected), "skipped": NOTHING_MATCHES}, figures
    store.close()
