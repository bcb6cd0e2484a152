"""A Mastodon account's public data through the instance's client API (no token needed).

``/api/v1/accounts/lookup`` turns ``@user@instance`` into an account id, then
``/api/v1/accounts/{id}/statuses`` lists its statuses newest first, 40 at most per page,
with the older page in the ``Link: <...max_id=...>; rel="next"`` header. Instances that
require authentication for the API answer 401/403; the crawler then reads
``mastodon_rss_url()`` with the feed parser instead.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import FetchError
from .client import HttpClient

#: Mastodon caps ``limit`` at 40 for account statuses (larger values are clamped server-side).
MAX_LIMIT = 40
MAX_PAGES = 10  # 400 statuses: far more than one crawl needs; bounds a hostile Link loop
_ACCOUNT = re.compile(r"^@?(?P<user>[A-Za-z0-9_.-]+)@(?P<host>[A-Za-z0-9.-]+(?::\d+)?)$")
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


def split_account(account: str) -> tuple[str, str]:
    """``"@user@instance"`` -> ``("user", "instance")``.

    Raises:
        FetchError: when the account is not of that form (permanent: retrying cannot help).
    """
    match = _ACCOUNT.match(account.strip())
    if not match:
        raise FetchError(f"not a Mastodon account of the form @user@instance: {account!r}", permanent=True)
    return match.group("user"), match.group("host").lower()


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def mastodon_api_base(account: str, url: str | None = None) -> str:
    """Where the account's instance answers the API: ``https://instance``.

    The source's configured ``url`` (its profile page) wins when given: it names the web
    host when that differs from the account's domain, and carries the port of test servers.
    """
    if url and (origin := _origin(url)):
        return origin
    return f"https://{split_account(account)[1]}"


def mastodon_rss_url(account: str, url: str | None = None) -> str:
    """The account's public RSS feed, ``https://instance/@user.rss`` (the API fallback)."""
    user, _ = split_account(account)
    return f"{mastodon_api_base(account, url)}/@{user}.rss"


def next_link(link_header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header, if any."""
    if not link_header:
        return None
    match = _LINK_NEXT.search(link_header)
    return match.group(1).strip() if match else None


def _older(status_id: Any, since_id: str | None) -> bool:
    """True when ``status_id`` is not newer than ``since_id`` (ids are numeric snowflakes)."""
    if since_id is None or not isinstance(status_id, str):
        return False
    if status_id.isdigit() and since_id.isdigit():
        return int(status_id) <= int(since_id)
    return status_id == since_id


class MastodonApi:
    """A client of Mastodon's public REST API: account lookup and statuses, as JSON.

    It fetches and checks the shape of the answers; turning statuses into entries is the
    parser's job (``aggregator.parse``). The ``HttpClient`` it goes through owns limits,
    politeness and the address guard.
    """

    def __init__(self, http: HttpClient):
        self.http = http

    async def lookup(self, account: str, *, url: str | None = None) -> dict[str, Any]:
        """The account JSON (``id``, ``url``, ``display_name``...) of ``@user@instance``.

        Raises:
            FetchError: HTTP failure (404 unknown account, 401/403 API needs a token) or an
                answer that is not an account.
        """
        user, _ = split_account(account)
        base = mastodon_api_base(account, url)
        # The bare username: the instance we ask is the account's own, and this also works
        # when its web host differs from the account's domain.
        data, _result = await self.http.get_json(f"{base}/api/v1/accounts/lookup", params={"acct": user})
        if not isinstance(data, dict) or not isinstance(data.get("id"), str | int):
            raise FetchError(f"Mastodon lookup of {account}: the answer is not an account", url=f"{base}/api/v1/accounts/lookup")
        data["id"] = str(data["id"])
        return data

    async def statuses(
        self,
        account_id: str,
        *,
        api_base: str,
        limit: int = MAX_LIMIT,
        pages: int = 1,
        since_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest statuses of the account, replies excluded, following ``rel="next"`` pages.

        Args:
            since_id: only statuses newer than this id (stops paging once reached).
            pages: at most this many pages (each up to ``limit`` statuses, at most 40). An
                error on a later page ends paging with the statuses already read.

        Raises:
            FetchError: HTTP failure or an answer that is not a list of statuses.
        """
        base = api_base.rstrip("/")
        origin = _origin(base)
        params = {"exclude_replies": "true", "limit": str(max(1, min(int(limit), MAX_LIMIT)))}
        if since_id:
            params["since_id"] = since_id
        url: str | None = f"{base}/api/v1/accounts/{account_id}/statuses"
        query: dict[str, str] | None = params
        seen: set[str] = set()
        statuses: list[dict[str, Any]] = []
        for page in range(max(1, min(pages, MAX_PAGES))):
            assert url is not None
            try:
                data, result = await self.http.get_json(url, params=query)
            except FetchError:
                if page == 0:
                    raise
                # The newest statuses are in hand; older pages wait for the next crawl.
                break
            if not isinstance(data, list):
                raise FetchError(f"Mastodon statuses of account {account_id}: expected a JSON array", url=url)
            reached = False
            for status in data:
                if not isinstance(status, dict):
                    continue
                status_id = status.get("id")
                if _older(status_id, since_id):
                    reached = True
                    continue
                key = str(status_id)
                if key not in seen:
                    seen.add(key)
                    statuses.append(status)
            url = next_link(result.link)
            # Follow the server's own next link only on the same origin: a Link header is
            # input like any other and must not send the crawler elsewhere.
            if not data or reached or url is None or _origin(url) != origin:
                break
            query = None  # the next link carries its full query
        return statuses
