"""Benchmark of the daily newsletter: building and handing 10,000 digests to an SMTP server.

Fills a store with one day of news (default 300 stories from 60 sources, through the one
write path, ``ingest``) and 10,000 confirmed subscribers with varied filters (everything,
a few sources, a tag, a language, sources and a language; French or English), then, each
in its own process:

- **ours**: ``Newsletter.send_due()`` as ``aggregator digest send`` runs it (built by the
  factory: the cut with its 10,000 delivery rows, composing and rendering per filters,
  the claims, ``data_at`` and ``sent`` commits, the SMTP client), timed from the call to its
  return, with the process's peak RSS. Each message is also copied to a file for the
  ceiling (a small handicap for ours);
- **ceiling**: the same SMTP client (``SmtpTransport``) sending the same bytes to the same
  recipients, one after the other, with nothing else to do;

both against a minimal SMTP sink on 127.0.0.1 in a third process (it parses commands and
finds the end of DATA, nothing more, so the sink is not what is measured). Prints ONE JSON
line. Not a test: figures depend on the machine. Targets (issue 11): ours >= 50 % of the
ceiling, peak RSS under 250 MB.

    .venv/bin/python bench/digest.py [--subscribers 10000] [--stories 300] [--sources 60]
                                     [--database-url URL] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import socket
import struct
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from aggregator.digest import Newsletter, SmtpTransport, parse_smtp_url  # noqa: E402
from aggregator.digest.deliver import keyring_for  # noqa: E402
from aggregator.digest.smtp import BeforeData  # noqa: E402
from aggregator.factory import make_aggregator  # noqa: E402
from aggregator.model import Config, DigestConfig, DigestFilters, EntryData, SourceConfig  # noqa: E402
from aggregator.parse.identity import content_hash  # noqa: E402
from aggregator.settings import Settings  # noqa: E402
from aggregator.store import Store, schema  # noqa: E402
from aggregator.store.subscribers import filters_to_json  # noqa: E402
from aggregator.update.ingest import RelayPolicy, ingest  # noqa: E402

WORDS = ["grève", "logement", "loyers", "manifestation", "climat", "squat", "expulsion", "assemblée", "quartier",
         "police", "justice", "retraites", "école", "hôpital", "migrants", "frontière", "agriculture", "eau",
         "énergie", "syndicat", "précarité", "féminisme", "antifascisme", "répression", "solidarité"]
TAGS = ["lyon", "paris", "marseille", "toulouse", "nantes", "rennes", "lille", "bordeaux", "grenoble", "strasbourg"]
BASE_URL = "https://medias.example.org"


# -- the SMTP sink ------------------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    """Just enough SMTP for aiosmtplib: commands answered 250, DATA read to the final dot."""

    def __init__(self, counter: Any):
        self.counter = counter
        self.buffer = bytearray()
        self.in_data = False
        self.scanned = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n", max(0, self.scanned - 4))
                if end < 0:
                    self.scanned = len(self.buffer)
                    return
                del self.buffer[: end + 5]
                self.in_data, self.scanned = False, 0
                with self.counter.get_lock():
                    self.counter.value += 1
                self.transport.write(b"250 2.0.0 queued\r\n")
                continue
            newline = self.buffer.find(b"\r\n")
            if newline < 0:
                return
            verb = bytes(self.buffer[:4]).upper()
            del self.buffer[: newline + 2]
            if verb == b"EHLO":
                self.transport.write(b"250-sink\r\n250-8BITMIME\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                self.in_data, self.scanned = True, 0
                self.transport.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.transport.write(b"221 bye\r\n")
                self.transport.close()
                return
            else:
                self.transport.write(b"250 OK\r\n")


def serve_sink(port: int, counter: Any, ready: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Sink(counter), "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the data ---------------------------------------------------------------------------------


def sources(n: int) -> tuple[SourceConfig, ...]:
    return tuple(
        SourceConfig(slug=f"media-{i}", name=f"Média indépendant {i}", kind="feed", url=f"https://media{i}.example/feed",
                     language="fr" if i % 6 else "en", tags=(TAGS[i % len(TAGS)],))
        for i in range(n)
    )


def fill(url: str, configs: tuple[SourceConfig, ...], stories: int, subscribers: int, seed: int) -> None:
    """Stories first seen yesterday (the digest due today holds them) and the subscribers."""
    rng = random.Random(seed)
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    store = Store(url, clock=lambda: noon)
    store.upgrade()
    store.sources.sync(configs)
    per_source = max(1, stories // len(configs))
    for n, source in enumerate(configs):
        entries = []
        for i in range(per_source):
            words = " ".join(rng.choice(WORDS) for _ in range(8))
            title = f"{words.capitalize()} ({n}-{i})"
            text = " ".join(rng.choice(WORDS) for _ in range(60))
            entries.append(EntryData(
                guid=f"{source.slug}-{i}", url=f"https://media{n}.example/article-{i}?utm_source=rss&id={i}",
                title=title, text=text, summary=f"<p>{text}</p>", published=noon - timedelta(minutes=rng.randrange(600)),
                tags=tuple(rng.sample(WORDS, 2)), content_hash=content_hash(title, text)))
        ingest(store, source, entries, now=noon, policy=RelayPolicy((), timedelta(hours=24)))
    keyring = keyring_for(store)
    slugs = [s.slug for s in configs]
    rows = []
    for i in range(subscribers):
        kind = rng.random()
        if kind < 0.35:
            filters = DigestFilters()
        elif kind < 0.60:
            filters = DigestFilters(sources=tuple(rng.sample(slugs, rng.randint(1, 3))))
        elif kind < 0.75:
            filters = DigestFilters(tags=tuple(rng.sample(TAGS, rng.randint(1, 2))))
        elif kind < 0.85:
            filters = DigestFilters(languages=(rng.choice(["fr", "en"]),))
        else:
            filters = DigestFilters(sources=tuple(rng.sample(slugs, rng.randint(2, 6))), languages=("fr",))
        address = f"lecteur.{i}@example.org"
        rows.append({
            "address": address, "address_key": keyring.address_key(address), "filters": filters_to_json(filters),
            "locale": "en" if rng.random() < 0.2 else "fr", "state": "confirmed", "salt": f"{rng.getrandbits(64):016x}",
            "consent_at": noon, "confirmed_at": noon, "reconfirmed_at": noon,
        })
    with store.db.write() as conn:  # one transaction: the subscribing flows are not what is measured
        for start in range(0, len(rows), 1000):
            conn.execute(insert(schema.subscribers), rows[start : start + 1000])
    store.close()


def settings_for(url: str, data_dir: Path, configs: tuple[SourceConfig, ...], smtp_url: str) -> Settings:
    digest = DigestConfig(from_address="Médias libres <lettre@medias.example.org>", send_at=clock_time(0, 0),
                          timezone="UTC", max_per_hour=10_000_000)
    return Settings(config_path=data_dir / "sources.yaml", data_dir=data_dir, database_url=url,
                    config=Config(sources=configs, digest=digest), base_url=BASE_URL, smtp_url=smtp_url)


# -- ours and the ceiling -----------------------------------------------------------------------


class Recording:
    """The newsletter's transport, keeping a copy of every message for the ceiling."""

    def __init__(self, inner: SmtpTransport, path: Path):
        self.inner = inner
        self.file = path.open("wb")
        self.bytes = 0

    async def send(self, message: EmailMessage | bytes, *, sender: str, recipient: str,
                   before_data: BeforeData | None = None) -> str:
        data = message if isinstance(message, bytes) else message.as_bytes()
        head = json.dumps([sender, recipient]).encode()
        self.file.write(struct.pack("!II", len(head), len(data)) + head + data)
        self.bytes += len(data)
        return await self.inner.send(data, sender=sender, recipient=recipient, before_data=before_data)

    async def close(self) -> None:
        self.file.close()
        await self.inner.close()


