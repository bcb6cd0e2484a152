"""``sources``: the configured sources and their health; ``sources add URL`` and
``sources remove SLUG`` edit ``sources.yaml`` for the operator (``config_file``)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from ..config import same_url_key
from ..config_file import append_sources, remove_source
from ..errors import ConfigError, FetchError, ParseError, UsageError
from ..factory import make_aggregator
from ..model import SourceConfig
from ..settings import Settings
from ..shapes import source_json, with_deliveries
from ..sources import slugify, sources_to_yaml
from .checks import check_slugs

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("sources", help="configured sources and their health; add or remove one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)
    # optional: ``aggregator sources [--json]`` is still the list
    ssub = p.add_subparsers(dest="sources_command", metavar="add|remove")
    pa = ssub.add_parser("add", help="find the feed of a site (or a feed URL), show it, add it to sources.yaml")
    pa.add_argument("url", help="the site's address, or its feed's")
    pa.add_argument("--name", help="the medium's name (default: the feed's title)")
    pa.add_argument("--slug", help="its identifier (default: made from the name)")
    pa.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag for its items (repeatable)")
    pa.add_argument("--language", help="language code such as fr (default: what the feed says)")
    pa.set_defaults(func=cmd_sources_add)
    pr = ssub.add_parser("remove", help="remove a source from sources.yaml (its stored items are kept)")
    pr.add_argument("slug")
    pr.set_defaults(func=cmd_sources_remove)


async def cmd_sources(settings: Settings, args: argparse.Namespace) -> int:
    async with make_aggregator(settings) as agg:
        states = {s.slug: s for s in agg.store.sources.states()}
        relay = with_deliveries(agg.store.outbox.status_by_source(), agg.store.ap_deliveries.status_by_source())
        follows = {f.source: f.state for f in agg.store.ap_following.all() if f.source}
    for source in settings.config.sources:
        row = source_json(source, states.get(source.slug), relay.get(source.slug, {}) if relay else None,
                          follow=follows.get(source.slug))
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            line = f"{row['slug']:30} {row['kind']:9} {row['status']:13} {row['items']:6} items  last {row['last_fetch'] or '-'}"
            if row["last_error"]:
                line += f"\n    error ({row['error_count']}x): {row['last_error']}"
            print(line)
    return 0


async def cmd_sources_add(settings: Settings, args: argparse.Namespace) -> int:
    """Discover, fetch once, show, then append to ``sources.yaml`` (comments and layout kept)."""
    url = args.url.strip()
    if not re.match(r"^https?://[^\s/]+", url):
        raise UsageError(f"{url}: expected an http:// or https:// address")
    config = settings.config
    language = args.language.strip().lower() if args.language else None
    if language is not None and not _LANGUAGE.match(language.split("-")[0]):
        raise UsageError(f"--language {args.language}: expected a language code such as fr, en or de")
    print(f"looking for the feed of {url} ...", file=sys.stderr)
    async with make_aggregator(settings, mirror_config=False) as agg:
        retriever = await agg.retriever()
        try:
            found = await retriever.discover(url)
        except (FetchError, ParseError) as exc:
            print(f"cannot add {url}: {exc}", file=sys.stderr)
            return 1
    assert found.parsed is not None and found.resolved_id is not None
    feed = found.parsed.feed
    feed_url = found.resolved_id
    page_url = found.page_url
    configured = {same_url_key(s.url): s for s in config.sources if s.url}
    for candidate in (feed_url, url):
        if same_url_key(candidate) in configured:
            raise UsageError(f"{candidate} is already configured as {configured[same_url_key(candidate)].slug}")
    name = (args.name or feed.title or urlsplit(page_url or feed_url).hostname or "").strip()
    slug = args.slug or slugify(name)
    if not slug or slugify(slug) != slug:
        raise UsageError(f"cannot make a slug from {name!r}: pass --slug with lowercase letters, digits and dashes")
    taken = {s.slug: s for s in config.sources}
    if slug in taken:
        raise UsageError(f"slug {slug} is already used by {taken[slug].name}; choose another with --slug (or --name)")
    if language is None and feed.language:
        primary = feed.language.strip().lower().split("-")[0]
        language = primary if _LANGUAGE.match(primary) else None
    source = SourceConfig(
        slug=slug, name=name, kind="feed", url=feed_url, website=page_url, language=language,
        tags=tuple(dict.fromkeys(t.strip().lower() for t in args.tag if t.strip())),
    )
    count = len(found.parsed.entries)
    where = f"found on {page_url}" if page_url else "the address is a feed"
    print(f"{feed.title or '(untitled feed)'}: {count} item{'' if count == 1 else 's'} at {feed_url} ({where})")
    try:
        append_sources(settings.config_path, [source])
    except ConfigError as exc:
        print(f"not written: {exc}", file=sys.stderr)
        print(f"add this entry under sources: in {settings.config_path} by hand:", file=sys.stderr)
        sys.stdout.write(sources_to_yaml([source]))
        return 2
    sys.stdout.write(sources_to_yaml([source]))
    print(f"added {slug} to {settings.config_path}: a running aggregator picks it up within seconds; "
          f"otherwise run: aggregator crawl --once --source {slug}", file=sys.stderr)
    return 0


async def cmd_sources_remove(settings: Settings, args: argparse.Namespace) -> int:
    check_slugs(settings, [args.slug])
    try:
        removed = remove_source(settings.config_path, args.slug)
    except ConfigError as exc:
        print(f"cannot remove {args.slug}: {exc}", file=sys.stderr)
        return 2
    print(f"removed {removed.slug} ({removed.name}) from {settings.config_path}; its stored items are kept")
    return 0
