"""Posting to Bluesky with the atproto SDK's async client: posts with cards, reposts.

Every record is created with a record key derived from the item (``Job.rkey``, a TID), so
an attempt repeated after a crash or a lost answer collides with the first one instead of
posting twice; reading the key back (``getRecord``) tells whether an attempt landed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from atproto import AsyncClient, models
from atproto_client.exceptions import (
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_core.exceptions import AtProtocolError

from .. import logs
from ..errors import RelayError
from ..model import BlueskyTarget, Clock
from .bluesky_session import SESSION_KEY, BlueskySession
from .cards import PageGetter, fetch_card, fetch_thumbnail
from .plan import Job
from .targets import Delivered

log = logs.get(__name__)

__all__ = ["SESSION_KEY", "BlueskyPoster"]

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"


class BlueskyPoster:
    """The relay's Bluesky account."""

    name = "bluesky"

    def __init__(self, target: BlueskyTarget, session: BlueskySession, *, http: PageGetter, clock: Clock):
        self.target = target
        self.session = session
        self._http = http
        self.clock = clock
        self._paused: datetime | None = None

    @property
    def handle(self) -> str:
        return self.session.handle

    def paused_until(self) -> datetime | None:
        if self._paused is not None and self._paused <= self.clock():
            self._paused = None
        return self._paused

    async def _connect(self) -> tuple[AsyncClient, str]:
        try:
            return await self.session.connect()
        except AtProtocolError as exc:
            raise self._wrap(exc, "createSession") from exc

    # -- delivery -----------------------------------------------------------------------

    async def deliver(self, job: Job) -> Delivered:
        client, did = await self._connect()
        collection = REPOST if job.action == "repost" else POST
        record = await self._record(client, job)
        data = models.ComAtprotoRepoCreateRecord.Data(repo=did, collection=collection, record=record, rkey=job.rkey)
        try:
            created = await client.com.atproto.repo.create_record(data)
        except AtProtocolError as exc:
            # The key may be taken by an earlier attempt whose answer was lost: the PDS
            # refuses the duplicate (the reference PDS answers 500), so look before failing.
            try:
                found = await self.find(job)
            except RelayError:
                found = None
            if found is not None:
                return found
            raise self._wrap(exc, "createRecord") from exc
        return Delivered(created.uri, self._web_url(did, collection, job.rkey))

    async def find(self, job: Job) -> Delivered | None:
        client, did = await self._connect()
        collection = REPOST if job.action == "repost" else POST
        params = models.ComAtprotoRepoGetRecord.Params(repo=did, collection=collection, rkey=job.rkey)
        try:
            record = await client.com.atproto.repo.get_record(params)
        except BadRequestError as exc:
            if _error_name(exc) == "RecordNotFound":
                return None
            raise self._wrap(exc, "getRecord") from exc
        except AtProtocolError as exc:
            raise self._wrap(exc, "getRecord") from exc
        return Delivered(record.uri, self._web_url(did, collection, job.rkey))

    async def _record(self, client: AsyncClient, job: Job) -> Any:
        now = self.clock().isoformat().replace("+00:00", "Z")
        if job.action == "repost":
            assert job.native_uri and job.native_cid
            subject = models.ComAtprotoRepoStrongRef.Main(uri=job.native_uri, cid=job.native_cid)
            return models.AppBskyFeedRepost.Record(subject=subject, created_at=now)
        assert job.post is not None
        facets = []
        for f in job.post.facets:
            feature: Any = (models.AppBskyRichtextFacet.Link(uri=f.value) if f.kind == "link"
                            else models.AppBskyRichtextFacet.Tag(tag=f.value))
            facets.append(models.AppBskyRichtextFacet.Main(
                index=models.AppBskyRichtextFacet.ByteSlice(byte_start=f.byte_start, byte_end=f.byte_end),
                features=[feature],
            ))
        embed = await self._card(client, job) if job.url else None
        return models.AppBskyFeedPost.Record(
            text=job.post.text,
            facets=facets or None,
            langs=[job.post.language] if job.post.language else None,
            embed=embed,
            created_at=now,
        )

    async def _card(self, client: AsyncClient, job: Job) -> models.AppBskyEmbedExternal.Main:
        """``app.bsky.embed.external``; built by the client: Bluesky does not fetch links itself."""
        assert job.url
        http = self._http
        card = await fetch_card(http, job.url, title=job.title, description=job.description, image=job.image)
        thumb = None
        if card.image:
            image = await fetch_thumbnail(http, card.image)
            if image is not None:
                try:
                    thumb = (await client.upload_blob(image[0])).blob
                except AtProtocolError as exc:  # a card without image beats no post
                    log.info("relay.thumbnail_upload_failed", url=card.image, error=exc)
        external = models.AppBskyEmbedExternal.External(
            uri=job.url, title=card.title or job.title, description=card.description, thumb=thumb
        )
        return models.AppBskyEmbedExternal.Main(external=external)

    async def verify(self) -> str:
        """A session (the kept one, refreshed, or a new login) and ``getSession``; nothing is posted."""
        client, did = await self._connect()
        try:
            session = await client.com.atproto.server.get_session()
        except AtProtocolError as exc:
            raise self._wrap(exc, "getSession") from exc
        how = "with the session kept from an earlier login" if self.session.reused else "logged in with the app password"
        return f"@{session.handle} ({did}) on {self.target.service}, {how}"

    def _web_url(self, did: str, collection: str, rkey: str) -> str | None:
        if collection != POST:
            return None
        return f"https://bsky.app/profile/{did}/post/{rkey}"

    def _wrap(self, exc: AtProtocolError, what: str) -> RelayError:
        detail = f"bluesky: {what}: {exc.__class__.__name__}: {exc}".strip()
        if isinstance(exc, RateLimitExceededError):
            wait = exc.retry_after
            if wait is None and exc.reset_at is not None:
                wait = max(1.0, (exc.reset_at - self.clock()).total_seconds())
            wait = wait or 60.0
            self._paused = self.clock() + timedelta(seconds=wait)
            return RelayError(detail, target=self.name, retry_after=wait)
        if isinstance(exc, UnauthorizedError) or _error_name(exc) in ("ExpiredToken", "InvalidToken"):
            # Start from a fresh login next time (the stored session may have been revoked).
            self.session.forget()
            return RelayError(detail, target=self.name)
        if isinstance(exc, BadRequestError):
            return RelayError(detail, target=self.name, permanent=True)
        if isinstance(exc, NetworkError | RequestErrorBase):
            return RelayError(detail, target=self.name)
        return RelayError(detail, target=self.name, permanent=True)

    async def close(self) -> None:
        """The session is the factory's (shared with the feed publisher): it closes it."""


def _error_name(exc: AtProtocolError) -> str | None:
    """The XRPC error name (``RecordNotFound``…) of a failed request, when it says one."""
    content = exc.response.content if isinstance(exc, RequestErrorBase) and exc.response is not None else None
    if isinstance(content, XrpcError):
        return content.error
    return content.get("error") if isinstance(content, dict) else None
