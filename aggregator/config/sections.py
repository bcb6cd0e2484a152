"""The optional sections of ``sources.yaml``: ``relay:``, ``digest:``, ``bluesky_feed:``
and ``activitypub:``, each read into its dataclass of ``model.py``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import time
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import email_validator
import regex
import yaml

from ..model import (
    ActivityPubConfig,
    BlueskyCollectionDef,
    BlueskyFeedConfig,
    BlueskyFeedDef,
    BlueskyTarget,
    DigestConfig,
    FeedSelection,
    MastodonTarget,
    RelayConfig,
)
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
)
from .reading import (
    Ctx,
    read_duration,
    read_language,
    read_mapping,
    read_number,
    read_string,
    read_string_list,
    read_url,
)

_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
#: A feed's short name is its record key and the end of its bsky.app URL (Bluesky's own
#: tools allow 15 characters).
_SHORT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,13}[a-z0-9])?$")
_AVATAR_RE = re.compile(r"\.(png|jpe?g)$", re.IGNORECASE)


def relay_section(ctx: Ctx, node: yaml.Node) -> RelayConfig:
    fields = read_mapping(ctx, node, "relay", RELAY_KEYS)
    values: dict[str, Any] = {}

    def put(key: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"relay.{key}"))
            if value is not None:
                values[key] = value

    def mastodon(node: yaml.Node, field: str) -> MastodonTarget | None:
        sub = read_mapping(ctx, node, field, MASTODON_KEYS)
        if "api_base_url" not in sub:
            ctx.add(fields["mastodon"][0], "relay.mastodon.api_base_url", "required")
        base = ctx.attempt(lambda: read_url(ctx, sub["api_base_url"][1], "relay.mastodon.api_base_url").rstrip("/")) \
            if "api_base_url" in sub else None
        visibility = "public"
        if "visibility" in sub:
            visibility = ctx.attempt(lambda: read_string(ctx, sub["visibility"][1], "relay.mastodon.visibility")) or ""
            if visibility and visibility not in ("public", "unlisted", "private"):
                ctx.add(sub["visibility"][1], "relay.mastodon.visibility", "expected public, unlisted or private")
        if base is None or visibility not in ("public", "unlisted", "private"):
            return None
        return MastodonTarget(api_base_url=base, visibility=visibility)

    def bluesky(node: yaml.Node, field: str) -> BlueskyTarget:
        sub = read_mapping(ctx, node, field, BLUESKY_KEYS)
        return BlueskyTarget(
            service=read_url(ctx, sub["service"][1], "relay.bluesky.service").rstrip("/") if "service" in sub else "https://bsky.social",
            appview=read_url(ctx, sub["appview"][1], "relay.bluesky.appview").rstrip("/") if "appview" in sub else None,
        )

    put("mastodon", mastodon)
    put("bluesky", bluesky)
    put("template", lambda n, f: read_string(ctx, n, f))
    put("hashtags", lambda n, f: tuple(h.lstrip("#") for h in read_string_list(ctx, n, f)))
    put("max_posts_per_hour", lambda n, f: int(read_number(ctx, n, f, minimum=1)))
    put("max_attempts", lambda n, f: int(read_number(ctx, n, f, minimum=1)))
    put("backlog", lambda n, f: read_duration(ctx, n, f))
    return RelayConfig(**values)


def _mail_address(ctx: Ctx, node: yaml.Node, field: str, *, display_name: bool) -> str:
    """An address the operator wrote (``a@b.org``, or ``Name <a@b.org>`` where allowed)."""
    value = read_string(ctx, node, field)
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


def _clock_time(ctx: Ctx, node: yaml.Node, field: str) -> time:
    """``HH:MM``, read from the raw text: YAML 1.1 would turn ``07:30`` into 450 (base 60)."""
    if not isinstance(node, yaml.ScalarNode):
        raise ctx.error(node, field, "expected a time such as 07:00")
    match = _CLOCK_RE.match(str(node.value).strip())
    if not match:
        raise ctx.error(node, field, "expected a time of day HH:MM such as 07:00")
    return time(int(match.group(1)), int(match.group(2)))


def digest_section(ctx: Ctx, node: yaml.Node) -> DigestConfig | None:
    fields = read_mapping(ctx, node, "digest", DIGEST_KEYS)
    values: dict[str, Any] = {}

    def put(key: str, name: str, parse: Callable[[yaml.Node, str], Any]) -> None:
        if key in fields:
            value = ctx.attempt(lambda: parse(fields[key][1], f"digest.{key}"))
            if value is not None:
                values[name] = value

    def timezone(node: yaml.Node, field: str) -> str:
        zone = read_string(ctx, node, field)
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ctx.error(node, field, "unknown time zone (expected a name such as Europe/Paris)") from exc
        return zone

    def group_by(node: yaml.Node, field: str) -> str:
        value = read_string(ctx, node, field)
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
    put("max_per_hour", "max_per_hour", lambda n, f: int(read_number(ctx, n, f, minimum=1)))
    if "from_address" not in values:
        return None
    return DigestConfig(**values)


def _bounded_text(ctx: Ctx, node: yaml.Node, field: str, *, graphemes: int, chars: int) -> str:
    """A text within the lexicon's limits (graphemes as people count them, and bytes' worth)."""
    value = read_string(ctx, node, field)
    if len(regex.findall(r"\X", value)) > graphemes or len(value) > chars:
        raise ctx.error(node, field, f"too long for Bluesky (at most {graphemes} characters)")
    return value


def _avatar(ctx: Ctx, node: yaml.Node, field: str) -> str:
    value = read_string(ctx, node, field)
    if not _AVATAR_RE.search(value):
        raise ctx.error(node, field, "expected the path of a .png or .jpg file (relative to sources.yaml)")
    return value


def _feed_def(ctx: Ctx, node: yaml.Node, index: int, slugs: set[str]) -> BlueskyFeedDef:
    base = f"bluesky_feed.feeds[{index}]"
    fields = read_mapping(ctx, node, base, BLUESKY_FEED_DEF_KEYS)
    for required in ("short_name", "display_name"):
        if required not in fields:
            raise ctx.error(node, f"{base}.{required}", "required")
    short_name = read_string(ctx, fields["short_name"][1], f"{base}.short_name")
    if not _SHORT_NAME_RE.match(short_name):
        raise ctx.error(fields["short_name"][1], f"{base}.short_name",
                        "use 1 to 15 lowercase letters, digits and dashes (it ends the feed's URL)")
    sources: tuple[str, ...] = ()
    if "sources" in fields:
        sources = read_string_list(ctx, fields["sources"][1], f"{base}.sources")
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
        languages = tuple(read_language(ctx, item, f"{base}.languages") for item in items)
    tags = tuple(t.lower() for t in read_string_list(ctx, fields["tags"][1], f"{base}.tags")) if "tags" in fields else ()
    return BlueskyFeedDef(
        short_name=short_name,
        display_name=_bounded_text(ctx, fields["display_name"][1], f"{base}.display_name", graphemes=24, chars=240),
        description=_bounded_text(ctx, fields["description"][1], f"{base}.description", graphemes=300, chars=3000)
        if "description" in fields else None,
        avatar=_avatar(ctx, fields["avatar"][1], f"{base}.avatar") if "avatar" in fields else None,
        selection=FeedSelection(sources=sources, tags=tags, languages=languages),
    )


def bluesky_feed_section(ctx: Ctx, node: yaml.Node, slugs: set[str]) -> BlueskyFeedConfig:
    fields = read_mapping(ctx, node, "bluesky_feed", BLUESKY_FEED_KEYS)
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
        sub = read_mapping(ctx, fields["list"][1], "bluesky_feed.list", BLUESKY_LIST_KEYS)
        if "name" not in sub:
            raise ctx.error(fields["list"][0], "bluesky_feed.list.name", "required")
        values["list"] = BlueskyCollectionDef(
            name=_bounded_text(ctx, sub["name"][1], "bluesky_feed.list.name", graphemes=64, chars=64),
            description=_bounded_text(ctx, sub["description"][1], "bluesky_feed.list.description", graphemes=300, chars=3000)
            if "description" in sub else None,
            avatar=_avatar(ctx, sub["avatar"][1], "bluesky_feed.list.avatar") if "avatar" in sub else None,
        )
    if "starter_pack" in fields:
        sub = read_mapping(ctx, fields["starter_pack"][1], "bluesky_feed.starter_pack", BLUESKY_STARTER_PACK_KEYS)
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
        values["plc"] = read_url(ctx, fields["plc"][1], "bluesky_feed.plc").rstrip("/")
    if "sync_every" in fields:
        every = read_duration(ctx, fields["sync_every"][1], "bluesky_feed.sync_every")
        if every < 60:
            raise ctx.error(fields["sync_every"][1], "bluesky_feed.sync_every", "at least 1m (Bluesky limits writes)")
        values["sync_every"] = every
    return BlueskyFeedConfig(**values)


def activitypub_section(ctx: Ctx, node: yaml.Node) -> ActivityPubConfig:
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return ActivityPubConfig()  # "activitypub:" alone turns the actor on with the defaults
    fields = read_mapping(ctx, node, "activitypub", ACTIVITYPUB_KEYS)
    values: dict[str, Any] = {}
    if "username" in fields:
        username = read_string(ctx, fields["username"][1], "activitypub.username")
        if not _USERNAME_RE.match(username):
            raise ctx.error(fields["username"][1], "activitypub.username", "use 1 to 30 letters, digits or _")
        values["username"] = username
    if "name" in fields:
        values["name"] = read_string(ctx, fields["name"][1], "activitypub.name")
    if "summary" in fields:
        values["summary"] = read_string(ctx, fields["summary"][1], "activitypub.summary")
    if "avatar" in fields:
        values["avatar"] = read_url(ctx, fields["avatar"][1], "activitypub.avatar")
    if "blocked_domains" in fields:
        domains = []
        for item in read_string_list(ctx, fields["blocked_domains"][1], "activitypub.blocked_domains"):
            domain = item.lower().strip().removeprefix("*.").strip(".")
            if not _DOMAIN_RE.match(domain):
                raise ctx.error(fields["blocked_domains"][1], "activitypub.blocked_domains", f"expected domain names such as spam.example, got {item!r}")
            domains.append(domain)
        values["blocked_domains"] = tuple(dict.fromkeys(domains))
    return ActivityPubConfig(**values)
