"""Read and validate ``sources.yaml``; errors name the file, the line and the field.

The YAML is composed into nodes (not loaded into plain dicts) so every value keeps its
line number; unknown keys are errors because a typo silently ignored is a source that is
never crawled.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import email_validator
import regex
import yaml

from .errors import ConfigError
from .model import (
    SOURCE_KINDS,
    BlueskyCollectionDef,
    BlueskyFeedConfig,
    BlueskyFeedDef,
    BlueskyTarget,
    Config,
    CrawlSettings,
    DigestConfig,
    FeedSelection,
    MastodonTarget,
    RelayConfig,
    SourceConfig,
    SourceKind,
)
from .sources import slugify

SOURCE_KEYS = {
    "name", "slug", "kind", "url", "account", "handle", "language", "tags", "relay",
    "description", "website", "mastodon", "bluesky", "template",
}
SETTINGS_KEYS = {"user_agent", "min_interval", "max_interval", "bluesky_appview", "per_host_delay"}
RELAY_KEYS = {"mastodon", "bluesky", "template", "hashtags", "max_posts_per_hour", "backlog", "max_attempts"}
MASTODON_KEYS = {"api_base_url", "visibility"}
BLUESKY_KEYS = {"service", "appview"}
DIGEST_KEYS = {"from", "send_at", "timezone", "list_address", "group_by", "max_per_hour", "unsubscribe_address"}
BLUESKY_FEED_KEYS = {"feeds", "list", "starter_pack", "plc", "sync_every"}
BLUESKY_FEED_DEF_KEYS = {"short_name", "display_name", "description", "avatar", "tags", "languages", "sources"}
BLUESKY_LIST_KEYS = {"name", "description", "avatar"}
BLUESKY_STARTER_PACK_KEYS = {"name", "description"}
TOP_KEYS = {"sources", "settings", "relay", "digest", "bluesky_feed"}

_ACCOUNT_RE = re.compile(r"^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+(:\d+)?$")
_HANDLE_RE = re.compile(r"^@?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
#: A feed's short name is its record key and the end of its bsky.app URL (Bluesky's own
#: tools allow 15 characters).
_SHORT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?$")
_AVATAR_RE = re.compile(r"\.(png|jpe?g)$", re.IGNORECASE)


@dataclass
class _Ctx:
    file: str

    def error(self, node: yaml.Node | None, field: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, file=self.file, line=line, field=field)


def _mapping(ctx: _Ctx, node: yaml.Node, field: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, field, "expected a mapping of keys to values")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ctx.error(key_node, field, "keys must be plain strings")
        name = f"{field}.{key}" if field else key
        if key not in allowed:
            raise ctx.error(key_node, name, f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        if key in out:
            raise ctx.error(key_node, name, "duplicate key")
        out[key] = (key_node, value_node)
    return out


def _scalar(ctx: _Ctx, node: yaml.Node, field: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, field, "expected a single value")
    return yaml.safe_load(yaml.serialize(node))


def _string(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _scalar(ctx, node, field)
    if not isinstance(value, str) or not value.strip():
        raise ctx.error(node, field, "expected a non-empty text")
    return value.strip()


def _bool(ctx: _Ctx, node: yaml.Node, field: str) -> bool:
    value = _scalar(ctx, node, field)
    if not isinstance(value, bool):
        raise ctx.error(node, field, "expected true/false (or on/off)")
    return value


def _number(ctx: _Ctx, node: yaml.Node, field: str, *, minimum: float = 0) -> float:
    value = _scalar(ctx, node, field)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.error(node, field, "expected a number")
    if value < minimum:
        raise ctx.error(node, field, f"must be at least {minimum}")
    return float(value)


def _duration(ctx: _Ctx, node: yaml.Node, field: str) -> float:
    """Seconds from ``300``, ``"5m"``, ``"24h"`` or ``"2d"``."""
    value = _scalar(ctx, node, field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value)):
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    else:
        raise ctx.error(node, field, "expected a duration such as 300, 5m, 24h or 2d")
    if seconds <= 0:
        raise ctx.error(node, field, "must be positive")
    return seconds


def _url(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _string(ctx, node, field)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ctx.error(node, field, "expected an http:// or https:// URL")
    return value


def _string_list(ctx: _Ctx, node: yaml.Node, field: str) -> tuple[str, ...]:
    if isinstance(node, yaml.ScalarNode):
        return (_string(ctx, node, field),)
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(node, field, "expected a list")
    return tuple(_string(ctx, item, field) for item in node.value)


def _language(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _string(ctx, node, field).lower()
    if not _LANG_RE.match(value):
        raise ctx.error(node, field, "expected a language code such as fr, en or de")
    return value


def _source(ctx: _Ctx, node: yaml.Node, index: int) -> SourceConfig:
    base = f"sources[{index}]"
    fields = _mapping(ctx, node, base, SOURCE_KEYS)

    def get(key: str, parse: Callable[[_Ctx, yaml.Node, str], Any]) -> Any:
        if key not in fields:
            return None
        return parse(ctx, fields[key][1], f"{base}.{key}")

    name = get("name", _string)
    if name is None:
        raise ctx.error(node, f"{base}.name", "every source needs a name")
    kind = get("kind", _string) or "feed"
    if kind not in SOURCE_KINDS:
        raise ctx.error(fields["kind"][1], f"{base}.kind", f"expected one of: {', '.join(SOURCE_KINDS)}")
    url = get("url", _url)
    account = get("account", _string)
    handle = get("handle", _string)
    if kind in ("feed", "site") and url is None:
        raise ctx.error(node, f"{base}.url", f"a source of kind {kind} needs a url")
    if kind == "mastodon":
        if account is None:
            raise ctx.error(node, f"{base}.account", 'a mastodon source needs account: "@user@instance"')
        if not _ACCOUNT_RE.match(account):
            raise ctx.error(fields["account"][1], f"{base}.account", 'expected "@user@instance"')
        account = "@" + account.lstrip("@")
    if kind == "bluesky":
        if handle is None:
            raise ctx.error(node, f"{base}.handle", "a bluesky source needs a handle such as name.bsky.social")
        if not _HANDLE_RE.match(handle):
            raise ctx.error(fields["handle"][1], f"{base}.handle", "expected a handle such as name.bsky.social")
        handle = handle.lstrip("@").lower()
    slug = get("slug", _string)
    if slug is not None:
        if slugify(slug) != slug:
            raise ctx.error(fields["slug"][1], f"{base}.slug", "use lowercase letters, digits and dashes")
    else:
        slug = slugify(name)
        if not slug:
            raise ctx.error(fields["name"][1], f"{base}.name", "cannot make a slug from this name; add slug:")
    relay = get("relay", _bool)
    return SourceConfig(
        slug=slug,
        name=name,
        kind=cast(SourceKind, kind),
        url=url,
        account=account,
        handle=handle,
        language=get("language", _language),
        tags=tuple(t.lower() for t in (get("tags", _string_list) or ())),
        relay=True if relay is None else relay,
        description=get("description", _string),
        website=get("website", _url),
        mastodon=get("mastodon", _string),
        bluesky=get("bluesky", _string),
        template=get("template", _string),
    )


def _settings(ctx: _Ctx, node: yaml.Node) -> CrawlSettings:
    fields = _mapping(ctx, node, "settings", SETTINGS_KEYS)
    default = CrawlSettings()
    values: dict[str, Any] = {}
    if "user_agent" in fields:
        values["user_agent"] = _string(ctx, fields["user_agent"][1], "settings.user_agent")
    for key in ("min_interval", "max_interval"):
        if key in fields:
            values[key] = _duration(ctx, fields[key][1], f"settings.{key}")
    if "per_host_delay" in fields:
        values["per_host_delay"] = _number(ctx, fields["per_host_delay"][1], "settings.per_host_delay", minimum=0)
    if "bluesky_appview" in fields:
        values["bluesky_appview"] = _url(ctx, fields["bluesky_appview"][1], "settings.bluesky_appview").rstrip("/")
    settings = CrawlSettings(**{**default.__dict__, **values})
    if settings.min_interval > settings.max_interval:
        raise ctx.error(node, "settings.min_interval", "must not exceed max_interval")
    return settings


def _relay(ctx: _Ctx, node: yaml.Node) -> RelayConfig:
    fields = _mapping(ctx, node, "relay", RELAY_KEYS)
    values: dict[str, Any] = {}
    if "mastodon" in fields:
        sub = _mapping(ctx, fields["mastodon"][1], "relay.mastodon", MASTODON_KEYS)
        if "api_base_url" not in sub:
            raise ctx.error(fields["mastodon"][0], "relay.mastodon.api_base_url", "required")
        visibility = "public"
        if "visibility" in sub:
            visibility = _string(ctx, sub["visibility"][1], "relay.mastodon.visibility")
            if visibility not in ("public", "unlisted", "private"):
                raise ctx.error(sub["visibility"][1], "relay.mastodon.visibility", "expected public, unlisted or private")
        values["mastodon"] = MastodonTarget(
            api_base_url=_url(ctx, sub["api_base_url"][1], "relay.mastodon.api_base_url").rstrip("/"),
            visibility=visibility,
        )
    if "bluesky" in fields:
        sub = _mapping(ctx, fields["bluesky"][1], "relay.bluesky", BLUESKY_KEYS)
        values["bluesky"] = BlueskyTarget(
            service=_url(ctx, sub["service"][1], "relay.bluesky.service").rstrip("/") if "service" in sub else "https://bsky.social",
            appview=_url(ctx, sub["appview"][1], "relay.bluesky.appview").rstrip("/") if "appview" in sub else None,
        )
    if "template" in fields:
        values["template"] = _string(ctx, fields["template"][1], "relay.template")
    if "hashtags" in fields:
        values["hashtags"] = tuple(h.lstrip("#") for h in _string_list(ctx, fields["hashtags"][1], "relay.hashtags"))
    if "max_posts_per_hour" in fields:
        values["max_posts_per_hour"] = int(_number(ctx, fields["max_posts_per_hour"][1], "relay.max_posts_per_hour", minimum=1))
    if "max_attempts" in fields:
        values["max_attempts"] = int(_number(ctx, fields["max_attempts"][1], "relay.max_attempts", minimum=1))
    if "backlog" in fields:
        values["backlog"] = _duration(ctx, fields["backlog"][1], "relay.backlog")
    return RelayConfig(**values)


def _mail_address(ctx: _Ctx, node: yaml.Node, field: str, *, display_name: bool) -> str:
    """An address the operator wrote (``a@b.org``, or ``Name <a@b.org>`` where allowed)."""
    value = _string(ctx, node, field)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ctx.error(node, field, "control characters and line breaks are not allowed")
    name, addr = parseaddr(value)
    if not addr or (name and not display_name):
        raise ctx.error(node, field, "expected an e-mail address such as lettre@example.org")
    try:
        checked = email_validator.validate_email(addr, check_deliverability=False, globally_deliverable=False)
    except email_validator.EmailNotValidError as exc:
        raise ctx.error(node, field, f"not a valid e-mail address: {exc}") from exc
    return str(Address(display_name=name, addr_spec=checked.normalized)) if name else checked.normalized


def _clock_time(ctx: _Ctx, node: yaml.Node, field: str) -> time:
    """``HH:MM``, read from the raw text: YAML 1.1 would turn ``07:30`` into 450 (base 60)."""
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, field, "expected a time such as 07:00")
    match = _CLOCK_RE.match(str(node.value).strip())
    if not match:
        raise ctx.error(node, field, "expected a time of day HH:MM such as 07:00")
    return time(int(match.group(1)), int(match.group(2)))


def _digest(ctx: _Ctx, node: yaml.Node) -> DigestConfig:
    fields = _mapping(ctx, node, "digest", DIGEST_KEYS)
    if "from" not in fields:
        raise ctx.error(node, "digest.from", "required: the From address of the newsletter")
    values: dict[str, Any] = {
        "from_address": _mail_address(ctx, fields["from"][1], "digest.from", display_name=True),
    }
    if "send_at" in fields:
        values["send_at"] = _clock_time(ctx, fields["send_at"][1], "digest.send_at")
    if "timezone" in fields:
        zone = _string(ctx, fields["timezone"][1], "digest.timezone")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ctx.error(fields["timezone"][1], "digest.timezone", "unknown time zone (expected a name such as Europe/Paris)") from exc
        values["timezone"] = zone
    for key in ("list_address", "unsubscribe_address"):
        if key in fields:
            values[key] = _mail_address(ctx, fields[key][1], f"digest.{key}", display_name=False)
    if "group_by" in fields:
        group_by = _string(ctx, fields["group_by"][1], "digest.group_by")
        if group_by not in ("source", "tag"):
            raise ctx.error(fields["group_by"][1], "digest.group_by", "expected source or tag")
        values["group_by"] = group_by
    if "max_per_hour" in fields:
        values["max_per_hour"] = int(_number(ctx, fields["max_per_hour"][1], "digest.max_per_hour", minimum=1))
    return DigestConfig(**values)


def _bounded_text(ctx: _Ctx, node: yaml.Node, field: str, *, graphemes: int, chars: int) -> str:
    """A text within the lexicon's limits (graphemes as people count them, and bytes' worth)."""
    value = _string(ctx, node, field)
    if len(regex.findall(r"\X", value)) > graphemes or len(value) > chars:
        raise ctx.error(node, field, f"too long for Bluesky (at most {graphemes} characters)")
    return value


def _avatar(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _string(ctx, node, field)
    if not _AVATAR_RE.search(value):
        raise ctx.error(node, field, "expected the path of a .png or .jpg file (relative to sources.yaml)")
    return value


def _feed_def(ctx: _Ctx, node: yaml.Node, index: int, slugs: set[str]) -> BlueskyFeedDef:
    base = f"bluesky_feed.feeds[{index}]"
    fields = _mapping(ctx, node, base, BLUESKY_FEED_DEF_KEYS)
    for required in ("short_name", "display_name"):
        if required not in fields:
            raise ctx.error(node, f"{base}.{required}", "required")
    short_name = _string(ctx, fields["short_name"][1], f"{base}.short_name")
    if not _SHORT_NAME_RE.match(short_name):
        raise ctx.error(fields["short_name"][1], f"{base}.short_name",
                        "use 1 to 15 lowercase letters, digits and dashes (it ends the feed's URL)")
    sources: tuple[str, ...] = ()
    if "sources" in fields:
        sources = _string_list(ctx, fields["sources"][1], f"{base}.sources")
        unknown = [slug for slug in sources if slug not in slugs]
        if unknown:
            raise ctx.error(fields["sources"][1], f"{base}.sources", f"no source has the slug {unknown[0]!r}")
    languages: tuple[str, ...] = ()
    if "languages" in fields:
        lang_node = fields["languages"][1]
        items = [lang_node] if isinstance(lang_node, yaml.ScalarNode) else (
            lang_node.value if isinstance(lang_node, yaml.SequenceNode) else None)
        if items is None:
            raise ctx.error(lang_node, f"{base}.languages", "expected a list")
        languages = tuple(_language(ctx, item, f"{base}.languages") for item in items)
    tags = tuple(t.lower() for t in _string_list(ctx, fields["tags"][1], f"{base}.tags")) if "tags" in fields else ()
    return BlueskyFeedDef(
        short_name=short_name,
        display_name=_bounded_text(ctx, fields["display_name"][1], f"{base}.display_name", graphemes=24, chars=240),
        description=_bounded_text(ctx, fields["description"][1], f"{base}.description", graphemes=300, chars=3000)
        if "description" in fields else None,
        avatar=_avatar(ctx, fields["avatar"][1], f"{base}.avatar") if "avatar" in fields else None,
        selection=FeedSelection(sources=sources, tags=tags, languages=languages),
    )


def _bluesky_feed(ctx: _Ctx, node: yaml.Node, slugs: set[str]) -> BlueskyFeedConfig:
    fields = _mapping(ctx, node, "bluesky_feed", BLUESKY_FEED_KEYS)
    feeds: list[BlueskyFeedDef] = []
    if "feeds" in fields:
        seq = fields["feeds"][1]
        if not isinstance(seq, yaml.SequenceNode):
            raise ctx.error(seq, "bluesky_feed.feeds", "expected a list of feeds")
        for index, item in enumerate(seq.value):
            feed = _feed_def(ctx, item, index, slugs)
            if any(f.short_name == feed.short_name for f in feeds):
                raise ctx.error(item, f"bluesky_feed.feeds[{index}].short_name", f"{feed.short_name!r} is already used")
            feeds.append(feed)
    values: dict[str, Any] = {"feeds": tuple(feeds)}
    if "list" in fields:
        sub = _mapping(ctx, fields["list"][1], "bluesky_feed.list", BLUESKY_LIST_KEYS)
        if "name" not in sub:
            raise ctx.error(fields["list"][0], "bluesky_feed.list.name", "required")
        values["list"] = BlueskyCollectionDef(
            name=_bounded_text(ctx, sub["name"][1], "bluesky_feed.list.name", graphemes=64, chars=64),
            description=_bounded_text(ctx, sub["description"][1], "bluesky_feed.list.description", graphemes=300, chars=3000)
            if "description" in sub else None,
            avatar=_avatar(ctx, sub["avatar"][1], "bluesky_feed.list.avatar") if "avatar" in sub else None,
        )
    if "starter_pack" in fields:
        sub = _mapping(ctx, fields["starter_pack"][1], "bluesky_feed.starter_pack", BLUESKY_STARTER_PACK_KEYS)
        if "name" not in sub:
            raise ctx.error(fields["starter_pack"][0], "bluesky_feed.starter_pack.name", "required")
        if "list" not in values:
            raise ctx.error(fields["starter_pack"][0], "bluesky_feed.starter_pack",
                            "a starter pack is built on the list: add bluesky_feed.list too")
        values["starter_pack"] = BlueskyCollectionDef(
            name=_bounded_text(ctx, sub["name"][1], "bluesky_feed.starter_pack.name", graphemes=50, chars=500),
            description=_bounded_text(ctx, sub["description"][1], "bluesky_feed.starter_pack.description",
                                      graphemes=300, chars=3000) if "description" in sub else None,
        )
    if not feeds and "list" not in values:
        raise ctx.error(node, "bluesky_feed", "expected feeds:, list: or both")
    if "plc" in fields:
        values["plc"] = _url(ctx, fields["plc"][1], "bluesky_feed.plc").rstrip("/")
    if "sync_every" in fields:
        every = _duration(ctx, fields["sync_every"][1], "bluesky_feed.sync_every")
        if every < 60:
            raise ctx.error(fields["sync_every"][1], "bluesky_feed.sync_every", "at least 1m (Bluesky limits writes)")
        values["sync_every"] = every
    return BlueskyFeedConfig(**values)


def parse_config(text: str, file: str = "sources.yaml") -> Config:
    """Validate the text of a ``sources.yaml``.

    Raises:
        ConfigError: naming the file, line and field of the first problem.
    """
    ctx = _Ctx(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"not valid YAML: {exc.problem}", file=file, line=mark.line + 1 if mark else None
        ) from exc
    if root is None:
        raise ConfigError("the file is empty; it needs a sources: list", file=file, line=1)
    fields = _mapping(ctx, root, "", TOP_KEYS)
    if "sources" not in fields:
        raise ctx.error(root, "sources", "a sources: list is required")
    seq = fields["sources"][1]
    if not isinstance(seq, yaml.SequenceNode):
        raise ctx.error(seq, "sources", "expected a list of sources")
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(seq.value):
        source = _source(ctx, item, index)
        if source.slug in seen:
            raise ctx.error(item, f"sources[{index}].slug", f"slug {source.slug!r} is already used by sources[{seen[source.slug]}]")
        seen[source.slug] = index
        sources.append(source)
    settings = _settings(ctx, fields["settings"][1]) if "settings" in fields else CrawlSettings()
    relay = _relay(ctx, fields["relay"][1]) if "relay" in fields else RelayConfig()
    digest = _digest(ctx, fields["digest"][1]) if "digest" in fields else None
    bluesky_feed = _bluesky_feed(ctx, fields["bluesky_feed"][1], set(seen)) if "bluesky_feed" in fields else None
    return Config(sources=tuple(sources), settings=settings, relay=relay, path=file, digest=digest,
                  bluesky_feed=bluesky_feed)


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


