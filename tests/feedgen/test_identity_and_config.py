"""Pure parts: our did:web, record keys, blob CIDs, DID document URLs; the bluesky_feed: section."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import (
    BLUESKY_FEED_DEF_KEYS,
    BLUESKY_FEED_KEYS,
    BLUESKY_LIST_KEYS,
    BLUESKY_STARTER_PACK_KEYS,
    parse_config,
)
from aggregator.errors import AggregatorError, ConfigError
from aggregator.feedgen.auth import document_url
from aggregator.feedgen.identity import blob_cid, did_document, did_web, parse_at_uri, stable_tid
from aggregator.feedgen.publish import Publisher, accounts_of
from aggregator.model import BlueskyFeedConfig, FeedSelection, SourceConfig
from aggregator.relay.ids import TID_PATTERN
from tests.documentation import page

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("base", "did"), [
    ("https://medias.example.org", "did:web:medias.example.org"),
    ("https://Medias.Example.org:8443", "did:web:medias.example.org%3A8443"),
    ("http://localhost:8080", "did:web:localhost%3A8080"),
])
def test_did_web_of_the_base_url(base: str, did: str) -> None:
    assert did_web(base) == did
    assert did_document(did, base)["id"] == did


@pytest.mark.parametrize("base", ["http://127.0.0.1:8080", "https://[::1]:8443", "https://medias.example.org/news"])
def test_did_web_refuses_what_no_resolver_reads(base: str) -> None:
    with pytest.raises(ConfigError, match="AGGREGATOR_BASE_URL"):
        did_web(base)


def test_derived_record_keys_are_valid_stable_tids() -> None:
    keys = {stable_tid("list"), stable_tid("starterpack"), stable_tid("listitem", "at://x/l/1", "did:plc:a"),
            stable_tid("listitem", "at://x/l/1", "did:plc:b")}
    assert len(keys) == 4 and all(TID_PATTERN.match(k) for k in keys)
    assert stable_tid("list") == stable_tid("list")


def test_blob_cid_is_the_pds_one() -> None:
    # The CID of b"hello" as any IPFS/atproto implementation computes it (raw, sha2-256).
    assert blob_cid(b"hello") == "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq"


def test_at_uris_and_did_documents() -> None:
    uri = parse_at_uri("at://did:plc:abc/app.bsky.feed.generator/reseau")
    assert uri is not None and (uri.authority, uri.collection, uri.rkey) == ("did:plc:abc", "app.bsky.feed.generator", "reseau")
    for bad in ("at://did:plc:abc/app.bsky.feed.generator", "https://x/y/z", "at://a/b/c/d", "at://a/b/c?x=1"):
        assert parse_at_uri(bad) is None, bad
    assert document_url("did:plc:abc", "https://plc.directory") == "https://plc.directory/did:plc:abc"
    assert document_url("did:web:example.org", "-") == "https://example.org/.well-known/did.json"
    assert document_url("did:web:example.org%3A8443", "-") == "https://example.org:8443/.well-known/did.json"
    assert document_url("did:web:localhost%3A3000", "-") == "http://localhost:3000/.well-known/did.json"
    with pytest.raises(AggregatorError):
        document_url("did:web:example.org:users:alice", "-")


def test_the_section_parses_with_defaults() -> None:
    config = parse_config(
        "sources:\n  - {name: A, url: 'https://a.example/'}\n"
        "bluesky_feed:\n  feeds:\n    - short_name: lyon-2\n      display_name: Lyon\n      tags: Lyon\n"
        "      languages: [fr, EN]\n      sources: [a]\n      avatar: img/lyon.PNG\n"
        "  list: {name: Les médias}\n  starter_pack: {name: Tous, description: Suivez-les}\n  sync_every: 2h\n")
    feeds = config.bluesky_feed
    assert isinstance(feeds, BlueskyFeedConfig)
    assert feeds.feeds[0].selection == FeedSelection(sources=("a",), tags=("lyon",), languages=("fr", "en"))
    assert feeds.feeds[0].avatar == "img/lyon.PNG" and feeds.plc == "https://plc.directory"
    assert feeds.sync_every == 7200 and feeds.starter_pack is not None and feeds.starter_pack.description == "Suivez-les"
    assert parse_config("sources: []\n").bluesky_feed is None


@pytest.mark.parametrize(("section", "line", "field"), [
    ("  feeds:\n    - {short_name: Médias, display_name: X}\n", 5, "bluesky_feed.feeds[0].short_name"),
    ("  feeds:\n    - {short_name: way-too-long-name, display_name: X}\n", 5, "bluesky_feed.feeds[0].short_name"),
    ("  feeds:\n    - {display_name: X}\n", 5, "bluesky_feed.feeds[0].short_name"),
    ("  feeds:\n    - {short_name: a, display_name: X}\n    - {short_name: a, display_name: Y}\n", 6,
     "bluesky_feed.feeds[1].short_name"),
    ("  feeds:\n    - {short_name: a, display_name: Un nom bien trop long pour Bluesky}\n", 5,
     "bluesky_feed.feeds[0].display_name"),
    ("  feeds:\n    - {short_name: a, display_name: X, sources: [nope]}\n", 5, "bluesky_feed.feeds[0].sources"),
    ("  feeds:\n    - {short_name: a, display_name: X, avatar: logo.svg}\n", 5, "bluesky_feed.feeds[0].avatar"),
    ("  feeds:\n    - {short_name: a, display_name: X, langs: [fr]}\n", 5, "bluesky_feed.feeds[0].langs"),
    ("  starter_pack: {name: Tous}\n", 4, "bluesky_feed.starter_pack"),
    ("  list: {description: sans nom}\n", 4, "bluesky_feed.list.name"),
    ("  feeds: []\n", 4, "bluesky_feed"),
    ("  list: {name: L}\n  sync_every: 10s\n", 5, "bluesky_feed.sync_every"),
    ("  list: {name: L}\n  plc: ftp://plc\n", 5, "bluesky_feed.plc"),
])
def test_errors_name_the_line_and_field(section: str, line: int, field: str) -> None:
    text = "sources:\n  - {name: A, url: 'https://a.example/'}\nbluesky_feed:\n" + section
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert (caught.value.line, caught.value.field) == (line, field), str(caught.value)


def test_every_key_is_documented() -> None:
    reference = page("configuration.md")
    assert "`bluesky_feed:`" in reference
    for key in BLUESKY_FEED_KEYS | BLUESKY_FEED_DEF_KEYS | BLUESKY_LIST_KEYS | BLUESKY_STARTER_PACK_KEYS:
        assert f"`{key}`" in reference, f"docs/configuration.md does not document the bluesky_feed key {key}"
    assert "aggregator bluesky publish" in page("commands.md")


def test_accounts_of_every_source_once() -> None:
    sources = [
        SourceConfig(slug="a", name="A", kind="bluesky", handle="a.example", bluesky="@A.example"),
        SourceConfig(slug="b", name="B", kind="feed", url="https://b/", bluesky="@b.bsky.social"),
        SourceConfig(slug="c", name="C", kind="mastodon", account="@c@m.example"),
        SourceConfig(slug="d", name="D", kind="feed", url="https://d/", bluesky="did:plc:dddd"),
    ]
    assert accounts_of(sources) == ["a.example", "b.bsky.social", "did:plc:dddd"]


def test_avatars_are_checked_like_bluesky_does(tmp_path: Path, clock: object) -> None:
    publisher = Publisher(None, BlueskyFeedConfig(), generator_did="did:web:x", store=None,  # type: ignore[arg-type]
                          config_dir=tmp_path, clock=clock)  # type: ignore[arg-type]
    (tmp_path / "ok.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    (tmp_path / "fake.png").write_bytes(b"<svg/>")
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 1_000_000)
    assert publisher.avatar("ok.png", "f")[1] == "image/png"
    for name, message in [("missing.png", "cannot read"), ("fake.png", "not a PNG"), ("big.jpg", "at most 1 MB")]:
        with pytest.raises(ConfigError, match=message) as caught:
            publisher.avatar(name, "bluesky_feed.feeds[0].avatar")
        assert caught.value.field == "bluesky_feed.feeds[0].avatar"
