"""sources.yaml validation: the shipped file is valid, errors name file, line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aggregator.config import (
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
    load_config,
    parse_config,
)
from aggregator.errors import ConfigError
from aggregator.settings import ENVIRONMENT
from tests.documentation import page

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_sources_yaml_is_valid_and_real() -> None:
    config = load_config(ROOT / "sources.yaml")
    slugs = {s.slug for s in config.sources}
    assert {"paris-luttes", "rebellyon", "reporterre", "lundi-matin", "basta", "contre-attaque",
            "le-chiffon", "cqfd", "acrimed"} <= slugs
    kinds = {s.kind for s in config.sources}
    assert {"feed", "mastodon", "bluesky"} <= kinds
    mastodon = next(s for s in config.sources if s.kind == "mastodon")
    assert mastodon.account == "@paris_luttes@mamot.fr"
    bluesky = next(s for s in config.sources if s.kind == "bluesky")
    assert bluesky.handle == "paris-luttes.bsky.social"
    for source in config.sources:
        if source.url and "spip.php" in source.url:
            assert source.url.endswith("spip.php?page=backend"), source.url


def test_every_setting_and_variable_is_documented() -> None:
    reference = page("configuration.md")
    for name in ENVIRONMENT:
        assert f"`{name}`" in reference, f"docs/configuration.md does not document {name}"
    bluesky_feed = BLUESKY_FEED_KEYS | BLUESKY_FEED_DEF_KEYS | BLUESKY_LIST_KEYS | BLUESKY_STARTER_PACK_KEYS
    for key in SOURCE_KEYS | SETTINGS_KEYS | RELAY_KEYS | MASTODON_KEYS | BLUESKY_KEYS | DIGEST_KEYS | ACTIVITYPUB_KEYS | bluesky_feed:
        assert f"`{key}`" in reference, f"docs/configuration.md does not document the sources.yaml key {key}"


def test_every_command_is_documented() -> None:
    reference = page("commands.md")
    for command in ("run", "crawl", "items", "sources", "search", "serve", "relay", "reindex",
                    "db upgrade", "opml import", "opml export", "digest show", "digest send",
                    "digest unsubscribe-mail", "subscribers", "subscribers remove", "bluesky publish",
                    "followers"):
        assert re.search(rf"aggregator {re.escape(command)}\b", reference), command


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("sources:\n  - name: A\n    kind: feed\n    ulr: https://a.example/\n", 4, "sources[0].ulr"),
        ("sources:\n  - name: A\n    kind: rss\n    url: https://a.example/\n", 3, "sources[0].kind"),
        ("sources:\n  - name: A\n    url: ftp://a.example/\n", 3, "sources[0].url"),
        ("sources:\n  - name: A\n    kind: mastodon\n    account: paris_luttes\n", 4, "sources[0].account"),
        ("sources:\n  - name: A\n    url: https://a.example/\n  - name: A\n    url: https://b.example/\n", 4, "sources[1].slug"),
        ("sources:\n  - name: A\n    url: https://a.example/\n    relay: maybe\n", 4, "sources[0].relay"),
        ("sources: []\nsettings:\n  min_interval: soon\n", 3, "settings.min_interval"),
        ("sources: []\nrelay:\n  mastodon:\n    visibility: public\n", 3, "relay.mastodon.api_base_url"),
        ("sources: []\nextra: 1\n", 2, "extra"),
    ],
)
def test_errors_name_file_line_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my-sources.yaml")
    err = info.value
    assert (err.file, err.line, err.field) == ("my-sources.yaml", line, field)
    assert str(err).startswith(f"my-sources.yaml:{line}: {field}: ")


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("sources:\n  - name: A\n   url: [\n", "s.yaml")
    assert info.value.line is not None and str(info.value).startswith("s.yaml:")


def test_durations_slugs_and_defaults() -> None:
    config = parse_config(
        "settings:\n  min_interval: 10m\n  max_interval: 2d\nsources:\n"
        "  - name: Le Média Libre !\n    url: https://m.example/feed\n"
        "  - name: B\n    kind: bluesky\n    handle: '@Someone.bsky.social'\n",
    )
    assert config.settings.min_interval == 600 and config.settings.max_interval == 172800
    assert config.sources[0].slug == "le-media-libre" and config.sources[0].relay is True
    assert config.sources[1].handle == "someone.bsky.social"
