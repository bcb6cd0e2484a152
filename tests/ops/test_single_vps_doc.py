"""docs/single-vps.md and docs/relay-setup.md agree with the CLI, the environment and systemd.

Every ``aggregator`` invocation in them (unit files, shell blocks, the ``agg`` wrapper)
must parse with the real argument parser and reach the intended command; the unit files
pass ``systemd-analyze verify``; the environment file names only variables the program
reads; the reverse proxies point at the port the service listens on.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aggregator import cli
from aggregator.ops.doctor import FIXES
from aggregator.settings import ENVIRONMENT
from tests.scale.procs import ROOT

VPS = ROOT / "docs" / "single-vps.md"
RELAY = ROOT / "docs" / "relay-setup.md"
BINARY = "/opt/aggregator/.venv/bin/aggregator"
CONFIG, DATA = "/etc/aggregator/sources.yaml", "/var/lib/aggregator"
UNITS = {
    "aggregator.service": "cmd_run",
    "aggregator-backup.service": "cmd_backup",
    "aggregator-crawler@.service": "cmd_crawl",
    "aggregator-web@.service": "cmd_serve",
    "aggregator-relay.service": "cmd_relay",
}


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


def unit_files() -> dict[str, str]:
    """``name -> text`` of every ini block that starts with ``# /etc/systemd/system/NAME``."""
    found = {}
    for block in blocks(VPS, "ini"):
        first, _, rest = block.partition("\n")
        m = re.match(r"# /etc/systemd/system/(\S+)$", first)
        if m:
            found[m.group(1)] = rest
    return found


def argv_after(binary_or_agg: str, line: str) -> list[str] | None:
    """The arguments given to ``aggregator`` (or the ``agg`` wrapper) on a shell or unit line."""
    line = re.sub(r"\$\([^)]*\)", "STAMP", line)  # $(date +%F) and the like: one word
    if binary_or_agg == "agg":
        m = re.match(r"^\s*agg\s+(.*)$", line)
    else:
        m = re.search(re.escape(binary_or_agg) + r"\s+(.*)$", line)
    if not m or '"$@"' in m.group(1):
        return None
    rest = m.group(1).split(" #", 1)[0].rstrip()
    if rest.count("'") % 2:  # the end of a ``sh -c '…'`` around the command
        rest = rest.removesuffix("'")
    return shlex.split(rest)


def exec_argv(unit: str) -> list[str]:
    """The ``aggregator`` arguments of a unit's ExecStart (through ``/bin/sh -c`` too)."""
    [line] = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    if line.startswith("/bin/sh -c "):
        line = shlex.split(line.replace("%%", "%"))[2]
    argv = argv_after(BINARY, line.replace("%i", "8080"))
    assert argv, line
    return argv


def test_unit_files_run_valid_aggregator_commands() -> None:
    units = unit_files()
    assert set(UNITS) <= set(units), f"docs/single-vps.md lacks {set(UNITS) - set(units)}"
    assert "aggregator-backup.timer" in units
    parser = cli.build_parser()
    for name, func in UNITS.items():
        text = units[name]
        args = parser.parse_args(exec_argv(text))
        assert args.func.__name__ == func, name
        assert (args.config, args.data_dir) == (CONFIG, DATA), name
        assert re.search(r"^User=aggregator$", text, re.M), name
        if name != "aggregator-backup.service":
            assert "EnvironmentFile=/etc/aggregator/aggregator.env" in text, name
    run = parser.parse_args(exec_argv(units["aggregator.service"]))
    assert (run.host, run.port) == ("127.0.0.1", 8080)
    assert not parser.parse_args(exec_argv(units["aggregator-crawler@.service"])).once  # the looping worker
    relay = parser.parse_args(exec_argv(units["aggregator-relay.service"]))
    assert not relay.once and not relay.dry_run
    assert "ReadWritePaths=/var/lib/aggregator" in units["aggregator.service"]


def test_unit_files_pass_systemd_analyze(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    aggregator = Path(sys.executable).with_name("aggregator")
    assert aggregator.exists(), "make install puts the aggregator command beside the interpreter"
    paths = []
    for name, text in unit_files().items():
        path = tmp_path / name
        path.write_text(text.replace(BINARY, str(aggregator)), encoding="utf-8")
        paths.append(str(path))
    done = subprocess.run([analyze, "verify", *paths], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", done.stdout + done.stderr


def test_shell_commands_are_valid_invocations() -> None:
    parser = cli.build_parser()
    seen = 0
    for path in (VPS, RELAY):
        for block in blocks(path, "sh"):
            for line in block.splitlines():
                for argv in (argv_after(BINARY, line), argv_after("agg", line), argv_after("aggregator", line)
                             if re.match(r"^\s*aggregator\s", line) else None):
                    if argv:
                        args = parser.parse_args(argv)  # SystemExit (an error) when invalid
                        assert args.func, line
                        seen += 1
    assert seen >= 20
    # the wrapper passes its arguments after the fixed configuration and data dir
    wrapper = next(line for b in blocks(VPS, "sh") for line in b.splitlines() if '"$@"' in line and BINARY in line)
    assert f"{BINARY} --config {CONFIG} --data-dir {DATA} \"$@\"" in wrapper


def test_environment_file_and_reverse_proxies() -> None:
    env_block = next(b for b in blocks(VPS, "ini") if b.startswith("# /etc/aggregator/aggregator.env"))
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_block, re.M)
    assert names and set(names) <= set(ENVIRONMENT), set(names) - set(ENVIRONMENT)
    assert "AGGREGATOR_BASE_URL" in names
    [caddy] = [b for b in blocks(VPS, "caddyfile") if b.startswith("# /etc/caddy/Caddyfile")]
    assert "reverse_proxy 127.0.0.1:8080" in caddy
    [nginx] = blocks(VPS, "nginx")
    assert "proxy_pass http://127.0.0.1:8080;" in nginx
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert re.search(rf"proxy_set_header {header}\s+\$", nginx), header
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/single-vps.md" in readme and "docs/relay-setup.md" in readme


def test_relay_guide_names_the_scopes_doctor_asks_for() -> None:
    guide = RELAY.read_text(encoding="utf-8")
    scopes = re.findall(r"\b(?:read|write):[a-z]+", FIXES["mastodon"])
    assert scopes == ["write:statuses", "read:accounts", "read:statuses", "read:search"]
    for scope in scopes:
        assert f"| `{scope}` |" in guide
    assert "Preferences → Development → New application" in guide
    assert "App passwords" in guide and "--dry-run" in guide and "--queue-recent" in guide