def run_ours(url: str, data_dir: str, configs: tuple[SourceConfig, ...], smtp_url: str, copy: str, out: Any) -> None:
    async def main() -> dict[str, Any]:
        settings = settings_for(url, Path(data_dir), configs, smtp_url)
        async with make_aggregator(settings) as agg:
            transport = Recording(SmtpTransport(parse_smtp_url(smtp_url)), Path(copy))
            newsletter = Newsletter(agg.store, agg.digest_config(), base_url=BASE_URL, transport=transport,
                                    clock=agg.clock)
            started = time.perf_counter()
            counts = await newsletter.send_due()
            seconds = time.perf_counter() - started
            await transport.close()
            return {"counts": counts.as_dict(), "seconds": seconds, "bytes": transport.bytes}

    result = asyncio.run(main())
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put(result)


def run_ceiling(smtp_url: str, copy: str, out: Any) -> None:
    async def main() -> dict[str, Any]:
        transport = SmtpTransport(parse_smtp_url(smtp_url))
        sent = 0
        started = time.perf_counter()
        with open(copy, "rb") as f:
            while header := f.read(8):
                head_len, data_len = struct.unpack("!II", header)
                sender, recipient = json.loads(f.read(head_len))
                await transport.send(f.read(data_len), sender=sender, recipient=recipient)
                sent += 1
        seconds = time.perf_counter() - started
        await transport.close()
        return {"sent": sent, "seconds": seconds}

    out.put(asyncio.run(main()))


