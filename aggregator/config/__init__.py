"""Read and validate ``sources.yaml``; errors name the file, the line and the field.

The YAML is composed into nodes (not loaded into plain dicts) so every value keeps its
line number; unknown keys are errors because a typo silently ignored is a source that is
never crawled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import yaml

from ..errors import ConfigError, ConfigErrors
from ..model import (
    SOURCE_KINDS,
    Config,
    CrawlSettings,
    RelayConfig,
    SourceConfig,
    SourceKind,
)
from ..sources import slugify
from .keys import (
    ACTIVITYPUB_KEYS,
    BLUESKY_FEED_DEF_KEYS,
    BLUESKY_FEED_KEYS,
    BLUESKY_KEYS,
    BLUESKY_LIST_KEYS,
    BLUESKY_STARTER_PACK_KEYS,
    DIGEST_KEYS,
    MASTODON_KEYS,
    RELAY_KEYS,
    SETTINGS_KEYS,
    SOURCE_KEYS,
    TOP_KEYS,
)
from .reading import (
    Ctx,
    parse_duration,
    read_bool,
    read_duration,
    read_language,
    read_mapping,
    read_number,
    read_string,
    read_string_list,
    read_url,
)
from .reload import ConfigChange, reloadable
from .sections import activitypub_section, bluesky_feed_section, digest_section, relay_section

_ACCOUNT_RE = re.compile(r"^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+(:\d+)?$")
_HANDLE_RE = re.compile(r"^@?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")


__all__ = [
    "ACTIVITYPUB_KEYS",
    "BLUESKY_FEED_DEF_KEYS",
    "BLUESKY_FEED_KEYS",
    "BLUESKY_KEYS",
    "BLUESKY_LIST_KEYS",
    "BLUESKY_STARTER_PACK_KEYS",
    "DIGEST_KEYS",
    "MASTODON_KEYS",
    "RELAY_KEYS",
    "SETTINGS_KEYS",
    "SOURCE_KEYS",
    "TOP_KEYS",
    "ConfigChange",
    "load_config",
    "parse_config",
    "parse_duration",
    "reloadable",
    "same_url_key",
]


def source_entry(ctx: Ctx, node: yaml.Node, index: int) -> SourceConfig | None:
    """One source, or None when it has problems (all of them recorded in ``ctx``)."""
    base = f"sources[{index}]"
    before = len(ctx.errors)
    fields = ctx.attempt(lambda: read_mapping(ctx, node, base, SOURCE_KEYS))
    if fields is None:
        return None
    known = fields

    def get(key: str, parse: Callable[[Ctx, yaml.Node, str], Any]) -> Any:
        if key not in known:
            return None
        return ctx.attempt(lambda: parse(ctx, known[key][1], f"{base}.{key}"))

    name = get("name", read_string)
    if "name" not in fields:
        ctx.missing(node, "name", f"{base}.name", "every source needs a name")
    kind = get("kind", read_string) or "feed"
    if kind not in SOURCE_KINDS:
        ctx.add(fields["kind"][1], f"{base}.kind", f"expected one of: {', '.join(SOURCE_KINDS)}")
    url = get("url", read_url)
    account = get("account", read_string)
    handle = get("handle", read_string)
    if kind in ("feed", "site") and "url" not in fields:
        ctx.missing(node, "url", f"{base}.url", f"a source of kind {kind} needs a url")
    if kind == "mastodon":
        if "account" not in fields:
            ctx.missing(node, "account", f"{base}.account", 'a mastodon source needs account: "@user@instance"')
        elif account is not None and not _ACCOUNT_RE.match(account):
            ctx.add(fields["account"][1], f"{base}.account", 'expected "@user@instance"')
        elif account is not None:
            account = "@" + account.lstrip("@")
    actor = get("actor", read_url)
    if "actor" in fields and kind != "activitypub":
        ctx.add(fields["actor"][1], f"{base}.actor", "actor: is for sources of kind activitypub")
    if kind == "activitypub":
        if ("actor" in fields) == ("account" in fields):
            ctx.add(node, f"{base}.actor", 'an activitypub source needs actor: (an actor URL) or account: "@user@host", not both')
        elif account is not None and not _ACCOUNT_RE.match(account):
            ctx.add(fields["account"][1], f"{base}.account", 'expected "@user@host"')
        elif account is not None:
            account = "@" + account.lstrip("@")
    if kind == "bluesky":
        if "handle" not in fields:
            ctx.missing(node, "handle", f"{base}.handle", "a bluesky source needs a handle such as name.bsky.social")
        elif handle is not None and not _HANDLE_RE.match(handle):
            ctx.add(fields["handle"][1], f"{base}.handle", "expected a handle such as name.bsky.social")
        elif handle is not None:
            handle = handle.lstrip("@").lower()
    slug = get("slug", read_string)
    if slug is not None:
        if slugify(slug) != slug:
            ctx.add(fields["slug"][1], f"{base}.slug", "use lowercase letters, digits and dashes")
    elif name is not None and "slug" not in fields:
        slug = slugify(name)
        if not slug:
            ctx.add(fields["name"][1], f"{base}.name", "cannot make a slug from this name; add slug:")
    relay = get("relay", read_bool)
    values = {
        "language": get("language", read_language),
        "tags": tuple(t.lower() for t in (get("tags", read_string_list) or ())),
        "description": get("description", read_string),
        "website": get("website", read_url),
        "mastodon": get("mastodon", read_string),
        "bluesky": get("bluesky", read_string),
        "template": get("template", read_string),
    }
    if len(ctx.errors) > before or name is None or slug is None:
        return None
    return SourceConfig(
        slug=slug,
        name=name,
        kind=cast(SourceKind, kind),
        url=url,
        account=account,
        actor=actor,
        handle=handle,
        relay=True if relay is None else relay,
        **values,
    )


def settings_section(ctx: Ctx, node: yaml.Node) -> CrawlSettings:
    fields = read_mapping(ctx, node, "settings", SETTINGS_KEYS)
    default = CrawlSettings()
    values: dict[str, Any] = {}

    def put(key: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"settings.{key}"))
            if value is not None:
                values[key] = value

    put("user_agent", lambda n, f: read_string(ctx, n, f))
    put("min_interval", lambda n, f: read_duration(ctx, n, f))
    put("max_interval", lambda n, f: read_duration(ctx, n, f))
    put("per_host_delay", lambda n, f: read_number(ctx, n, f, minimum=0))
    put("bluesky_appview", lambda n, f: read_url(ctx, n, f).rstrip("/"))
    settings = CrawlSettings(**{**default.__dict__, **values})
    if settings.min_interval > settings.max_interval:
        raise ctx.error(node, "settings.min_interval", "must not exceed max_interval")
    return settings


def parse_config(text: str, file: str = "sources.yaml") -> Config:
    """Validate the text of a ``sources.yaml``.

    The whole file is checked: every problem is reported at once, in the file's order.
    Doubtful but valid things (two sources with one URL) become ``Config.warnings``.

    Raises:
        ConfigError: one problem, or ``ConfigErrors`` listing them all; each names the
            file, line and field.
    """
    ctx = Ctx(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem}", file=file, line=mark.line + 1 if mark else None
        ) from exc
    if root is None:
        raise ConfigError("the file is empty; it needs a sources: list", file=file, line=1)
    fields = read_mapping(ctx, root, "", TOP_KEYS)
    sources: list[SourceConfig] = []
    warnings: list[str] = []
    if "sources" not in fields:
        ctx.add(root, "sources", "a sources: list is required")
    elif not isinstance(seq := fields["sources"][1], yaml.SequenceNode):
        ctx.add(seq, "sources", "expected a list of sources")
    else:
        seen: dict[str, int] = {}
        urls: dict[str, tuple[int, str]] = {}
        for index, item in enumerate(seq.value):
            source = source_entry(ctx, item, index)
            if source is None:
                continue
            if source.slug in seen:
                ctx.add(item, f"sources[{index}].slug", f"slug {source.slug!r} is already used by sources[{seen[source.slug]}]")
                continue
            seen[source.slug] = index
            sources.append(source)
            if source.url and source.kind in ("feed", "site"):
                key = same_url_key(source.url)
                if key in urls:
                    other, other_slug = urls[key]
                    line = (_value_node(item, "url") or item).start_mark.line + 1
                    warnings.append(f"{file}:{line}: sources[{index}].url: same URL as sources[{other}] ({other_slug}): "
                                    "its items would be fetched and shown twice")
                else:
                    urls[key] = (index, source.slug)
    settings = ctx.attempt(lambda: settings_section(ctx, fields["settings"][1])) if "settings" in fields else None
    relay = ctx.attempt(lambda: relay_section(ctx, fields["relay"][1])) if "relay" in fields else None
    digest = ctx.attempt(lambda: digest_section(ctx, fields["digest"][1])) if "digest" in fields else None
    bluesky_feed = (ctx.attempt(lambda: bluesky_feed_section(ctx, fields["bluesky_feed"][1], set(seen)))
                    if "bluesky_feed" in fields else None)
    activitypub = ctx.attempt(lambda: activitypub_section(ctx, fields["activitypub"][1])) if "activitypub" in fields else None
    if ctx.errors:
        errors = sorted(ctx.errors, key=lambda e: e.line or 0)
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    return Config(
        sources=tuple(sources), settings=settings or CrawlSettings(), relay=relay or RelayConfig(), path=file,
        digest=digest, bluesky_feed=bluesky_feed, warnings=tuple(warnings), activitypub=activitypub,
    )


def same_url_key(url: str) -> str:
    """URLs that fetch the same document: scheme and host in any case, a trailing slash or not."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "/", parts.query, ""))


def _value_node(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return cast(yaml.Node, value_node)
    return None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a ``sources.yaml`` file."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", file=file) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=file) from exc
    return parse_config(text, file)
