"""Read and validate ``sources.yaml``; errors name the file, the line and the field.

The YAML is composed into nodes (not loaded into plain dicts) so every value keeps its
line number; unknown keys are errors because a typo silently ignored is a source that is
never crawled.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import time
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import email_validator
import regex
import yaml

from .errors import ConfigError, ConfigErrors
from .model import (
    SOURCE_KINDS,
    ActivityPubConfig,
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
    "description", "website", "mastodon", "bluesky", "template", "actor",
}
SETTINGS_KEYS = {"user_agent", "min_interval", "max_interval", "bluesky_appview", "per_host_delay"}
RELAY_KEYS = {"mastodon", "bluesky", "template", "hashtags", "max_posts_per_hour", "backlog", "max_attempts"}
MASTODON_KEYS = {"api_base_url", "visibility"}
BLUESKY_KEYS = {"service", "appview"}
DIGEST_KEYS = {"from", "send_at", "timezone", "list_address", "group_by", "max_per_hour", "unsubscribe_address"}
ACTIVITYPUB_KEYS = {"username", "name", "summary", "avatar", "blocked_domains"}
BLUESKY_FEED_KEYS = {"feeds", "list", "starter_pack", "plc", "sync_every"}
BLUESKY_FEED_DEF_KEYS = {"short_name", "display_name", "description", "avatar", "tags", "languages", "sources"}
BLUESKY_LIST_KEYS = {"name", "description", "avatar"}
BLUESKY_STARTER_PACK_KEYS = {"name", "description"}
TOP_KEYS = {"sources", "settings", "relay", "digest", "bluesky_feed", "activitypub"}

_ACCOUNT_RE = re.compile(r"^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+(:\d+)?$")
_HANDLE_RE = re.compile(r"^@?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_DURATION_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: A feed's short name is its record key and the end of its bsky.app URL (Bluesky's own
#: tools allow 15 characters).
_SHORT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?$")
_AVATAR_RE = re.compile(r"\.(png|jpe?g)$", re.IGNORECASE)

T = TypeVar("T")


@dataclass
class _Ctx:
    """Where problems are gathered: the whole file is checked, every problem reported at once."""

    file: str
    errors: list[ConfigError] = dataclass_field(default_factory=list)
    #: (mapping, key) pairs where an unknown key looks like that key: no "missing" error too.
    misspelled: set[tuple[int, str]] = dataclass_field(default_factory=set)

    def missing(self, node: yaml.Node, key: str, field: str, message: str) -> None:
        """A required key is absent, unless a misspelling of it was already reported."""
        if (id(node), key) not in self.misspelled:
            self.add(node, field, message)

    def error(self, node: yaml.Node | None, field: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(message, file=self.file, line=line, field=field)

    def add(self, node: yaml.Node | None, field: str, message: str) -> None:
        self.errors.append(self.error(node, field, message))

    def attempt(self, parse: Callable[[], T]) -> T | None:
        """``parse()``, or None with its error recorded: the next field is still checked."""
        try:
            return parse()
        except ConfigError as exc:
            self.errors.extend(exc.errors)
            return None


def _mapping(ctx: _Ctx, node: yaml.Node, field: str, allowed: set[str]) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The keys of a mapping; unknown and duplicate keys are recorded (all of them) and left out."""
    if not isinstance(node, yaml.MappingNode):
        raise ctx.error(node, field, "expected a mapping of keys to values")
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            ctx.add(key_node, field, "keys must be plain strings")
            continue
        name = f"{field}.{key}" if field else key
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            ctx.add(key_node, name, f"unknown key ({hint}expected one of: {', '.join(sorted(allowed))})")
            if close:
                ctx.misspelled.add((id(node), close[0]))
        elif key in out:
            ctx.add(key_node, name, "duplicate key")
        else:
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


def parse_duration(text: str) -> float | None:
    """Seconds from ``300``, ``5m``, ``6h`` or ``2d`` (the configuration's durations), else None."""
    m = _DURATION_RE.match(text)
    if m is None:
        return None
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    return seconds if seconds > 0 else None


