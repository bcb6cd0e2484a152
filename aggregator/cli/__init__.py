"""The command line: argument parsing and printing, nothing else.

Every command is a coroutine ``(Settings, args) -> exit status`` defined in the module of
its domain (``crawl``, ``reading``, ``serving``, ``relaying``, ``maintenance``); each
builds what it needs through ``aggregator.factory.make_aggregator`` and prints the result.
The contracts (flags, ``--json`` shapes, exit statuses) are documented in docs/commands.md.

What every command shares is here, once: exit statuses (2 for what the operator must fix:
configuration, a busy port, an unknown slug), configuration warnings, the log rule
(``log_rule``) and a quiet exit when the reader of our output goes away (``aggregator items
| head``): ``BrokenPipeError`` is caught here, not in each command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from .. import __version__, logs
from ..errors import AggregatorError, ConfigError, UsageError
from ..settings import Settings, load_settings
from . import (
    bluesky,
    crawl,
    fediverse,
    maintenance,
    newsletter,
    operations,
    reading,
    relaying,
    serving,
    sources,
    suggestions,
)

__all__ = ["EXIT_BROKEN_PIPE", "build_parser", "log_rule", "main"]

#: The status of a command whose output pipe was closed early, as if SIGPIPE had ended it
#: (what a shell reports for ``yes | head``): scripts with ``set -o pipefail`` can tell.
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="A federated aggregator for independent media.",
    )
    parser.add_argument("--config", help="sources.yaml to use (default ./sources.yaml, or $AGGREGATOR_CONFIG)")
    parser.add_argument("--data-dir", help="directory for the database and index (default ./data, or $AGGREGATOR_DATA_DIR)")
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    parser.set_defaults(reads_config=True)  # a command that must not read sources.yaml says so
    # A command that keeps running (a service) says so: it logs differently (see log_rule).
    parser.set_defaults(long_running=lambda args: False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serving, crawl, reading, sources, relaying, bluesky, newsletter, suggestions, maintenance, operations, fediverse):
        module.add_parsers(sub)
    return parser


def log_rule(settings: Settings, *, long_running: bool, stderr_is_terminal: bool) -> tuple[str, str]:
    """The log level and format of a command, unless the environment says otherwise.

    Long-running commands (``run``, ``serve``, the ``crawl`` and ``relay`` loops) are
    services: INFO, as text on a terminal and JSON otherwise (a collector reads them).
    Every other command is run by a person, who reads its output, not its logs: WARNING,
    always as text. ``AGGREGATOR_LOG_LEVEL`` and ``AGGREGATOR_LOG_FORMAT`` win over both.
    """
    if long_running:
        level, fmt = "INFO", "text" if stderr_is_terminal else "json"
    else:
        level, fmt = "WARNING", "text"
    return settings.log_level or level, settings.log_format or fmt


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    try:
        try:
            settings = load_settings(
                environ, config_path=args.config, data_dir=args.data_dir,
                read_config=args.reads_config,
            )
            level, fmt = log_rule(settings, long_running=args.long_running(args), stderr_is_terminal=sys.stderr.isatty())
            logs.setup(level, fmt)
            for warning in settings.config.warnings:
                print(f"configuration warning: {warning}", file=sys.stderr)
            status = int(asyncio.run(args.func(settings, args)))
        except ConfigError as exc:
            for error in exc.errors:
                print(f"configuration error: {error}", file=sys.stderr)
            status = 2
        except UsageError as exc:
            print(exc, file=sys.stderr)
            status = 2
        except KeyboardInterrupt:
            status = 130
        except AggregatorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
        sys.stdout.flush()  # inside the try: a closed pipe often shows only here
        return status
    except BrokenPipeError:
        # Whoever read our output stopped (``| head``): stop quietly. Python flushes
        # stdout again at exit; point it at /dev/null so that flush cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
