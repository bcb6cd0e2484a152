"""``crawl --once`` on a real terminal: log lines above the bar, each failure said once.

The command runs with a pseudo-terminal as its stdout and stderr (what an operator's
terminal is); what it writes is replayed through a tiny terminal (carriage return, line
feed, erase to end of line) to get the screen the operator ends up reading.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

BAR = re.compile(r"^\[[#.]{30}\] \d+/\d+ \S+$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (info|warning|error) ")


def screen(output: bytes) -> list[str]:
    """The lines a terminal shows after ``output`` (\\r, \\n and ESC[K; nothing else is used)."""
    lines: list[str] = []
    line: list[str] = []
    col = 0
    text = output.decode("utf-8", "replace")
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("\x1b[K", i):
            del line[col:]
            i += 3
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        i += 1
    if line:
        lines.append("".join(line).rstrip())
    return lines


def run_in_terminal(args: list[str], env: dict[str, str], columns: int = 120) -> tuple[int, bytes]:
    """Run ``args`` with a pseudo-terminal as stdin, stdout and stderr; everything it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: the child closed its side of the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(timeout=60), bytes(out)


async def test_logs_go_above_the_bar_and_each_failure_is_said_once(tmp_path: Path) -> None:
    async with FeedServer() as server:
        lines = ["sources:\n"]
        for n in range(6):
            server.add(f"/f{n}.xml", rss([(f"{n}-{i}", f"Article {i} du site {n}") for i in range(3)]))
            lines.append(f"  - name: Site {n}\n    slug: site-{n}\n    url: {server.url(f'/f{n}.xml')}\n")
        server.error("/down.xml", 503)
        server.error("/gone.xml", 404)
        lines.append(f"  - name: En panne\n    slug: en-panne\n    url: {server.url('/down.xml')}\n")
        lines.append(f"  - name: Disparu\n    slug: disparu\n    url: {server.url('/gone.xml')}\n")
        (tmp_path / "sources.yaml").write_text("".join(lines), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
        # INFO: every fetched source logs a line while the bar is drawn, the worst case
        env |= {"AGGREGATOR_ALLOW_PRIVATE_NETWORKS": "1", "AGGREGATOR_LOG_LEVEL": "INFO", "TERM": "xterm"}
        args = [sys.executable, "-m", "aggregator", "--config", str(tmp_path / "sources.yaml"),
                "--data-dir", str(tmp_path / "data"), "crawl", "--once"]
        code, output = await asyncio.to_thread(run_in_terminal, args, env)
    shown = [line for line in screen(output) if line]
    assert code == 0, shown
    assert "\x1b[K" in output.decode(), "the bar is redrawn in place"
    # the bar is left once, complete, on its own line: log lines never went into it
    bars = [line for line in shown if line.startswith("[")]
    assert len(bars) == 1 and BAR.match(bars[0]) and " 8/8 " in bars[0], shown
    logs = [line for line in shown if "crawl.source" in line]
    assert len(logs) == 6 and all(STAMP.match(line) and "[#" not in line for line in logs), shown
    # each failure: once, in words, with when it is tried again; not also as a log record
    for slug, why in (("en-panne", "HTTP 503"), ("disparu", "HTTP 404")):
        said = [line for line in shown if slug in line]
        assert len(said) == 1, shown
        assert re.match(rf"^{slug}: failed: {why}.* \(next try in \d+ (s|min|h)\)$", said[0]), said
    assert not [line for line in shown if "crawl.failed" in line]
    assert shown[-1].startswith("8 sources: 6 ok, 0 not modified, 2 failed; 18 new and 0 updated items in ")
    assert shown.index(bars[0]) == len(shown) - 2, "the summary comes after the bar"