def _url(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _string(ctx, node, field)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ctx.error(node, field, "expected an http:// or https:// URL")
    return value


def _string_list(ctx: _Ctx, node: yaml.Node, field: str) -> tuple[str, ...]:
    """A list of words; one word written alone (``tags: lyon``) is a list of one.

    A single text holding commas (``tags: lyon, luttes``) is refused rather than guessed:
    it says to write a list.
    """
    if isinstance(node, yaml.ScalarNode):
        value = _string(ctx, node, field)
        if "," in value:
            raise ctx.error(node, field, f"write several values as a list: [{', '.join(v.strip() for v in value.split(','))}]")
        return (value,)
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.error(node, field, "expected a list")
    return tuple(_string(ctx, item, field) for item in node.value)


def _language(ctx: _Ctx, node: yaml.Node, field: str) -> str:
    value = _string(ctx, node, field).lower()
    if not _LANG_RE.match(value):
        raise ctx.error(node, field, "expected a language code such as fr, en or de")
    return value


def _source(ctx: _Ctx, node: yaml.Node, index: int) -> SourceConfig | None:
    """One source, or None when it has problems (all of them recorded in ``ctx``)."""
    base = f"sources[{index}]"
    before = len(ctx.errors)
    fields = ctx.attempt(lambda: _mapping(ctx, node, base, SOURCE_KEYS))
    if fields is None:
        return None
    known = fields

    def get(key: str, parse: Callable[[_Ctx, yaml.Node, str], Any]) -> Any:
        if key not in known:
            return None
        return ctx.attempt(lambda: parse(ctx, known[key][1], f"{base}.{key}"))

    name = get("name", _string)
    if "name" not in fields:
        ctx.missing(node, "name", f"{base}.name", "every source needs a name")
    kind = get("kind", _string) or "feed"
    if kind not in SOURCE_KINDS:
        ctx.add(fields["kind"][1], f"{base}.kind", f"expected one of: {', '.join(SOURCE_KINDS)}")
    url = get("url", _url)
    account = get("account", _string)
    handle = get("handle", _string)
    if kind in ("feed", "site") and "url" not in fields:
        ctx.missing(node, "url", f"{base}.url", f"a source of kind {kind} needs a url")
    if kind == "mastodon":
        if "account" not in fields:
            ctx.missing(node, "account", f"{base}.account", 'a mastodon source needs account: "@user@instance"')
        elif account is not None and not _ACCOUNT_RE.match(account):
            ctx.add(fields["account"][1], f"{base}.account", 'expected "@user@instance"')
        elif account is not None:
            account = "@" + account.lstrip("@")
    actor = get("actor", _url)
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
    slug = get("slug", _string)
    if slug is not None:
        if slugify(slug) != slug:
            ctx.add(fields["slug"][1], f"{base}.slug", "use lowercase letters, digits and dashes")
    elif name is not None and "slug" not in fields:
        slug = slugify(name)
        if not slug:
            ctx.add(fields["name"][1], f"{base}.name", "cannot make a slug from this name; add slug:")
    relay = get("relay", _bool)
    values = {
        "language": get("language", _language),
        "tags": tuple(t.lower() for t in (get("tags", _string_list) or ())),
        "description": get("description", _string),
        "website": get("website", _url),
        "mastodon": get("mastodon", _string),
        "bluesky": get("bluesky", _string),
        "template": get("template", _string),
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


def _settings(ctx: _Ctx, node: yaml.Node) -> CrawlSettings:
    fields = _mapping(ctx, node, "settings", SETTINGS_KEYS)
    default = CrawlSettings()
    values: dict[str, Any] = {}

    def put(key: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"settings.{key}"))
            if value is not None:
                values[key] = value

    put("user_agent", lambda n, f: _string(ctx, n, f))
    put("min_interval", lambda n, f: _duration(ctx, n, f))
    put("max_interval", lambda n, f: _duration(ctx, n, f))
    put("per_host_delay", lambda n, f: _number(ctx, n, f, minimum=0))
    put("bluesky_appview", lambda n, f: _url(ctx, n, f).rstrip("/"))
    settings = CrawlSettings(**{**default.__dict__, **values})
    if settings.min_interval > settings.max_interval:
        raise ctx.error(node, "settings.min_interval", "must not exceed max_interval")
    return settings


def _relay(ctx: _Ctx, node: yaml.Node) -> RelayConfig:
    fields = _mapping(ctx, node, "relay", RELAY_KEYS)
    values: dict[str, Any] = {}

    def put(key: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"relay.{key}"))
            if value is not None:
                values[key] = value

    def mastodon(node: yaml.Node, field: str) -> MastodonTarget | None:
        sub = _mapping(ctx, node, field, MASTODON_KEYS)
        if "api_base_url" not in sub:
            ctx.add(fields["mastodon"][0], "relay.mastodon.api_base_url", "required")
        base = ctx.attempt(lambda: _url(ctx, sub["api_base_url"][1], "relay.mastodon.api_base_url").rstrip("/")) \
            if "api_base_url" in sub else None
        visibility = "public"
        if "visibility" in sub:
            visibility = ctx.attempt(lambda: _string(ctx, sub["visibility"][1], "relay.mastodon.visibility")) or ""
            if visibility and visibility not in ("public", "unlisted", "private"):
                ctx.add(sub["visibility"][1], "relay.mastodon.visibility", "expected public, unlisted or private")
        if base is None or visibility not in ("public", "unlisted", "private"):
            return None
        return MastodonTarget(api_base_url=base, visibility=visibility)

    def bluesky(node: yaml.Node, field: str) -> BlueskyTarget:
        sub = _mapping(ctx, node, field, BLUESKY_KEYS)
        return BlueskyTarget(
            service=_url(ctx, sub["service"][1], "relay.bluesky.service").rstrip("/") if "service" in sub else "https://bsky.social",
            appview=_url(ctx, sub["appview"][1], "relay.bluesky.appview").rstrip("/") if "appview" in sub else None,
        )

    put("mastodon", mastodon)
    put("bluesky", bluesky)
    put("template", lambda n, f: _string(ctx, n, f))
    put("hashtags", lambda n, f: tuple(h.lstrip("#") for h in _string_list(ctx, n, f)))
    put("max_posts_per_hour", lambda n, f: int(_number(ctx, n, f, minimum=1)))
    put("max_attempts", lambda n, f: int(_number(ctx, n, f, minimum=1)))
    put("backlog", lambda n, f: _duration(ctx, n, f))
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


