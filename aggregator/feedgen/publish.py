"""``aggregator bluesky publish``: the records on the relay account, in sync with the configuration.

Written with the relay account's session (``relay.bluesky_session``: one login, shared
with the relay), through plain ``com.atproto.repo`` calls:

- one ``app.bsky.feed.generator`` per configured feed (record key: its short name), naming
  our did:web; generator records of ours that are no longer configured are deleted;
- an ``app.bsky.graph.list`` (a curation list) of every source's own Bluesky account:
  ``kind: bluesky`` sources' handles and the ``bluesky:`` field of the others, read from the
  store's mirror of ``sources.yaml`` (so the latest file any process started with wins),
  one ``listitem`` per account, added and removed to match;
- an ``app.bsky.graph.starterpack`` on that list with the first three feeds.

Idempotent: every record key is derived (lists, items and starter packs need TIDs:
``identity.stable_tid``), a record is rewritten only when what we manage in it changed
(the avatar is compared by its CID, computed locally), and a second run changes nothing.
What was published is saved in the store for the web processes (feed URIs, links).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from atproto import AsyncClient, models
from atproto_client.exceptions import (
    BadRequestError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.models.utils import get_model_as_dict
from atproto_core.exceptions import AtProtocolError

from .. import logs
from ..errors import ConfigError, RelayError
from ..model import BlueskyFeedConfig, BlueskyPublished, Clock, SourceConfig
from ..relay.bluesky_session import BlueskySession
from ..waits import pause
from .identity import (
    GENERATOR,
    LIST,
    LISTITEM,
    STARTERPACK,
    blob_cid,
    parse_at_uri,
    record_uri,
    stable_tid,
)
from .ports import FeedRecords

log = logs.get("aggregator.feedgen")

#: The leader lock of ``run``'s sync loop: one process writes the records.
BLUESKY_FEED_LOCK = "bluesky_feed"
CURATELIST = "app.bsky.graph.defs#curatelist"
#: Bluesky refuses bigger avatars.
MAX_AVATAR_BYTES = 1_000_000
#: A starter pack shows at most three feeds.
STARTER_PACK_FEEDS = 3
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class SourceReads(Protocol):
    def configs(self, *, include_unconfigured: bool = False) -> list[SourceConfig]: ...


class PublishStore(Protocol):
    @property
    def bluesky_feed(self) -> FeedRecords: ...

    @property
    def sources(self) -> SourceReads: ...


@dataclass
class Outcome:
    """One record, as ``publish --json`` prints it."""

    kind: str  # feed, list, starterpack
    uri: str
    name: str
    state: str  # created, updated, unchanged, deleted
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "uri": self.uri, "name": self.name, "state": self.state, "url": self.url, **self.extra}


def accounts_of(sources: list[SourceConfig]) -> list[str]:
    """Every source's own Bluesky account (handles or DIDs), once each, in configuration order."""
    seen: dict[str, None] = {}
    for source in sources:
        for value in (source.handle if source.kind == "bluesky" else None, source.bluesky):
            account = (value or "").strip().lstrip("@").lower()
            if account:
                seen.setdefault(account, None)
    return list(seen)


