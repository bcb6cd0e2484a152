"""HttpClient against a real loopback server: validators, caching, redirects, errors, limits."""

from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.errors import FetchError, TooLargeError
from aggregator.fetch.client import FEED_ACCEPT, HttpClient
from aggregator.fetch.headers import parse_max_age, parse_retry_after
from tests.conftest import FrozenClock
from tests.feedserver import FeedServer, http_date

from .conftest import UA

RSS = b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title></channel></rss>"


def make_client(**kwargs: Any) -> HttpClient:
    options: dict[str, Any] = {"user_agent": UA, "allow_private": True, "per_host_delay": 0.0}
    options.update(kwargs)
    return HttpClient(**options)


async def test_plain_get_returns_bytes_and_http_facts(feed_server: FeedServer) -> None:
    feed_server.add(
        "/feed.xml",
        RSS,
        content_type="text/xml; charset=ISO-8859-1",
        headers={"Link": '<https://example.org/next>; rel="next"'},
    )
    async with make_client() as http:
        result = await http.get(feed_server.url("/feed.xml"))
    assert result.status == 200
    assert result.body == RSS
    assert result.content_type == "text/xml"
    assert result.charset == "iso-8859-1"
    assert result.url == feed_server.url("/feed.xml")
    assert result.permanent_url is None
    assert result.link == '<https://example.org/next>; rel="next"'
    sent = feed_server.requests[-1].headers
    assert sent["User-Agent"] == UA
    assert sent["Accept"] == FEED_ACCEPT
    assert sent["Accept-Encoding"] == "gzip, deflate"


async def test_etag_round_trip_gives_304(feed_server: FeedServer) -> None:
    feed_server.add("/feed.xml", RSS, etag='"v1"')
    async with make_client() as http:
        first = await http.get(feed_server.url("/feed.xml"))
        assert first.etag == '"v1"'
        second = await http.get(feed_server.url("/feed.xml"), etag=first.etag)
        assert second.status == 304 and second.not_modified
        assert second.body == b""
        assert second.etag == '"v1"'
        feed_server.add("/feed.xml", RSS + b" ", etag='"v2"')
        third = await http.get(feed_server.url("/feed.xml"), etag=first.etag)
    assert feed_server.requests[1].headers["If-None-Match"] == '"v1"'
    assert "If-None-Match" not in feed_server.requests[0].headers
    assert third.status == 200 and third.etag == '"v2"'


async def test_last_modified_round_trip_and_validators_kept(feed_server: FeedServer) -> None:
    modified = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    feed_server.add("/feed.xml", RSS, last_modified=modified)
    async with make_client() as http:
        first = await http.get(feed_server.url("/feed.xml"))
        assert first.last_modified == http_date(modified)
        second = await http.get(
            feed_server.url("/feed.xml"), last_modified=first.last_modified, etag='"old"'
        )
    assert second.status == 200  # If-None-Match wins over If-Modified-Since; no ETag served
    async with make_client() as http:
        third = await http.get(feed_server.url("/feed.xml"), last_modified=first.last_modified)
    assert third.status == 304
    assert third.last_modified == http_date(modified)
    assert feed_server.requests[-1].headers["If-Modified-Since"] == http_date(modified)


async def test_304_without_validators_keeps_the_sent_ones(feed_server: FeedServer) -> None:
    feed_server.add("/nm", b"", status=304)
    async with make_client() as http:
        result = await http.get(feed_server.url("/nm"), etag='"abc"', last_modified="x")
    assert result.status == 304
    assert (result.etag, result.last_modified) == ('"abc"', "x")


async def test_max_age_from_cache_control_and_expires(feed_server: FeedServer) -> None:
    feed_server.add("/a", RSS, headers={"Cache-Control": "public, s-maxage=60, max-age=900"})
    feed_server.add("/b", RSS, headers={"Cache-Control": "max-age=900, no-cache"})
    feed_server.add(
        "/c", RSS, headers={"Expires": http_date(datetime.now(UTC) + timedelta(hours=1))}
    )
    feed_server.add("/d", RSS)
    async with make_client() as http:
        a = await http.get(feed_server.url("/a"))
        b = await http.get(feed_server.url("/b"))
        c = await http.get(feed_server.url("/c"))
        d = await http.get(feed_server.url("/d"))
    assert a.max_age == 900
    assert b.max_age is None
    assert c.max_age is not None and 3500 <= c.max_age <= 3600  # against the server's Date
    assert d.max_age is None