def _digest(ctx: _Ctx, node: yaml.Node) -> DigestConfig | None:
    fields = _mapping(ctx, node, "digest", DIGEST_KEYS)
    values: dict[str, Any] = {}

    def put(key: str, name: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"digest.{key}"))
            if value is not None:
                values[name] = value

    def timezone(node: yaml.Node, field: str) -> str:
        zone = _string(ctx, node, field)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ctx.error(node, field, "unknown time zone (expected a name such as Europe/Paris)") from exc
        return zone

    def group_by(node: yaml.Node, field: str) -> str:
        value = _string(ctx, node, field)
        if value not in ("source", "tag"):
            raise ctx.error(node, field, "expected source or tag")
        return value

    if "from" not in fields:
        ctx.add(node, "digest.from", "required: the From address of the newsletter")
    put("from", "from_address", lambda n, f: _mail_address(ctx, n, f, display_name=True))
    put("send_at", "send_at", lambda n, f: _clock_time(ctx, n, f))
    put("timezone", "timezone", timezone)
    for key in ("list_address", "unsubscribe_address"):
        put(key, key, lambda n, f: _mail_address(ctx, n, f, display_name=False))
    put("group_by", "group_by", group_by)
    put("max_per_hour", "max_per_hour", lambda n, f: int(_number(ctx, n, f, minimum=1)))
    if "from_address" not in values:
        return None
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


