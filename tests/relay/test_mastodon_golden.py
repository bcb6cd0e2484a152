"""Golden tests: Mastodon.py, as the relay drives it, reading verbatim answers of a real Mastodon 4.6."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.errors import RelayError
from aggregator.model import MastodonTarget
from aggregator.relay.format import Post
from aggregator.relay.mastodon import MastodonPoster
from aggregator.relay.plan import Job

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def poster(base: str) -> MastodonPoster:
    # The recordings carry the test-suite's token; the replay does not check it.
    return MastodonPoster(MastodonTarget(api_base_url=base), "__MASTODON_PY_TEST_ACCESS_TOKEN",
                          user_agent="aggregator-tests", clock=lambda: NOW)


def job(action: str = "post", **kw: object) -> Job:
    return Job(row_id=1, entry_id=1, source="s", target="mastodon", action=action,  # type: ignore[arg-type]
               post=Post("Toot!", language="en"), url="https://example.org/a", idempotency_key="k", created=NOW, **kw)  # type: ignore[arg-type]


async def test_status_post_answer_is_read(mastodon_replay) -> None:
    replay = await mastodon_replay("mastodonpy__test_toot.yaml")
    p = poster(replay.base)
    delivered = await p.deliver(job())
    await p.close()
    assert delivered.remote_id == "117020585846976096"
    assert delivered.remote_url == "http://localhost:3000/@mastodonpy_test/117020585846976096"
    assert [(s.method, s.path, s.status) for s in replay.log] == [("POST", "/api/v1/statuses", 200)]
    # X-RateLimit-* of the recording (300 / 221 left) do not pause the relay.
    assert p.api.ratelimit_limit == 300 and p.api.ratelimit_remaining == 221
    assert p.paused_until() is None


async def test_reblog_answer_is_read(mastodon_replay) -> None:
    replay = await mastodon_replay("mastodonpy__test_status_reblog_unreblog.yaml")
    p = poster(replay.base)
    reblog = await p._call(p.api.status_reblog, "117020586019094258")
    await p.close()
    assert reblog["id"] == "117020586027094262" and reblog["reblogged"] is True
    assert reblog["reblog"]["url"] == "http://localhost:3000/@mastodonpy_test/117020586019094258"


async def test_a_status_the_instance_cannot_resolve_fails_for_good(mastodon_replay) -> None:
    replay = await mastodon_replay("mastodonpy__test_search.yaml", ignore_params={"q", "exclude_unreviewed"})
    p = poster(replay.base)
    with pytest.raises(RelayError) as info:
        await p.deliver(job("boost", native_uri="https://elsewhere.example/users/x/statuses/1"))
    await p.close()
    assert info.value.permanent
    [search] = replay.log
    assert search.path == "/api/v2/search" and search.query["resolve"] in ("1", "true", "True")
    assert search.query["q"] == "https://elsewhere.example/users/x/statuses/1" and search.status == 200


async def test_reconciliation_reads_the_account_timeline_and_stops_at_older_statuses(mastodon_replay) -> None:
    replay = await mastodon_replay("mastodonpy__test_fetch_next_previous.yaml", ignore_params={"limit"})
    p = poster(replay.base)
    found = await p.find(job())
    await p.close()
    assert found is None  # none of the recorded statuses links to the item
    assert [(s.path, s.status) for s in replay.log] == [
        ("/api/v1/accounts/verify_credentials", 200),
        ("/api/v1/accounts/117020565966271181/statuses", 200),
    ]  # the page is older than the item: no need to read further