def test_max_age_parsing_rules() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_max_age({"Cache-Control": "s-maxage=60"}, now) is None
    assert parse_max_age({"Cache-Control": "no-store"}, now) is None
    assert parse_max_age({"Cache-Control": "max-age=abc"}, now) is None
    expires = {"Expires": http_date(now + timedelta(minutes=10))}
    assert parse_max_age(expires, now) == 600
    dated = {**expires, "Date": http_date(now + timedelta(minutes=4))}
    assert parse_max_age(dated, now) == 360
    assert parse_max_age({"Expires": "0"}, now) == 0.0  # RFC 9111: invalid means stale
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(http_date(now + timedelta(seconds=90)), now) == 90
    assert parse_retry_after(http_date(now - timedelta(seconds=90)), now) == 0
    assert parse_retry_after("soon", now) is None


async def test_301_chain_sets_permanent_url(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/older-still", 301)
    feed_server.redirect("/older-still", feed_server.url("/new"), 308)
    feed_server.add("/new", RSS)
    async with make_client() as http:
        result = await http.get(feed_server.url("/old"))
    assert result.status == 200 and result.body == RSS
    assert result.url == feed_server.url("/new")
    assert result.permanent_url == feed_server.url("/new")


async def test_a_temporary_hop_means_no_permanent_url(feed_server: FeedServer) -> None:
    feed_server.redirect("/old", "/tmp", 301)
    feed_server.redirect("/tmp", "/new", 302)
    feed_server.redirect("/t307", "/new", 307)
    feed_server.add("/new", RSS)
    async with make_client() as http:
        chain = await http.get(feed_server.url("/old"))
        single = await http.get(feed_server.url("/t307"))
    assert chain.url == feed_server.url("/new") and chain.permanent_url is None
    assert single.url == feed_server.url("/new") and single.permanent_url is None


async def test_redirect_keeps_validators_and_resolves_relative_location(
    feed_server: FeedServer,
) -> None:
    feed_server.redirect("/dir/feed", "../moved/feed?x=1", 301)
    feed_server.add("/moved/feed", RSS, etag='"e"')
    async with make_client() as http:
        result = await http.get(feed_server.url("/dir/feed"), etag='"e"')
    assert result.status == 304
    assert result.permanent_url == feed_server.url("/moved/feed?x=1")
    assert feed_server.requests[-1].query == {"x": "1"}
    assert feed_server.requests[-1].headers["If-None-Match"] == '"e"'


async def test_redirect_loop_and_too_many_redirects(feed_server: FeedServer) -> None:
    feed_server.loop("/a", "/b")
    for i in range(7):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}", 302)
    feed_server.add("/r7", RSS)
    feed_server.redirect("/ftp", "ftp://example.org/feed", 302)
    async with make_client(max_redirects=5) as http:
        with pytest.raises(FetchError, match="redirect loop"):
            await http.get(feed_server.url("/a"))
        with pytest.raises(FetchError, match=r"too many redirects \(5\)"):
            await http.get(feed_server.url("/r0"))
        ok = await http.get(feed_server.url("/r2"))  # exactly 5 redirects is fine
        with pytest.raises(FetchError, match="only http and https"):
            await http.get(feed_server.url("/ftp"))
    assert ok.url == feed_server.url("/r7")
    assert len(feed_server.requests_to("/r6")) == 1  # the refused chain stopped before asking /r6


async def test_410_is_permanent_and_other_errors_are_not(feed_server: FeedServer) -> None:
    feed_server.gone("/gone")
    feed_server.error("/boom", 500)
    feed_server.error("/nf", 404)
    feed_server.error("/busy", 503)
    async with make_client() as http:
        with pytest.raises(FetchError) as gone:
            await http.get(feed_server.url("/gone"))
        with pytest.raises(FetchError) as boom:
            await http.get(feed_server.url("/boom"))
        with pytest.raises(FetchError) as nf:
            await http.get(feed_server.url("/nf"))
        with pytest.raises(FetchError) as busy:
            await http.get(feed_server.url("/busy"))
        with pytest.raises(FetchError) as again:
            await http.get(feed_server.url("/busy"))  # 503 without Retry-After blocks nothing
    assert gone.value.permanent and gone.value.status == 410
    assert str(boom.value) == "HTTP 500 Internal Server Error"
    assert boom.value.status == 500 and not boom.value.permanent
    assert boom.value.url == feed_server.url("/boom")
    assert str(nf.value) == "HTTP 404 Not Found" and nf.value.status == 404
    assert busy.value.status == 503 and busy.value.retry_after is None
    assert again.value.status == 503


