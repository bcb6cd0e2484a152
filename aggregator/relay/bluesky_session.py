"""The relay account's Bluesky session: one logged-in client per process, kept in the store.

createSession is rate limited hard (30 per 5 minutes, 300 per day), refreshing is not: the
session (access and refresh tokens) is saved in the store's ``meta`` table on every change
and reused at the next start. Everything in one process that writes to the relay account
(the relay's posts, the feed generator's records) shares one ``BlueskySession``: two clients
refreshing the same tokens would revoke each other's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from atproto import AsyncClient
from atproto_client.client.session import Session, SessionEvent
from atproto_core.exceptions import AtProtocolError

from .. import logs
from .targets import BLUESKY_SESSION_KEY

log = logs.get("aggregator.relay.bluesky")

#: Where the session string is kept (``store.meta``): named in ``targets`` so that code which
#: does not post (the factory, ``doctor``) can read it without importing the SDK.
SESSION_KEY = BLUESKY_SESSION_KEY


class BlueskySession:
    """Log in once (or reuse the stored session), hand out the client and the account's DID."""

    def __init__(
        self,
        service: str,
        handle: str,
        password: str,
        *,
        load_session: Callable[[], Awaitable[str | None]],
        save_session: Callable[[str], Awaitable[None]],
    ):
        self.service = service
        self.handle = handle.lstrip("@")
        self.password = password
        self._load_session = load_session
        self._save_session = save_session
        self._client: AsyncClient | None = None
        self._did: str | None = None
        self._dropped: list[AsyncClient] = []
        self._lock = asyncio.Lock()
        #: The last connection reused the kept session (no password used): ``doctor`` says so.
        self.reused = False

    async def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        await self._save_session(session.encode())

    def _new_client(self) -> AsyncClient:
        client = AsyncClient(base_url=self.service)
        client.on_session_change(self._on_session_change)
        return client

    async def connect(self) -> tuple[AsyncClient, str]:
        """The logged-in client and the account's DID.

        Raises:
            AtProtocolError: the login was refused or failed (callers wrap it).
        """
        async with self._lock:
            if self._client is not None and self._did is not None:
                return self._client, self._did
            client = self._new_client()
            saved = await self._load_session()
            did = None
            # Session strings read "handle:::did:::access:::refresh:::pds".
            if saved and saved.split(":::", 1)[0] == self.handle:
                try:
                    await client.login(session_string=saved, fetch_bsky_profile=False)
                    # A cheap authenticated call: refreshes an expired access token, and
                    # fails when the refresh token is dead too (then log in again).
                    did = (await client.com.atproto.server.get_session()).did
                except AtProtocolError as exc:
                    log.info("relay.bluesky_session_reuse_failed", error=exc)
                    self._dropped.append(client)
                    client = self._new_client()
            self.reused = did is not None
            if did is None:
                try:
                    # No AppView needed to post: skip the profile look-up login() would do.
                    await client.login(self.handle, self.password, fetch_bsky_profile=False)
                except AtProtocolError:
                    self._dropped.append(client)
                    raise
                did = Session.decode(client.export_session_string()).did
            self._client, self._did = client, did
            return client, did

    def forget(self) -> None:
        """Start from the stored session (or a fresh login) next time: this one was refused."""
        if self._client is not None:
            self._dropped.append(self._client)
        self._client = self._did = None

    async def close(self) -> None:
        clients, self._dropped = [*self._dropped, *([self._client] if self._client else [])], []
        self._client = self._did = None
        for client in clients:
            await client.request.close()
