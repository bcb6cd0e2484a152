"""A Bluesky account's public data through an AppView's XRPC API (no session needed).

The PDS refuses anonymous ``app.bsky.*`` reads; public reads go to an AppView
(``https://public.api.bsky.app`` in production, the local network's AppView in tests),
which is why its URL is a setting.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FetchError
from .client import HttpClient

MAX_LIMIT = 100  # getAuthorFeed's upper bound for `limit`
#: Own posts, reposts, and replies in the account's own threads; replies to other people
#: are left out server-side (a thread by a medium is content, its conversations are not).
DEFAULT_FILTER = "posts_and_author_threads"
FILTERS = frozenset({"posts_with_replies", "posts_no_replies", "posts_with_media", "posts_and_author_threads", "posts_with_video"})
_DID = re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]{1,2000}$")
_HANDLE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def is_did(value: str) -> bool:
    return bool(_DID.match(value))


class BlueskyAppView:
    """A client of one AppView's public XRPC API: handle resolution and author feeds, as JSON.

    Named after the server it talks to, since the AppView (not the account's PDS) is what
    answers anonymous reads. Turning feed items into entries is the parser's job.
    """

    def __init__(self, http: HttpClient, appview: str):
        self.http = http
        self.appview = appview.rstrip("/")

    def _xrpc(self, method: str) -> str:
        return f"{self.appview}/xrpc/{method}"

    async def resolve_handle(self, handle: str) -> str:
        """The account's DID; a DID passes through unchanged.

        Raises:
            FetchError: HTTP failure (400 for an unknown handle) or not a DID in the answer.
        """
        handle = handle.strip().lstrip("@")
        if handle.startswith("did:"):
            if not is_did(handle):
                raise FetchError(f"not a valid DID: {handle!r}", permanent=True)
            return handle
        if not _HANDLE.match(handle):
            raise FetchError(f"not a valid Bluesky handle: {handle!r}", permanent=True)
        url = self._xrpc("com.atproto.identity.resolveHandle")
        data, _result = await self.http.get_json(url, params={"handle": handle.lower()})
        did = data.get("did") if isinstance(data, dict) else None
        if not isinstance(did, str) or not is_did(did):
            raise FetchError(f"Bluesky handle {handle}: the AppView answered no DID", url=url)
        return did

    async def author_feed(self, actor: str, *, limit: int = 50, filter: str = DEFAULT_FILTER) -> dict[str, Any]:
        """The newest page of ``app.bsky.feed.getAuthorFeed`` for ``actor`` (DID or handle).

        Raises:
            FetchError: HTTP failure or an answer without a ``feed`` array.
        """
        if filter not in FILTERS:
            raise ValueError(f"unknown getAuthorFeed filter {filter!r}")
        url = self._xrpc("app.bsky.feed.getAuthorFeed")
        params = {"actor": actor, "limit": str(max(1, min(int(limit), MAX_LIMIT))), "filter": filter}
        data, _result = await self.http.get_json(url, params=params)
        if not isinstance(data, dict) or not isinstance(data.get("feed"), list):
            raise FetchError(f"Bluesky feed of {actor}: the AppView answered no feed", url=url)
        return data