async def test_429_with_seconds_blocks_the_whole_host(
    feed_server: FeedServer, clock: FrozenClock
) -> None:
    feed_server.error("/limited", 429, retry_after=120)
    feed_server.add("/other", RSS)
    async with make_client(clock=clock) as http:
        with pytest.raises(FetchError) as first:
            await http.get(feed_server.url("/limited"))
        assert first.value.status == 429 and first.value.retry_after == 120
        count = len(feed_server.requests)
        clock.advance(20)
        with pytest.raises(FetchError) as second:
            await http.get(feed_server.url("/other"))  # another path on the same host
        assert len(feed_server.requests) == count  # failed fast, nothing reached the server
        assert second.value.retry_after == 100
        assert "asked us to wait until" in str(second.value)
        clock.advance(101)
        result = await http.get(feed_server.url("/other"))
    assert result.status == 200


async def test_429_with_http_date_and_shared_host_blocks(
    feed_server: FeedServer, clock: FrozenClock
) -> None:
    class MemoryBlocks:
        """Stands in for the store's HostRepo (``SharedHosts``; naive UTC like SQLite)."""

        def __init__(self) -> None:
            self.rows: dict[str, datetime] = {}
            self.reads = 0

        def blocked_until(self, host: str) -> datetime | None:
            self.reads += 1
            return self.rows.get(host)

        def block(self, host: str, until: datetime) -> None:
            self.rows[host] = until.replace(tzinfo=None)

        def reserve(self, host: str, delay: float) -> float:
            return 0.0  # no spacing: this test is about blocks

    blocks = MemoryBlocks()
    feed_server.error("/limited", 429, retry_after=clock.now + timedelta(minutes=5))
    feed_server.add("/feed", RSS)
    async with make_client(clock=clock, host_blocks=blocks) as http:
        for _ in range(3):
            await http.get(feed_server.url("/feed"))
        assert blocks.reads == 1  # a healthy host is read from the store once, then cached
        with pytest.raises(FetchError) as first:
            await http.get(feed_server.url("/limited"))
    assert first.value.retry_after == 300
    assert blocks.rows["127.0.0.1"] == (clock.now + timedelta(minutes=5)).replace(tzinfo=None)
    count = len(feed_server.requests)
    # A second process (a fresh client) learns the block from the shared store.
    async with make_client(clock=clock, host_blocks=blocks) as other:
        with pytest.raises(FetchError, match="asked us to wait") as blocked:
            await other.get(feed_server.url("/feed"))
    assert blocked.value.retry_after == 300
    assert len(feed_server.requests) == count


async def test_total_timeout_on_a_slow_server(feed_server: FeedServer) -> None:
    feed_server.slow("/slow", delay=20)
    async with make_client(total_timeout=1.0) as http:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"^timed out after 1 s$"):
            await http.get(feed_server.url("/slow"))
    assert time.monotonic() - started < 10  # ended by us, not by the server


async def test_timeout_when_the_server_hangs_after_headers(feed_server: FeedServer) -> None:
    feed_server.hang_after_headers("/hang")
    async with make_client(total_timeout=1.0) as http:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out after 1 s"):
            await http.get(feed_server.url("/hang"))
    assert time.monotonic() - started < 10


async def test_timeout_when_the_server_trickles(feed_server: FeedServer) -> None:
    # A byte every 0.2 s never trips a read timeout; only the total timeout ends it.
    feed_server.trickle("/trickle", interval=0.2)
    async with make_client(total_timeout=1.0) as http:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out after 1 s"):
            await http.get(feed_server.url("/trickle"))
    assert time.monotonic() - started < 10


async def test_connection_refused(feed_server: FeedServer) -> None:
    url = feed_server.url("/feed")
    await feed_server.close()
    async with make_client() as http:
        with pytest.raises(FetchError, match=r"^connection refused$") as err:
            await http.get(url)
    assert err.value.url == url


async def test_gzip_is_decompressed(feed_server: FeedServer) -> None:
    feed_server.add("/gz", RSS * 100, gzip_encode=True)
    async with make_client() as http:
        result = await http.get(feed_server.url("/gz"))
    assert result.body == RSS * 100


