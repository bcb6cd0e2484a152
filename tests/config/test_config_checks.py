"""Every error of a file at once, warnings, one-word lists, reload diffs and safe file edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import parse_config, reloadable
from aggregator.config_file import append_sources, remove_source
from aggregator.errors import ConfigError, ConfigErrors
from aggregator.model import SourceConfig


def test_every_error_is_reported_with_file_line_and_field_in_file_order() -> None:
    text = (
        "sources:\n"
        "  - name: A\n    url: nope\n    relay: maybe\n"      # 3, 4
        "  - name: B\n    kind: bluesky\n"                      # 5: handle missing
        "  - {name: C, url: 'https://c.example/', ulr: x}\n"    # 7: typo, and no "url missing" too
        "relay:\n  max_attempts: 0\n  mastodon:\n    visibility: loud\n"  # 9, 10: api_base_url missing, 11
        "digest:\n  from: not-an-address\n  send_at: '25:00'\n"  # 13, 14
        "extra: 1\n"                                             # 15
    )
    with pytest.raises(ConfigErrors) as info:
        parse_config(text, "s.yaml")
    found = [(e.line, e.field) for e in info.value.errors]
    assert found == [
        (3, "sources[0].url"), (4, "sources[0].relay"), (5, "sources[1].handle"), (7, "sources[2].ulr"),
        (9, "relay.max_attempts"), (10, "relay.mastodon.api_base_url"), (11, "relay.mastodon.visibility"),
        (13, "digest.from"), (14, "digest.send_at"), (15, "extra"),
    ]
    assert str(info.value).splitlines()[0] == "s.yaml:3: sources[0].url: expected an http:// or https:// URL"
    assert (info.value.file, info.value.line, info.value.field) == ("s.yaml", 3, "sources[0].url")
    assert "did you mean url?" in info.value.errors[3].message


def test_one_error_is_a_plain_config_error_with_itself_as_its_list() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("sources:\n  - name: A\n", "s.yaml")
    assert not isinstance(info.value, ConfigErrors) and info.value.errors == [info.value]


def test_tags_written_as_one_word_is_a_list_of_one_and_commas_are_refused() -> None:
    config = parse_config("sources:\n  - name: A\n    url: https://a.example/\n    tags: Mutu\n"
                          "relay:\n  hashtags: presse\n")
    assert config.sources[0].tags == ("mutu",) and config.relay.hashtags == ("presse",)
    with pytest.raises(ConfigError, match=r"s.yaml:4: sources\[0\].tags: write several values as a list: \[lyon, luttes\]"):
        parse_config("sources:\n  - name: A\n    url: https://a.example/\n    tags: lyon, luttes\n", "s.yaml")


def test_two_sources_with_one_url_are_a_warning_not_an_error() -> None:
    config = parse_config(
        "sources:\n  - name: A\n    url: https://a.example/feed\n"
        "  - name: B\n    url: https://A.EXAMPLE/feed/\n"
        "  - name: C\n    kind: site\n    url: https://c.example/\n", "s.yaml")
    assert [s.slug for s in config.sources] == ["a", "b", "c"]
    assert config.warnings == ("s.yaml:5: sources[1].url: same URL as sources[0] (a): its items would be fetched and shown twice",)


def test_reloadable_applies_sources_and_intervals_and_names_what_needs_a_restart() -> None:
    old = parse_config("settings:\n  min_interval: 5m\nsources:\n  - name: A\n    url: https://a.example/\n"
                       "  - name: B\n    url: https://b.example/\n")
    new = parse_config("settings:\n  min_interval: 10m\n  user_agent: autre\nrelay:\n  hashtags: [x]\n"
                       "sources:\n  - name: A\n    url: https://a.example/other\n  - name: C\n    url: https://c.example/\n")
    applied, change = reloadable(old, new)
    assert (change.added, change.removed, change.changed) == (("c",), ("b",), ("a",))
    assert change.restart_needed == ("settings.user_agent", "relay")
    assert applied.sources == new.sources and applied.settings.min_interval == 600
    assert applied.settings.user_agent == old.settings.user_agent and applied.relay == old.relay
    assert reloadable(old, old)[1].empty


def test_reloadable_keeps_the_running_actor_and_feed_generator() -> None:
    running = parse_config("activitypub:\n  username: medias\nbluesky_feed:\n  feeds:\n    - short_name: tout\n"
                           "      display_name: Tout\nsources:\n  - name: A\n    url: https://a.example/\n")
    edited = parse_config("activitypub:\n  username: autre\nsources:\n  - name: A\n    url: https://a.example/\n")
    applied, change = reloadable(running, edited)
    assert change.restart_needed == ("bluesky_feed", "activitypub")
    assert applied.activitypub == running.activitypub and applied.bluesky_feed == running.bluesky_feed
    assert reloadable(running, running)[0].activitypub is not None


LAYOUT = """\
# en-tête
settings:
  min_interval: 5m   # commentaire
sources:
    -   name: Indentation large
        url: https://a.example/feed
        description: |
          sur plusieurs
          lignes

    # B vient ensuite
    -   name: B
        url: https://b.example/feed
        tags:
          - un
          - deux
    # fin des sources
relay:
  hashtags: [presse]
"""


def test_append_keeps_the_layout_and_follows_the_lists_indentation(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(LAYOUT, encoding="utf-8")
    append_sources(path, [SourceConfig(slug="c", name="C", kind="feed", url="https://c.example/feed", tags=("t",))])
    text = path.read_text(encoding="utf-8")
    head, tail = LAYOUT.split("    # fin des sources\n")
    assert text == head + "    - name: C\n      slug: c\n      kind: feed\n      url: https://c.example/feed\n" \
        "      tags:\n      - t\n    # fin des sources\n" + tail
    assert [s.slug for s in parse_config(text).sources] == ["indentation-large", "b", "c"]
    assert remove_source(path, "c").name == "C"
    assert path.read_text(encoding="utf-8") == LAYOUT
    remove_source(path, "b")
    assert path.read_text(encoding="utf-8") == LAYOUT.replace(
        "    -   name: B\n        url: https://b.example/feed\n        tags:\n          - un\n          - deux\n", "")


def test_append_to_an_empty_list_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources: []\nrelay:\n  hashtags: [x]\n", encoding="utf-8")
    append_sources(path, [SourceConfig(slug="c", name="C", kind="feed", url="https://c.example/feed")])
    assert path.read_text(encoding="utf-8") == (
        "sources:\n  - name: C\n    slug: c\n    kind: feed\n    url: https://c.example/feed\nrelay:\n  hashtags: [x]\n")
    flow = "sources: [{name: A, url: 'https://a.example/'}]\n"
    path.write_text(flow, encoding="utf-8")
    with pytest.raises(ConfigError, match="written on one line"):
        append_sources(path, [SourceConfig(slug="c", name="C", kind="feed", url="https://c.example/feed")])
    with pytest.raises(ConfigError, match="no source with slug zz"):
        remove_source(path, "zz")
    with pytest.raises(ConfigError, match="a is the only source"):
        remove_source(path, "a")
    assert path.read_text(encoding="utf-8") == flow