def _activitypub(ctx: _Ctx, node: yaml.Node) -> ActivityPubConfig:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return ActivityPubConfig()  # "activitypub:" alone turns the actor on with the defaults
    fields = _mapping(ctx, node, "activitypub", ACTIVITYPUB_KEYS)
    values: dict[str, Any] = {}
    if "username" in fields:
        username = _string(ctx, fields["username"][1], "activitypub.username")
        if not _USERNAME_RE.match(username):
            raise ctx.error(fields["username"][1], "activitypub.username", "use 1 to 30 letters, digits or _")
        values["username"] = username
    if "name" in fields:
        values["name"] = _string(ctx, fields["name"][1], "activitypub.name")
    if "summary" in fields:
        values["summary"] = _string(ctx, fields["summary"][1], "activitypub.summary")
    if "avatar" in fields:
        values["avatar"] = _url(ctx, fields["avatar"][1], "activitypub.avatar")
    if "blocked_domains" in fields:
        domains = []
        for item in _string_list(ctx, fields["blocked_domains"][1], "activitypub.blocked_domains"):
            domain = item.lower().strip().removeprefix("*.").strip(".")
            if not _DOMAIN_RE.match(domain):
                raise ctx.error(fields["blocked_domains"][1], "activitypub.blocked_domains", f"expected domain names such as spam.example, got {item!r}")
            domains.append(domain)
        values["blocked_domains"] = tuple(dict.fromkeys(domains))
    return ActivityPubConfig(**values)


def parse_config(text: str, file: str = "sources.yaml") -> Config:
    """Validate the text of a ``sources.yaml``.

    The whole file is checked: every problem is reported at once, in the file's order.
    Doubtful but valid things (two sources with one URL) become ``Config.warnings``.

    Raises:
        ConfigError: one problem, or ``ConfigErrors`` listing them all; each names the
            file, line and field.
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
            source = _source(ctx, item, index)
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
    settings = ctx.attempt(lambda: _settings(ctx, fields["settings"][1])) if "settings" in fields else None
    relay = ctx.attempt(lambda: _relay(ctx, fields["relay"][1])) if "relay" in fields else None
    digest = ctx.attempt(lambda: _digest(ctx, fields["digest"][1])) if "digest" in fields else None
    bluesky_feed = (ctx.attempt(lambda: _bluesky_feed(ctx, fields["bluesky_feed"][1], set(seen)))
                    if "bluesky_feed" in fields else None)
    activitypub = ctx.attempt(lambda: _activitypub(ctx, fields["activitypub"][1])) if "activitypub" in fields else None
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




@dataclass(frozen=True)
class ConfigChange:
    """What a reloaded ``sources.yaml`` changes, by source slug.

    ``restart_needed`` names the changed settings a running process cannot take over
    (they live in open connections: the HTTP client, the relay's accounts, the
    newsletter's schedule); they apply at the next start.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    restart_needed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.restart_needed)


def reloadable(running: Config, new: Config) -> tuple[Config, ConfigChange]:
    """The configuration to run with after a reload, and what changed.

    Sources (added, removed, edited) and the crawl intervals apply at once; anything
    else keeps its running value until a restart and is listed in ``restart_needed``.
    """
    old = {s.slug: s for s in running.sources}
    now = {s.slug: s for s in new.sources}
    was, will = running.settings, new.settings
    restart = [f"settings.{key}" for key, before, after in (
        ("user_agent", was.user_agent, will.user_agent),
        ("per_host_delay", was.per_host_delay, will.per_host_delay),
        ("bluesky_appview", was.bluesky_appview, will.bluesky_appview),
    ) if before != after]
    if running.relay != new.relay:
        restart.append("relay")
    if running.digest != new.digest:
        restart.append("digest")
    if running.bluesky_feed != new.bluesky_feed:
        restart.append("bluesky_feed")
    if running.activitypub != new.activitypub:
        restart.append("activitypub")
    change = ConfigChange(
        added=tuple(slug for slug in now if slug not in old),
        removed=tuple(slug for slug in old if slug not in now),
        changed=tuple(slug for slug in now if slug in old and old[slug] != now[slug]),
        restart_needed=tuple(restart),
    )
    applied = Config(
        sources=new.sources,
        settings=CrawlSettings(**{
            **running.settings.__dict__,
            "min_interval": new.settings.min_interval, "max_interval": new.settings.max_interval,
        }),
        relay=running.relay, path=new.path, digest=running.digest, warnings=new.warnings,
        bluesky_feed=running.bluesky_feed, activitypub=running.activitypub,
    )
    return applied, change