async def test_gzip_bomb_fails_cleanly_with_bounded_memory(feed_server: FeedServer) -> None:
    wire = feed_server.gzip_bomb("/bomb", size=100 * 1024 * 1024)
    assert wire < 200 * 1024  # the point of a bomb: small on the wire
    limit = 2 * 1024 * 1024
    async with make_client(max_bytes=limit) as http:
        tracemalloc.start()
        try:
            with pytest.raises(TooLargeError, match=r"^body larger than 2 MiB$"):
                await http.get(feed_server.url("/bomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 2 * limit + 1024 * 1024, f"peak {peak} bytes while refusing a bomb"


async def test_default_cap_is_15_mib_after_decompression(feed_server: FeedServer) -> None:
    feed_server.gzip_bomb("/bomb", size=20 * 1024 * 1024)
    async with make_client() as http:
        with pytest.raises(TooLargeError, match=r"^body larger than 15 MiB$"):
            await http.get(feed_server.url("/bomb"))


async def test_oversized_body_with_and_without_content_length(feed_server: FeedServer) -> None:
    feed_server.huge("/announced", 3 * 1024 * 1024, content_length=True)
    feed_server.huge("/chunked", 3 * 1024 * 1024, content_length=False)
    feed_server.huge("/fits", 1024 * 1024, content_length=False)
    async with make_client(max_bytes=1024 * 1024) as http:
        with pytest.raises(TooLargeError, match="body larger than 1 MiB"):
            await http.get(feed_server.url("/announced"))
        with pytest.raises(TooLargeError, match="body larger than 1 MiB"):
            await http.get(feed_server.url("/chunked"))
        fits = await http.get(feed_server.url("/fits"))
    assert len(fits.body) == 1024 * 1024


async def test_wrong_content_types_are_still_returned(feed_server: FeedServer) -> None:
    feed_server.add("/png", RSS, content_type="image/png")
    feed_server.add("/none", RSS, content_type="")
    async with make_client() as http:
        png = await http.get(feed_server.url("/png"))
        none = await http.get(feed_server.url("/none"))
    assert png.body == RSS and png.content_type == "image/png" and png.charset is None
    assert none.body == RSS


async def test_get_json_with_params_and_link(feed_server: FeedServer) -> None:
    feed_server.add_json(
        "/api/v1/accounts/lookup",
        {"id": "42"},
        headers={"Link": '<http://x/api?max_id=1>; rel="next"'},
    )
    feed_server.add("/bad", b"{not json", content_type="application/json")
    feed_server.add("/deep", b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
    async with make_client() as http:
        value, result = await http.get_json(
            feed_server.url("/api/v1/accounts/lookup?x=1"), params={"acct": "user@example.org"}
        )
        with pytest.raises(FetchError, match=r"^invalid JSON"):
            await http.get_json(feed_server.url("/bad"))
        with pytest.raises(FetchError, match=r"^invalid JSON"):
            await http.get_json(feed_server.url("/deep"))
    assert value == {"id": "42"}
    assert result.link == '<http://x/api?max_id=1>; rel="next"'
    request = feed_server.requests_to("/api/v1/accounts/lookup")[0]
    assert request.query == {"x": "1", "acct": "user@example.org"}
    assert request.headers["Accept"] == "application/json"


async def test_authorization_is_not_forwarded_to_another_host(feed_server: FeedServer) -> None:
    async with FeedServer("127.0.0.2") as elsewhere:
        elsewhere.add_json("/x", [])
        feed_server.redirect("/api", elsewhere.url("/x"), 302)
        async with make_client() as http:
            value, _ = await http.get_json(
                feed_server.url("/api"), headers={"Authorization": "Bearer secret"}
            )
        assert value == []
        assert feed_server.requests[0].headers["Authorization"] == "Bearer secret"
        assert "Authorization" not in elsewhere.requests[0].headers


async def test_client_must_be_entered() -> None:
    http = make_client()
    with pytest.raises(RuntimeError):
        await http.get("http://127.0.0.1:9/")


async def test_invalid_urls_are_fetch_errors() -> None:
    async with make_client() as http:
        with pytest.raises(FetchError, match="only http and https"):
            await http.get("file:///etc/passwd")
        with pytest.raises(FetchError, match="invalid URL"):
            await http.get("/relative/only")