class Publisher:
    """Brings the relay account's records in line with ``bluesky_feed:`` and the sources."""

    def __init__(self, session: BlueskySession, config: BlueskyFeedConfig, *, generator_did: str,
                 store: PublishStore, config_dir: Path, clock: Clock):
        self.session = session
        self.config = config
        self.generator_did = generator_did
        self.store = store
        self.config_dir = config_dir
        self.clock = clock

    async def publish(self) -> list[Outcome]:
        """Write what differs; returns one outcome per record (unchanged ones included).

        Raises:
            RelayError: Bluesky refused or failed (``retry_after`` on a rate limit).
            ConfigError: an avatar file is missing or not a PNG/JPEG under 1 MB.
        """
        try:
            client, did = await self.session.connect()
        except AtProtocolError as exc:
            raise self._wrap(exc, "createSession") from exc
        run = _Run(self, client, did)
        try:
            return await run.all()
        except AtProtocolError as exc:
            raise self._wrap(exc, run.doing) from exc

    def _wrap(self, exc: AtProtocolError, what: str) -> RelayError:
        detail = f"bluesky publish: {what}: {exc.__class__.__name__}: {exc}".strip()
        if isinstance(exc, RateLimitExceededError):
            wait = exc.retry_after
            if wait is None and exc.reset_at is not None:
                wait = max(1.0, (exc.reset_at - self.clock()).total_seconds())
            return RelayError(detail, target="bluesky", retry_after=wait or 60.0)
        if isinstance(exc, UnauthorizedError) or _error_name(exc) in ("ExpiredToken", "InvalidToken"):
            self.session.forget()
        return RelayError(detail, target="bluesky", permanent=isinstance(exc, BadRequestError))

    def avatar(self, path: str, field: str) -> tuple[bytes, str]:
        """The image file's bytes and type, checked as Bluesky will."""
        file = self.config_dir / path
        where = str(self.config_dir / "sources.yaml")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the avatar {file}: {exc.strerror or exc}", file=where, field=field) from exc
        mime = next((m for magic, m in IMAGE_TYPES.items() if data.startswith(magic)), None)
        if mime is None:
            raise ConfigError(f"{file} is not a PNG or JPEG image", file=where, field=field)
        if len(data) > MAX_AVATAR_BYTES:
            raise ConfigError(f"{file} weighs {len(data)} bytes; Bluesky takes at most 1 MB", file=where, field=field)
        return data, mime


