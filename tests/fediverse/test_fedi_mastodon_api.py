"""MastodonApi against a replay of a real Mastodon 4.x (and a 2018 2.x) server."""

from __future__ import annotations

import pytest

from aggregator.errors import FetchError
from aggregator.fetch.client import HttpClient
from aggregator.fetch.mastodon import MastodonApi, mastodon_api_base
from aggregator.parse.mastodon import parse_mastodon_statuses

ACCOUNT_ID = "117020565966271181"  # @mastodonpy_test on the recorded localhost:3000 server
PAGE_1 = "mastodonpy__v1_accounts_117020565966271181_statuses__limit-5.json"


async def test_lookup_finds_the_account(mastodon_replay, http: HttpClient) -> None:
    replay = await mastodon_replay("mastodonpy__test_account_lookup.yaml")
    reader = MastodonApi(http)
    account = await reader.lookup("@mastodonpy_test@localhost:3000", url=f"{replay.base}/@mastodonpy_test")
    assert account["id"] == ACCOUNT_ID
    assert account["url"] == "http://localhost:3000/@mastodonpy_test"  # bodies are replayed verbatim
    assert [(s.method, s.path, s.query) for s in replay.log] == [
        ("GET", "/api/v1/accounts/lookup", {"acct": "mastodonpy_test"}),
    ]


async def test_lookup_of_an_unknown_account_is_a_404(mastodon_replay, http: HttpClient) -> None:
    replay = await mastodon_replay("mastodonpy__test_account_lookup.yaml")
    with pytest.raises(FetchError) as caught:
        await MastodonApi(http).lookup("@kljadklajsdkljlkjlkjlkjasdasd@localhost:3000", url=replay.base + "/")
    assert caught.value.status == 404 and not caught.value.permanent


async def test_statuses_follow_the_next_link(mastodon_replay, http: HttpClient, corpus_json) -> None:
    # The recorded client did not send exclude_replies; ours does, so it is left out of
    # matching (the log below shows it was sent).
    replay = await mastodon_replay("mastodonpy__test_fetch_next_previous.yaml", ignore_params={"exclude_replies"})
    statuses = await MastodonApi(http).statuses(ACCOUNT_ID, api_base=replay.base, limit=5, pages=2)
    texts = [s["content"] for s in statuses]
    assert texts == [f"<p>Toot number {n}!</p>" for n in range(9, -1, -1)]
    first, second = replay.log
    assert first.query == {"exclude_replies": "true", "limit": "5"}
    # The second request is the recorded Link rel="next", moved to the replay's origin.
    assert second.path == f"/api/v1/accounts/{ACCOUNT_ID}/statuses"
    assert second.query == {"limit": "5", "max_id": "117020580489281910"}
    assert all(s.status == 200 for s in replay.log)
    assert statuses[:5] == corpus_json(f"mastodon/api-json/{PAGE_1}")

    parsed = parse_mastodon_statuses(statuses, account="@mastodonpy_test@localhost:3000")
    assert [e.kind for e in parsed.entries] == ["post"] * 10  # unlisted statuses are kept
    assert parsed.feed.title == "John Lennon"


async def test_one_page_by_default(mastodon_replay, http: HttpClient) -> None:
    replay = await mastodon_replay("mastodonpy__test_fetch_next_previous.yaml", ignore_params={"exclude_replies"})
    statuses = await MastodonApi(http).statuses(ACCOUNT_ID, api_base=replay.base, limit=5)
    assert len(statuses) == 5 and len(replay.log) == 1


async def test_since_id_stops_at_known_statuses(mastodon_replay, http: HttpClient) -> None:
    # A real server would already leave out statuses up to since_id; the recording answers
    # with the whole first page, so this checks the reader's own guard.
    replay = await mastodon_replay("mastodonpy__test_fetch_next_previous.yaml", ignore_params={"exclude_replies", "since_id"})
    statuses = await MastodonApi(http).statuses(
        ACCOUNT_ID, api_base=replay.base, limit=5, pages=3, since_id="117020580496489811"
    )
    assert [s["content"] for s in statuses] == [f"<p>Toot number {n}!</p>" for n in (9, 8, 7)]
    assert len(replay.log) == 1 and replay.log[0].query["since_id"] == "117020580496489811"


async def test_old_mastodon_pagination(mastodon_replay, http: HttpClient) -> None:
    replay = await mastodon_replay("mastodonpy__old_pagination__test_fetch_next_previous.yaml", ignore_params={"exclude_replies"})
    statuses = await MastodonApi(http).statuses("1234567890123456", api_base=replay.base, limit=5, pages=5)
    assert [s["content"] for s in statuses] == [f"<p>Toot number {n}!</p>" for n in range(9, -1, -1)]
    # Page 2's next link leads to a page that was never recorded: the replay answers 404,
    # and the reader keeps the two pages it has instead of failing the source.
    assert [s.status for s in replay.log] == [200, 200, 404]


async def test_api_errors_surface_as_fetch_errors(mastodon_replay, http: HttpClient) -> None:
    replay = await mastodon_replay("mastodonpy__test_timeline_link_fails.yaml")
    with pytest.raises(FetchError) as caught:
        await MastodonApi(http).statuses("42", api_base=replay.base)
    assert caught.value.status == 404


def test_api_base_prefers_the_configured_origin() -> None:
    assert mastodon_api_base("@mastodonpy_test@localhost:3000", "http://127.0.0.1:8123/@mastodonpy_test") == "http://127.0.0.1:8123"


def test_the_replay_serves_a_synchronous_mastodon_py_client() -> None:
    """The relay posts with Mastodon.py (blocking): the replay then runs in its own thread."""
    from mastodon import Mastodon

    from tests.peers.mastodon_replay import replay_in_thread

    with replay_in_thread("mastodonpy__test_account_lookup.yaml") as replay:
        api = Mastodon(api_base_url=replay.base, mastodon_version="4.0.0", version_check_mode="none")
        account = api.account_lookup("mastodonpy_test")
    assert str(account["id"]) == ACCOUNT_ID
    assert replay.log[-1].query == {"acct": "mastodonpy_test"}
