"""Running the real ``aggregator`` command for the operator tests, and feeds dated from now."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.scale.procs import ROOT


def clean_env(**extra: str) -> dict[str, str]:
    """The child's environment: none of the operator's aggregator or relay variables leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGGREGATOR_", "MASTODON_", "BLUESKY_"))}
    env.update(PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), AGGREGATOR_LOG_FORMAT="json",
               AGGREGATOR_ALLOW_PRIVATE_NETWORKS="1")
    env.update(extra)
    return env


async def aggregator(
    config: Path, data: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """``aggregator --config CONFIG --data-dir DATA ARGS``: (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aggregator", "--config", str(config), "--data-dir", str(data), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=dict(env or clean_env()),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def people(stderr: str) -> str:
    """What a command said to people on stderr, without the JSON log lines."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("{"))


def rss(items: list[tuple[str, str, str, datetime]], *, title: str = "Le Site") -> str:
    """An RSS 2.0 feed of (guid, title, link, published) items."""
    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link><guid isPermaLink=\"false\">{guid}</guid>"
        f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>Texte de l'article {guid}.</description></item>"
        for guid, t, link, when in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
            f"<link>https://site.example/</link><description>Infos</description><language>fr</language>"
            f"{body}</channel></rss>")


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def dump(database: Path, *tables: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of these tables, read-only (to show a command changed nothing)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()