class _Run:
    """One publication: the calls, and what is being done (for error messages)."""

    def __init__(self, publisher: Publisher, client: AsyncClient, did: str):
        self.p = publisher
        self.client = client
        self.did = did
        self.doing = "start"
        self.now = publisher.clock().isoformat().replace("+00:00", "Z")

    async def all(self) -> list[Outcome]:
        config = self.p.config
        outcomes: list[Outcome] = []
        feeds: list[tuple[str, str]] = []
        for index, feed in enumerate(config.feeds):
            existing = await self._get(GENERATOR, feed.short_name)
            wanted: dict[str, Any] = {"did": self.p.generator_did, "displayName": feed.display_name}
            if feed.description:
                wanted["description"] = feed.description
            if feed.avatar:
                wanted["avatar"] = await self._blob(feed.avatar, f"bluesky_feed.feeds[{index}].avatar", existing)
            state = await self._put(GENERATOR, feed.short_name, wanted, existing)
            uri = record_uri(self.did, GENERATOR, feed.short_name)
            feeds.append((feed.short_name, uri))
            outcomes.append(Outcome("feed", uri, feed.short_name, state, f"https://bsky.app/profile/{self.did}/feed/{feed.short_name}"))
        outcomes += await self._drop_stale_generators({f.short_name for f in config.feeds})
        list_uri = starter_uri = None
        if config.list is not None:
            list_rkey = stable_tid("list")
            list_uri = record_uri(self.did, LIST, list_rkey)
            existing = await self._get(LIST, list_rkey)
            wanted = {"purpose": CURATELIST, "name": config.list.name}
            if config.list.description:
                wanted["description"] = config.list.description
            if config.list.avatar:
                wanted["avatar"] = await self._blob(config.list.avatar, "bluesky_feed.list.avatar", existing)
            state = await self._put(LIST, list_rkey, wanted, existing)
            members = await self._sync_members(list_uri)
            outcomes.append(Outcome("list", list_uri, config.list.name, state,
                                    f"https://bsky.app/profile/{self.did}/lists/{list_rkey}", members))
            if config.starter_pack is not None:
                pack_rkey = stable_tid("starterpack")
                starter_uri = record_uri(self.did, STARTERPACK, pack_rkey)
                wanted = {"name": config.starter_pack.name, "list": list_uri}
                if feeds:
                    wanted["feeds"] = [{"uri": uri} for _, uri in feeds[:STARTER_PACK_FEEDS]]
                if config.starter_pack.description:
                    wanted["description"] = config.starter_pack.description
                state = await self._put(STARTERPACK, pack_rkey, wanted, await self._get(STARTERPACK, pack_rkey))
                outcomes.append(Outcome("starterpack", starter_uri, config.starter_pack.name, state,
                                        f"https://bsky.app/starter-pack/{self.did}/{pack_rkey}"))
        published = BlueskyPublished(did=self.did, handle=self.p.session.handle, feeds=tuple(feeds),
                                     list_uri=list_uri, starter_pack_uri=starter_uri)
        await asyncio.to_thread(self.p.store.bluesky_feed.save_published, published)
        log.info("feedgen.published", account=self.did, records=len(outcomes),
                 changed=sum(1 for o in outcomes if o.state != "unchanged"))
        return outcomes

    # -- records ---------------------------------------------------------------------

    async def _get(self, collection: str, rkey: str) -> dict[str, Any] | None:
        self.doing = f"getRecord {collection}/{rkey}"
        params = models.ComAtprotoRepoGetRecord.Params(repo=self.did, collection=collection, rkey=rkey)
        try:
            answer = await self.client.com.atproto.repo.get_record(params)
        except BadRequestError as exc:
            if _error_name(exc) == "RecordNotFound":
                return None
            raise
        return _as_dict(answer.value)

    async def _put(self, collection: str, rkey: str, wanted: dict[str, Any], existing: dict[str, Any] | None) -> str:
        """Create or update the record (``existing`` as read) so that it holds ``wanted``
        (plus ``createdAt``); fields we do not manage are dropped."""
        if existing is not None and _plain(existing) == _plain({**wanted, "createdAt": existing.get("createdAt")}):
            return "unchanged"
        record = {"$type": collection, **wanted, "createdAt": (existing or {}).get("createdAt") or self.now}
        self.doing = f"putRecord {collection}/{rkey}"
        await self.client.com.atproto.repo.put_record(models.ComAtprotoRepoPutRecord.Data(
            repo=self.did, collection=collection, rkey=rkey, record=record))
        log.info("feedgen.record_written", collection=collection, rkey=rkey, created=existing is None)
        return "created" if existing is None else "updated"

    async def _blob(self, path: str, field: str, existing: dict[str, Any] | None) -> dict[str, Any]:
        """The avatar's blob reference; uploaded only when the record does not hold this image."""
        data, mime = await asyncio.to_thread(self.p.avatar, path, field)
        cid = blob_cid(data)
        current = (existing or {}).get("avatar")
        if isinstance(current, dict) and (current.get("ref") or {}).get("$link") == cid and current.get("mimeType") == mime:
            return current
        self.doing = f"uploadBlob {path}"
        blob = (await self.client.upload_blob(data)).blob
        return _as_dict(blob)

    async def _list(self, collection: str) -> list[tuple[str, dict[str, Any]]]:
        """(rkey, value) of every record of ``collection`` on the account."""
        self.doing = f"listRecords {collection}"
        out: list[tuple[str, dict[str, Any]]] = []
        cursor = None
        while True:
            params = models.ComAtprotoRepoListRecords.Params(repo=self.did, collection=collection, limit=100, cursor=cursor)
            page = await self.client.com.atproto.repo.list_records(params)
            for record in page.records:
                uri = parse_at_uri(record.uri)
                if uri is not None:
                    out.append((uri.rkey, _as_dict(record.value)))
            cursor = page.cursor
            if not cursor or not page.records:
                return out

    async def _delete(self, collection: str, rkey: str) -> None:
        self.doing = f"deleteRecord {collection}/{rkey}"
        await self.client.com.atproto.repo.delete_record(models.ComAtprotoRepoDeleteRecord.Data(
            repo=self.did, collection=collection, rkey=rkey))

    async def _drop_stale_generators(self, configured: set[str]) -> list[Outcome]:
        """Our generator records (naming our DID) whose feed left the configuration."""
        outcomes = []
        for rkey, value in await self._list(GENERATOR):
            if rkey not in configured and value.get("did") == self.p.generator_did:
                await self._delete(GENERATOR, rkey)
                log.info("feedgen.feed_removed", rkey=rkey)
                outcomes.append(Outcome("feed", record_uri(self.did, GENERATOR, rkey), rkey, "deleted"))
        return outcomes

    # -- the list's members ----------------------------------------------------------

    async def _sync_members(self, list_uri: str) -> dict[str, Any]:
        sources = await asyncio.to_thread(self.p.store.sources.configs)
        wanted: dict[str, str] = {}  # DID -> as configured
        unresolved = []
        for account in accounts_of(sources):
            did = await self._resolve(account)
            if did is None:
                unresolved.append(account)
            else:
                wanted.setdefault(did, account)
        present: dict[str, list[str]] = {}  # DID -> rkeys of its items in our list
        for rkey, value in await self._list(LISTITEM):
            if value.get("list") == list_uri and isinstance(value.get("subject"), str):
                present.setdefault(value["subject"], []).append(rkey)
        added = removed = 0
        for did in wanted:
            if did not in present:
                self.doing = f"createRecord listitem {did}"
                await self.client.com.atproto.repo.create_record(models.ComAtprotoRepoCreateRecord.Data(
                    repo=self.did, collection=LISTITEM, rkey=stable_tid("listitem", list_uri, did),
                    record={"$type": LISTITEM, "subject": did, "list": list_uri, "createdAt": self.now}))
                added += 1
        for did, rkeys in present.items():
            if did not in wanted:  # no longer configured: leaves the list
                removed += 1
            else:  # stays, once
                rkeys = rkeys[1:]
            for rkey in rkeys:
                await self._delete(LISTITEM, rkey)
        if added or removed:
            log.info("feedgen.list_synced", added=added, removed=removed, members=len(wanted))
        if unresolved:
            log.warning("feedgen.accounts_unresolved", accounts=unresolved)
        return {"members": len(wanted), "added": added, "removed": removed, "unresolved": unresolved}

    async def _resolve(self, account: str) -> str | None:
        if account.startswith("did:"):
            return account
        self.doing = f"resolveHandle {account}"
        try:
            answer = await self.client.com.atproto.identity.resolve_handle(
                models.ComAtprotoIdentityResolveHandle.Params(handle=account))
        except BadRequestError:
            return None  # no such handle (any more): reported, the others go on
        return str(answer.did)