def in_child(target: Any, *args: Any) -> dict[str, Any]:
    out: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=target, args=(*args, out))
    child.start()
    result: dict[str, Any] = out.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    counter: Any = multiprocessing.Value("q", 0)
    ready = multiprocessing.Event()
    port = free_port()
    sink = multiprocessing.Process(target=serve_sink, args=(port, counter, ready), daemon=True)
    sink.start()
    if not ready.wait(60):
        raise SystemExit("the SMTP sink did not start")
    smtp_url = f"smtp://127.0.0.1:{port}?starttls=off"
    configs = sources(args.sources)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-digest-") as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / 'digest.sqlite3'}"
            started = time.perf_counter()
            fill(url, configs, args.stories, args.subscribers, args.seed)
            fill_seconds = time.perf_counter() - started
            copy = str(Path(tmp) / "messages.bin")
            ours = in_child(run_ours, url, tmp, configs, smtp_url, copy)
            received_ours = counter.value
            ceiling = in_child(run_ceiling, smtp_url, copy)
            received_ceiling = counter.value - received_ours
    finally:
        sink.terminate()
    sent = ours["counts"]["sent"]
    ours_rate = sent / ours["seconds"]
    ceiling_rate = ceiling["sent"] / ceiling["seconds"]
    print(json.dumps({
        "bench": "digest", "subscribers": args.subscribers, "stories": args.stories, "sources": args.sources,
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "sent": sent, "skipped": ours["counts"]["skipped"], "failed": ours["counts"]["failed"],
        "received_by_sink": received_ours, "ceiling_received": received_ceiling,
        "avg_message_kb": round(ours["bytes"] / max(1, sent) / 1024, 1),
        "ours_seconds": round(ours["seconds"], 2), "ours_mails_s": round(ours_rate, 1),
        "ceiling_seconds": round(ceiling["seconds"], 2), "ceiling_mails_s": round(ceiling_rate, 1),
        "ours_vs_ceiling": round(ours_rate / ceiling_rate, 3),
        "peak_rss_mb": round(ours["peak_rss_mb"], 1), "fill_seconds": round(fill_seconds, 1),
    }))


if __name__ == "__main__":
    main()
