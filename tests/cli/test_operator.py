"""What an operator meets on the first days, through the real command in a real process.

A busy port, output piped into ``head``, unknown slugs, every configuration error at once,
warnings, and logs that stay readable for a person.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.cli import EXIT_BROKEN_PIPE, log_rule
from aggregator.settings import Settings
from tests.crawl.helpers import rss
from tests.feedserver import FeedServer

from .test_cli import aggregator

ONE_SOURCE = "sources:\n  - name: Le Site\n    slug: site\n    url: http://127.0.0.1:9/feed.xml\n"


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    out["AGGREGATOR_ALLOW_PRIVATE_NETWORKS"] = "1"
    out.update(extra)
    return out


def argv(tmp: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "aggregator", "--config", str(tmp / "sources.yaml"), "--data-dir", str(tmp / "data"), *args]


async def test_a_busy_port_is_said_in_one_line_with_the_hint(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(ONE_SOURCE, encoding="utf-8")
    with socket.socket() as holder:  # another program holds the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for command in ("run", "serve"):
            code, out, err = await aggregator(tmp_path, command, "--port", str(port))
            said = [line for line in err.splitlines() if not line.startswith("{")]  # JSON lines are logs
            assert code == 2, err
            assert said == [
                f"cannot listen on 127.0.0.1:{port}: the port is already in use (another aggregator, or another "
                f"program); choose another port: --port {port + 1} (with make: make run PORT={port + 1})"
            ], err
            assert "Traceback" not in err and out == ""


def closed_early(args: list[str], environ: dict[str, str]) -> tuple[int, bytes, str]:
    """Read one line of the command's output, then close the pipe, as ``| head -1`` does.

    The pipe is shrunk to one page, and only the first line is read from it: the command
    is sure to write into the closed pipe, every time.
    """
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(args, stdout=write_end, stderr=subprocess.PIPE, env=environ)
    os.close(write_end)
    first = b""
    while not first.endswith(b"\n") and (byte := os.read(read_end, 1)):
        first += byte
    os.close(read_end)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    return proc.wait(timeout=120), first, err


async def test_output_piped_into_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    many = "".join(f"  - name: Source muette {i}\n    url: http://127.0.0.1:9/feed-{i}.xml\n" for i in range(200))
    async with FeedServer() as server:
        server.add("/big.xml", rss([(str(i), f"Grève numéro {i} dans les transports") for i in range(400)]
                                   + [("seul", "Un titre vraiment singulier")]))
        (tmp_path / "sources.yaml").write_text(
            f"sources:\n  - name: Le Gros Site\n    slug: gros\n    url: {server.url('/big.xml')}\n" + many,
            encoding="utf-8",
        )
        code, _, err = await aggregator(tmp_path, "crawl", "--once", "--source", "gros")
        assert code == 0, err
    for command in (["items", "--limit", "500", "--json"], ["sources"], ["search", "grève", "--limit", "200"]):
        code, first, err = closed_early(argv(tmp_path, *command), env())
        assert first.strip(), (command, err)
        assert (code, err) == (EXIT_BROKEN_PIPE, ""), (command, err)
    # and the small plural of search's count, while we have the data
    code, out, err = await aggregator(tmp_path, "search", "singulier")
    assert code == 0 and err.strip() == "1 result" and "Un titre vraiment singulier" in out


async def test_unknown_slugs_are_errors_everywhere_alike(tmp_path: Path) -> None:
    config = tmp_path / "sources.yaml"
    config.write_text(ONE_SOURCE, encoding="utf-8")
    expected = f"{config}: no source with slug nope\n"
    commands = (["crawl", "--once", "--source", "nope"], ["items", "--source", "nope"],
                ["search", "grève", "--source", "nope"], ["sources", "remove", "nope"])
    # none of them opens the database before checking the slug: they can run side by side
    results = await asyncio.gather(*(aggregator(tmp_path, *command) for command in commands))
    assert list(results) == [(2, "", expected)] * len(commands)


async def test_every_configuration_error_at_once_and_warnings(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text(
        "settings:\n  min_interval: soon\n"
        "sources:\n"
        "  - name: A\n    url: https://a.example/feed\n    langage: fr\n"
        "  - name: B\n    url: ftp://b.example/\n    tags: lyon, luttes\n"
        "  - name: C\n    kind: mastodon\n",
        encoding="utf-8",
    )
    code, out, err = await aggregator(tmp_path, "sources")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"configuration error: {bad}:2: settings.min_interval: expected a duration such as 300, 5m, 24h or 2d",
        f"configuration error: {bad}:6: sources[0].langage: unknown key (did you mean language? expected one of: "
        "account, actor, bluesky, description, handle, kind, language, mastodon, name, relay, slug, tags, template, url, website)",
        f"configuration error: {bad}:8: sources[1].url: expected an http:// or https:// URL",
        f"configuration error: {bad}:9: sources[1].tags: write several values as a list: [lyon, luttes]",
        f'configuration error: {bad}:10: sources[2].account: a mastodon source needs account: "@user@instance"',
    ]
    good = tmp_path / "sources.yaml"
    good.write_text(
        "sources:\n  - name: A\n    url: https://a.example/feed\n    tags: lyon\n"
        "  - name: B\n    url: https://A.example/feed/\n",
        encoding="utf-8",
    )
    code, out, err = await aggregator(tmp_path, "sources", "--json")
    assert code == 0 and [json.loads(line)["slug"] for line in out.splitlines()] == ["a", "b"]
    assert err.splitlines() == [
        f"configuration warning: {good}:6: sources[1].url: same URL as sources[0] (a): "
        "its items would be fetched and shown twice"
    ]


async def test_commands_for_people_never_log_json(tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(ONE_SOURCE, encoding="utf-8")
    # stderr is a pipe here, not a terminal, and no format is asked for
    crawl = subprocess.run(argv(tmp_path, "crawl", "--once", "--json"), env=env(AGGREGATOR_LOG_LEVEL="INFO"),
                           capture_output=True, text=True, timeout=120)
    assert crawl.returncode == 0, crawl.stderr
    lines = crawl.stderr.splitlines()
    assert any(" crawl.failed source=site " in line for line in lines), lines
    assert not [line for line in lines if line.startswith("{")], lines
    items = subprocess.run(argv(tmp_path, "items"), env=env(), capture_output=True, text=True, timeout=120)
    assert items.returncode == 0 and items.stderr == ""


@pytest.mark.parametrize(("long_running", "terminal", "level", "fmt", "expected"), [
    (True, False, None, None, ("INFO", "json")),
    (True, True, None, None, ("INFO", "text")),
    (False, False, None, None, ("WARNING", "text")),
    (False, True, None, None, ("WARNING", "text")),
    (False, False, "DEBUG", "json", ("DEBUG", "json")),
])
def test_log_rule(long_running: bool, terminal: bool, level: str | None, fmt: str | None, expected: tuple[str, str]) -> None:
    settings = Settings(config_path=Path("s.yaml"), data_dir=Path("d"), database_url="sqlite://", log_level=level, log_format=fmt)
    assert log_rule(settings, long_running=long_running, stderr_is_terminal=terminal) == expected
