"""Retrieve one source, whatever its kind (feed, site, Mastodon, Bluesky): fetch, then parse.

``Retriever.retrieve`` returns a ``Retrieved`` (parsed entries plus the HTTP facts the
scheduler needs); the write path (``ingest``) and the schedule come after, in ``crawler``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FetchError, ParseError
from ..fetch.bluesky import BlueskyAppView
from ..fetch.client import HttpClient
from ..fetch.mastodon import MastodonApi, mastodon_api_base, mastodon_rss_url
from ..model import CrawlSettings, FeedData, FetchResult, ParsedFeed, SourceConfig, SourceState
from ..parse.activitypub import parse_activitypub_object
from ..parse.bluesky import parse_bluesky_feed
from ..parse.discovery import discover_feeds, looks_like_html
from ..parse.mastodon import parse_mastodon_statuses
from .parse_pool import ParsePool
from .ports import ActorFollows

#: Mastodon API answers that mean "use the public RSS feed instead" (instances that
#: require authentication for the API, or have it disabled), as opposed to the host
#: asking us to slow down, which must be honoured, not routed around.
MASTODON_FALLBACK_STATUSES = {None, 401, 403, 404, 410, 500, 501, 502, 504}


@dataclass(frozen=True)
class Retrieved:
    """What one source yielded this time."""

    parsed: ParsedFeed | None  # None when not modified
    fetch: FetchResult | None = None  # the HTTP facts of the document whose validators we keep
    resolved_id: str | None = None  # discovered feed URL (site), account id (Mastodon), DID (Bluesky)
    url: str | None = None  # the source's new URL after a permanent redirect
    page_url: str | None = None  # the web page the feed was discovered on (``discover``)

    @property
    def not_modified(self) -> bool:
        return self.parsed is None


class Retriever:
    """Fetches and parses sources of every kind with one HTTP client and one parse pool."""

    def __init__(self, http: HttpClient, parser: ParsePool, settings: CrawlSettings, *, follows: ActorFollows | None = None):
        """
        Args:
            follows: follows the actors of ``activitypub`` sources (None when the actor is off).
        """
        self.http = http
        self.parser = parser
        self.settings = settings
        self.follows = follows
        self.mastodon = MastodonApi(http)
        self.bluesky = BlueskyAppView(http, settings.bluesky_appview)

    async def retrieve(self, source: SourceConfig, state: SourceState) -> Retrieved:
        """Raises FetchError or ParseError; the crawler records them."""
        if source.kind == "feed":
            parsed, result = await self._feed(state.url or source.url or "", state)
            return Retrieved(parsed, result, None, result.permanent_url)
        if source.kind == "site":
            return await self._site(source, state)
        if source.kind == "mastodon":
            return await self._mastodon(source, state)
        if source.kind == "bluesky":
            return await self._bluesky(source, state)
        if source.kind == "activitypub":
            return await self._activitypub(source, state)
        raise ParseError(f"unknown source kind {source.kind!r}")

    async def _parse(self, result: FetchResult) -> ParsedFeed:
        return await self.parser.parse(result.body, url=result.url, content_type=result.content_type, charset=result.charset)

    async def _feed(self, url: str, state: SourceState) -> tuple[ParsedFeed | None, FetchResult]:
        """Conditional GET of a feed URL, parsed unless not modified."""
        result = await self.http.get(url, etag=state.etag, last_modified=state.last_modified)
        if result.not_modified:
            return None, result
        return await self._parse(result), result

    async def _site(self, source: SourceConfig, state: SourceState) -> Retrieved:
        """An HTML page whose feed we discover once, then fetch like a feed.

        The discovered feed URL is kept as ``resolved_id``; a 301 on it moves it.
        """
        if state.resolved_id:
            try:
                parsed, result = await self._feed(state.resolved_id, state)
                return Retrieved(parsed, result, result.permanent_url or state.resolved_id)
            except (ParseError, FetchError) as exc:
                if isinstance(exc, FetchError) and exc.status not in (404, 410):
                    raise
                # the discovered feed is gone: discover again below
        return await self.discover(state.url or source.url or "")

    async def discover(self, page_url: str) -> Retrieved:
        """The feed behind a URL: the URL itself when it is a feed, else the first readable
        feed its page announces. ``resolved_id`` is the feed's URL; ``url`` the page's new
        address after a permanent redirect. Raises FetchError or ParseError.

        Used for ``kind: site`` sources and by ``aggregator sources add``.
        """
        page = await self.http.get(page_url, accept="text/html, application/xhtml+xml, */*;q=0.5")
        if not looks_like_html(page.body):
            parsed = await self._parse(page)  # the "site" URL is a feed after all
            return Retrieved(parsed, page, page.url, page.permanent_url)
        candidates = discover_feeds(page.body, url=page.url, charset=page.charset)
        if not candidates:
            raise ParseError("no feed found on the page (no <link rel=\"alternate\"> to RSS, Atom or JSON Feed)", url=page_url)
        errors: list[str] = []
        for candidate in candidates[:4]:
            try:
                result = await self.http.get(candidate)
                parsed = await self._parse(result)
            except (FetchError, ParseError) as exc:
                errors.append(f"{candidate}: {exc}")
                continue
            return Retrieved(parsed, result, result.permanent_url or candidate, page.permanent_url, page_url=page.url)
        raise ParseError("feeds found on the page could not be read: " + "; ".join(errors), url=page_url)

    async def _mastodon(self, source: SourceConfig, state: SourceState) -> Retrieved:
        """The public API first; the account's RSS feed when the API is closed."""
        assert source.account is not None
        api_base = mastodon_api_base(source.account, source.url)
        try:
            account_id = state.resolved_id
            profile_url: str | None = source.url
            if not account_id:
                account: dict[str, Any] = await self.mastodon.lookup(source.account, url=source.url)
                account_id = str(account["id"])
                profile_url = account.get("url") or profile_url
            statuses = await self.mastodon.statuses(account_id, api_base=api_base, limit=40)
        except FetchError as exc:
            if exc.status not in MASTODON_FALLBACK_STATUSES or exc.retry_after is not None:
                raise
            parsed, result = await self._feed(mastodon_rss_url(source.account, source.url), state)
            return Retrieved(parsed, result)
        except (KeyError, TypeError) as exc:
            raise ParseError(f"unexpected Mastodon account answer: {exc}", url=api_base) from exc
        parsed = parse_mastodon_statuses(statuses, account=source.account, profile_url=profile_url)
        return Retrieved(parsed, None, account_id)

    async def _bluesky(self, source: SourceConfig, state: SourceState) -> Retrieved:
        assert source.handle is not None
        did = state.resolved_id or await self.bluesky.resolve_handle(source.handle)
        data = await self.bluesky.author_feed(did)
        return Retrieved(parse_bluesky_feed(data, did=did, handle=source.handle), None, did)

    async def _activitypub(self, source: SourceConfig, state: SourceState) -> Retrieved:
        """Pushed, not fetched: the actor's posts reach our inbox once we follow it, so
        "retrieving" the source means making sure our Follow was sent (docs/activitypub.md),
        and reading the first page of its outbox: what came before the follow, and any push
        that was missed (the write path drops what it already has)."""
        if self.follows is None:
            raise ParseError("activitypub sources need the activitypub: section of sources.yaml and AGGREGATOR_BASE_URL")
        actor_id, _state = await self.follows.ensure(
            source.slug, actor=source.actor, account=source.account, url=source.url)
        posts = await self.follows.recent_posts(actor_id)
        entries = tuple(e for e in (parse_activitypub_object(p) for p in posts) if e is not None)
        return Retrieved(ParsedFeed(FeedData(link=actor_id, version="activitypub"), entries), None, actor_id)