async def keep_in_sync(publish: Callable[[], Awaitable[list[Outcome]]], stop: asyncio.Event, *, every: float,
                       retry: float = 300.0) -> None:
    """``run``'s loop: publish at once, then every ``every`` seconds, until ``stop``.

    A failure is logged and tried again after ``retry`` seconds (or when Bluesky's rate
    limit says), never later than the next round.
    """
    while not stop.is_set():
        wait = every
        try:
            outcomes = await publish()
            log.info("feedgen.sync", records=len(outcomes), changed=sum(1 for o in outcomes if o.state != "unchanged"))
        except RelayError as exc:
            log.warning("feedgen.sync_failed", error=str(exc), retry_after=exc.retry_after)
            wait = min(every, exc.retry_after or retry)
        except ConfigError as exc:
            log.warning("feedgen.sync_failed", error=str(exc))
        await pause(stop, wait)


def _plain(value: Any) -> Any:
    """``value`` without its ``$type`` markers, for comparing what a record says: a record
    read back carries them on nested objects (``starterpack#feedItem``) where ours may not."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "$type"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    return dict(get_model_as_dict(value))


def _error_name(exc: AtProtocolError) -> str | None:
    content = exc.response.content if isinstance(exc, RequestErrorBase) and exc.response is not None else None
    if isinstance(content, XrpcError):
        return content.error
    return content.get("error") if isinstance(content, dict) else None

