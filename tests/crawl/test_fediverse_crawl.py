"""Mastodon sources through the crawler: the public API with real payloads, the RSS fallback."""

from __future__ import annotations

import json

import pytest

from aggregator.store import Store
from tests.conftest import CORPUS, FrozenClock
from tests.feedserver import FeedServer

from .helpers import config_for, crawler

API_JSON = CORPUS / "mastodon" / "api-json"
STATUSES = API_JSON / "mastodonpy__v1_accounts_117020565966271181_statuses__limit-5.json"
ACCOUNT = API_JSON / "mastodonpy__live_v1_accounts_23972.json"
RSS = CORPUS / "mastodon" / "rss" / "jbfriedrich__mastodon.xml"

pytestmark = pytest.mark.skipif(not STATUSES.is_file(), reason=f"the shared corpus is absent ({API_JSON})")


async def test_mastodon_account_through_the_public_api(store: Store, clock: FrozenClock) -> None:
    statuses = json.loads(STATUSES.read_text(encoding="utf-8"))
    account = json.loads(ACCOUNT.read_text(encoding="utf-8")) | {"id": "117020565966271181"}
    async with FeedServer() as server:
        server.add_json("/api/v1/accounts/lookup", account)
        server.add_json("/api/v1/accounts/117020565966271181/statuses", statuses)
        config = config_for(
            f"  - name: Compte\n    kind: mastodon\n    account: \"@someone@{server.host}:{server.port}\"\n"
            f"    url: {server.url('/@someone')}\n",
            relay="relay:\n  mastodon:\n    api_base_url: https://relay.example\n",
        )
        async with crawler(store, config) as c:
            first = await c.crawl(every=True)
            clock.advance(hours=1)
            second = await c.crawl(every=True)
    public = [s for s in statuses if s.get("visibility") in ("public", "unlisted")]
    assert first.as_json()["new_items"] == len(public) > 0
    assert second.as_json()["new_items"] == 0
    lookups = server.requests_to("/api/v1/accounts/lookup")
    assert len(lookups) == 1  # the account id is remembered
    sent = server.requests_to("/api/v1/accounts/117020565966271181/statuses")[0]
    assert sent.query.get("exclude_replies") == "true"
    entries = store.entries.newest(source="compte")
    assert {e.native_uri for e in entries} <= {s["uri"] for s in statuses} | {
        (s.get("reblog") or {}).get("uri") for s in statuses}
    assert all(e.kind in ("post", "repost") for e in entries)
    state = store.sources.get("compte")
    assert state is not None and state.resolved_id == "117020565966271181" and state.status == "ok"


async def test_mastodon_api_closed_falls_back_to_the_rss_feed(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.error("/api/v1/accounts/lookup", 401, body=b'{"error":"This API requires an authenticated user"}')
        server.add("/@someone.rss", RSS.read_bytes(), etag='"m1"')
        config = config_for(
            f"  - name: Compte\n    kind: mastodon\n    account: \"@someone@{server.host}:{server.port}\"\n"
            f"    url: {server.url('/@someone')}\n"
        )
        async with crawler(store, config) as c:
            first = await c.crawl(every=True)
            clock.advance(hours=1)
            second = await c.crawl(every=True)
    assert first.as_json()["ok"] == 1 and first.as_json()["new_items"] > 0
    assert second.as_json()["not_modified"] == 1
    assert server.requests_to("/@someone.rss")[-1].headers.get("If-None-Match") == '"m1"'


async def test_mastodon_429_is_honoured_not_routed_around(store: Store, clock: FrozenClock) -> None:
    async with FeedServer() as server:
        server.error("/api/v1/accounts/lookup", 429, retry_after=600)
        server.add("/@someone.rss", RSS.read_bytes())
        config = config_for(
            f"  - name: Compte\n    kind: mastodon\n    account: \"@someone@{server.host}:{server.port}\"\n"
            f"    url: {server.url('/@someone')}\n"
        )
        async with crawler(store, config) as c:
            report = await c.crawl(every=True)
    assert report.as_json()["failed"] == 1
    assert server.requests_to("/@someone.rss") == []
