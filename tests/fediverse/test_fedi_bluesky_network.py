"""BlueskyAppView + parse_bluesky_feed against a real local Bluesky network (PDS + AppView)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import aiohttp
import pytest

from aggregator.errors import FetchError
from aggregator.fetch.bluesky import BlueskyAppView
from aggregator.fetch.client import HttpClient
from aggregator.parse.bluesky import parse_bluesky_feed
from tests.peers.bluesky import BlueskyNetwork, create_account, create_record, poll

pytestmark = [pytest.mark.peers, pytest.mark.slow]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _facet(text: str, needle: str, feature: dict[str, str]) -> dict[str, object]:
    # Facets address UTF-8 bytes, not characters: "é" before the link shifts it by one.
    start = text.encode().index(needle.encode())
    return {"index": {"byteStart": start, "byteEnd": start + len(needle.encode())}, "features": [feature]}


async def test_author_feed_tells_posts_reposts_and_replies_apart(bluesky_network: BlueskyNetwork, http: HttpClient) -> None:
    net = bluesky_network
    suffix = secrets.token_hex(3)
    async with aiohttp.ClientSession() as session:
        source = await create_account(session, net, f"mediasource-{suffix}.test")
        other = await create_account(session, net, f"autremedia-{suffix}.test")

        theirs = await create_record(session, net, other, "app.bsky.feed.post", {"text": "Un article d'un autre média", "createdAt": _now()})
        text = "Écologie : la forêt brûle https://exemple.org/foret #presse"
        article = await create_record(session, net, source, "app.bsky.feed.post", {
            "text": text, "langs": ["fr"], "createdAt": _now(),
            "facets": [
                _facet(text, "https://exemple.org/foret", {"$type": "app.bsky.richtext.facet#link", "uri": "https://exemple.org/foret"}),
                _facet(text, "#presse", {"$type": "app.bsky.richtext.facet#tag", "tag": "presse"}),
            ],
        })
        thread = {"root": article, "parent": article}
        follow_up = await create_record(session, net, source, "app.bsky.feed.post", {"text": "La suite du fil", "reply": thread, "createdAt": _now()})
        repost = await create_record(session, net, source, "app.bsky.feed.repost", {"subject": theirs, "createdAt": _now()})
        # A reply in someone else's conversation: not the account's own content.
        await create_record(session, net, source, "app.bsky.feed.post", {
            "text": "Bravo !", "reply": {"root": theirs, "parent": theirs}, "createdAt": _now(),
        })

    reader = BlueskyAppView(http, net.appview)
    did = await reader.resolve_handle(source.handle)
    assert did == source.did
    assert await reader.resolve_handle(did) == did

    async def everything_indexed() -> dict | None:
        data = await reader.author_feed(did, filter="posts_with_replies")
        return data if len(data["feed"]) == 4 else None

    await poll(everything_indexed, what="the 4 records in the author feed")
    data = await reader.author_feed(did, limit=10)
    parsed = parse_bluesky_feed(data, did=did, handle=source.handle)

    by_uri = {e.native_uri: e for e in parsed.entries}
    assert set(by_uri) == {article["uri"], follow_up["uri"], theirs["uri"]}  # "Bravo !" left out

    post = by_uri[article["uri"]]
    assert post.kind == "post" and post.guid == article["uri"] and post.native_cid == article["cid"]
    assert post.url == f"https://bsky.app/profile/{source.handle}/post/{article['uri'].rsplit('/', 1)[1]}"
    assert post.text == text and post.language == "fr" and post.tags == ("presse",)
    assert '<a href="https://exemple.org/foret"' in post.summary and ">https://exemple.org/foret</a>" in post.summary
    assert post.title == text
    assert post.published is not None and post.published.tzinfo is not None

    reply = by_uri[follow_up["uri"]]
    assert reply.kind == "reply" and reply.text == "La suite du fil"

    boosted = by_uri[theirs["uri"]]
    assert boosted.kind == "repost" and boosted.native_cid == theirs["cid"]
    assert boosted.guid == repost["uri"]  # the repost record: unique, and new if reposted again
    assert boosted.author == f"@{other.handle}"
    assert boosted.url is not None and boosted.url.startswith(f"https://bsky.app/profile/{other.handle}/post/")
    assert boosted.text == "Un article d'un autre média"
    assert parsed.feed.link == f"https://bsky.app/profile/{source.handle}"


async def test_unknown_handle_is_a_fetch_error(bluesky_network: BlueskyNetwork, http: HttpClient) -> None:
    reader = BlueskyAppView(http, bluesky_network.appview)
    with pytest.raises(FetchError) as caught:
        await reader.resolve_handle(f"nobody-{secrets.token_hex(3)}.test")
    assert caught.value.status == 400
    with pytest.raises(FetchError):
        await reader.resolve_handle("not a handle")
