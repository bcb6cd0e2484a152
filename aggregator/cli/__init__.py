"""The command line: argument parsing and printing, nothing else.

Every command is a coroutine ``(Settings, args) -> exit status`` defined in the module of
its domain (``crawl``, ``reading``, ``serving``, ``relaying``, ``maintenance``); each
builds what it needs through ``aggregator.factory.make_aggregator`` and prints the result.
The contracts (flags, ``--json`` shapes, exit statuses) are documented in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from .. import __version__, logs
from ..errors import AggregatorError, ConfigError
from ..settings import load_settings
from . import bluesky, crawl, maintenance, reading, relaying, serving

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="A federated aggregator for independent media.",
    )
    parser.add_argument("--config", help="sources.yaml to use (default ./sources.yaml, or $AGGREGATOR_CONFIG)")
    parser.add_argument("--data-dir", help="directory for the database and index (default ./data, or $AGGREGATOR_DATA_DIR)")
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    parser.set_defaults(reads_config=True)  # a command that must not read sources.yaml says so
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (serving, crawl, reading, relaying, bluesky, maintenance):
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            environ, config_path=args.config, data_dir=args.data_dir,
            read_config=args.reads_config,
        )
        logs.setup(settings.log_level, settings.log_format)
        return int(asyncio.run(args.func(settings, args)))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except AggregatorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
