"""Typed hand-offs between the pipeline steps: fetch -> parse -> decide -> store.

Nothing here does I/O. Dates are timezone-aware UTC datetimes everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Literal

SourceKind = Literal["feed", "site", "mastodon", "bluesky", "activitypub"]
SOURCE_KINDS: tuple[str, ...] = ("feed", "site", "mastodon", "bluesky", "activitypub")
#: Kinds whose items are pushed to us (an ActivityPub actor we follow), not fetched.
PUSHED_KINDS: tuple[str, ...] = ("activitypub",)

#: What an entry is, as far as relaying and the river care.
#: ``article``: a web article; ``post``: the account's own fediverse post;
#: ``repost``: the account boosted someone else; ``reply``: an answer in a thread.
EntryKind = Literal["article", "post", "repost", "reply"]

SourceStatus = Literal["ok", "not_modified", "failing", "disabled", "never"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; tests inject their own ``Clock`` instead."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceConfig:
    """One source as the operator wrote it in ``sources.yaml`` (validated)."""

    slug: str
    name: str
    kind: SourceKind
    url: str | None = None  # feed or site URL; the profile URL for fediverse kinds
    account: str | None = None  # "@user@instance" for mastodon and activitypub
    actor: str | None = None  # an ActivityPub actor URL, for activitypub (or account:)
    handle: str | None = None  # "name.bsky.social" for bluesky
    language: str | None = None
    tags: tuple[str, ...] = ()
    relay: bool = True
    description: str | None = None
    website: str | None = None  # the medium's home page, shown to readers
    mastodon: str | None = None  # the medium's own Mastodon account, shown on /sources
    bluesky: str | None = None  # the medium's own Bluesky handle, shown on /sources
    template: str | None = None  # per-source relay post template


@dataclass(frozen=True)
class CrawlSettings:
    """Crawl settings from the ``settings:`` section of ``sources.yaml``."""

    user_agent: str = (
        "aggregator/0.1 (+https://github.com/independent-media/aggregator; federated aggregator"
        " for independent media)"
    )
    min_interval: float = 300.0  # seconds: 5 min (docs/crawling.md, crawling rules)
    max_interval: float = 86400.0  # seconds: 24 h
    bluesky_appview: str = "https://public.api.bsky.app"
    per_host_delay: float = 1.0  # seconds between request starts to one host (docs/crawling.md: about 1 s)


@dataclass(frozen=True)
class MastodonTarget:
    api_base_url: str
    visibility: str = "public"


@dataclass(frozen=True)
class BlueskyTarget:
    service: str = "https://bsky.social"
    appview: str | None = None


@dataclass(frozen=True)
class RelayConfig:
    """The ``relay:`` section: where and how new items are posted."""

    mastodon: MastodonTarget | None = None
    bluesky: BlueskyTarget | None = None
    template: str = "{title}\n\n{url}\n\n{hashtags}"
    hashtags: tuple[str, ...] = ()
    max_posts_per_hour: int = 30
    backlog: float = 86400.0  # seconds
    max_attempts: int = 8

    def targets(self) -> tuple[str, ...]:
        """Names of the configured targets, the ``target`` column of the outbox."""
        names = []
        if self.mastodon is not None:
            names.append("mastodon")
        if self.bluesky is not None:
            names.append("bluesky")
        return tuple(names)


@dataclass(frozen=True)
class ActivityPubConfig:
    """The ``activitypub:`` section: the aggregator's own followable actor (docs/activitypub.md).

    Present, with ``AGGREGATOR_BASE_URL`` set, it turns the actor on: routes, the inbox, the
    ``activitypub`` relay target and the ``activitypub`` sources.
    """

    username: str = "relay"
    name: str | None = None  # display name; default: the username
    summary: str = ""  # plain text, shown on the profile
    avatar: str | None = None  # an image URL
    blocked_domains: tuple[str, ...] = ()  # lower-case; a domain blocks its subdomains


DigestGrouping = Literal["source", "tag"]


@dataclass(frozen=True)
class DigestConfig:
    """The ``digest:`` section: the daily newsletter is on when the section is present.

    ``from_address`` may carry a display name (``Médias libres <lettre@example.org>``);
    ``list_address`` switches to the mailing-list mode (one mail a day to that address,
    no subscribers stored); ``unsubscribe_address`` adds a ``mailto:`` to
    ``List-Unsubscribe`` and must be a mailbox whose mail reaches ``aggregator`` (see
    docs/newsletter.md).
    """

    from_address: str
    send_at: time = time(7, 0)
    timezone: str = "Europe/Paris"
    list_address: str | None = None
    group_by: DigestGrouping = "source"
    max_per_hour: int = 500
    unsubscribe_address: str | None = None


@dataclass(frozen=True)
class DigestFilters:
    """A subscriber's choice: empty tuples mean everything.

    Sources are slugs, tags lowercase, languages primary codes (``fr`` also matches ``fr-CA``).
    """

    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not (self.sources or self.tags or self.languages)

    def key(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """Equal for equal choices whatever the order they were given in (a cache key)."""
        return (tuple(sorted(set(self.sources))), tuple(sorted(set(self.tags))), tuple(sorted(set(self.languages))))


#: Everything: no filter.
ALL_STORIES = DigestFilters()


@dataclass(frozen=True)
class FeedSelection:
    """What one Bluesky feed shows (``bluesky_feed.feeds``): empty tuples mean everything.

    Within a kind any value matches (``tags: [lyon, grenoble]``); kinds combine (a tag AND
    a language). Sources are slugs, tags lowercase, languages primary codes (``fr`` also
    matches ``fr-CA``).
    """

    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class BlueskyFeedDef:
    """One custom feed: its ``app.bsky.feed.generator`` record and what it selects."""

    short_name: str  # the record key: the last part of the feed's URL
    display_name: str
    description: str | None = None
    avatar: str | None = None  # a PNG or JPEG file, relative to sources.yaml
    selection: FeedSelection = field(default_factory=FeedSelection)


@dataclass(frozen=True)
class BlueskyCollectionDef:
    """The curation list of the sources' accounts, or the starter pack built on it."""

    name: str
    description: str | None = None
    avatar: str | None = None  # lists only


@dataclass(frozen=True)
class BlueskyFeedConfig:
    """The ``bluesky_feed:`` section: the feed generator, the list and the starter pack."""

    feeds: tuple[BlueskyFeedDef, ...] = ()
    list: BlueskyCollectionDef | None = None
    starter_pack: BlueskyCollectionDef | None = None
    plc: str = "https://plc.directory"  # where callers' did:plc documents are read
    sync_every: float = 3600.0  # seconds between two syncs of the records by ``run``

    def feed(self, short_name: str) -> BlueskyFeedDef | None:
        return next((f for f in self.feeds if f.short_name == short_name), None)


@dataclass(frozen=True)
class BlueskyPublished:
    """What ``aggregator bluesky publish`` last wrote on the relay account (kept in the store)."""

    did: str  # the relay account: the publisher of the records
    handle: str
    feeds: tuple[tuple[str, str], ...] = ()  # (short name, at:// URI of the generator record)
    list_uri: str | None = None
    starter_pack_uri: str | None = None

    def feed_links(self) -> list[tuple[str, str]]:
        """(short name, bsky.app URL) of every published feed."""
        return [(name, f"https://bsky.app/profile/{self.did}/feed/{name}") for name, _ in self.feeds]

    @property
    def list_link(self) -> str | None:
        if not self.list_uri:
            return None
        return f"https://bsky.app/profile/{self.did}/lists/{self.list_uri.rsplit('/', 1)[-1]}"

    @property
    def starter_pack_link(self) -> str | None:
        if not self.starter_pack_uri:
            return None
        return f"https://bsky.app/starter-pack/{self.did}/{self.starter_pack_uri.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class Config:
    """Everything ``sources.yaml`` holds, validated."""

    sources: tuple[SourceConfig, ...]
    settings: CrawlSettings = field(default_factory=CrawlSettings)
    relay: RelayConfig = field(default_factory=RelayConfig)
    path: str = "sources.yaml"
    digest: DigestConfig | None = None  # None: no newsletter
    bluesky_feed: BlueskyFeedConfig | None = None  # None: no feed generator, list or starter pack
    #: Valid but doubtful (two sources with one URL): commands print them, ``run`` logs them.
    warnings: tuple[str, ...] = ()
    activitypub: ActivityPubConfig | None = None  # None: no ActivityPub actor


@dataclass(frozen=True)
class FetchResult:
    """What fetch hands to parse: bytes plus the HTTP facts the scheduler needs."""

    url: str  # the URL finally answered (after redirects)
    status: int  # 200, or 304 for not modified
    body: bytes = b""
    content_type: str | None = None
    charset: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_url: str | None = None  # set when a 301/308 chain moved the source
    max_age: float | None = None  # seconds, from Cache-Control or Expires
    elapsed: float = 0.0
    link: str | None = None  # the raw Link header (RFC 8288): Mastodon paginates with it

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class FeedData:
    """Feed-level facts from a parsed document."""

    title: str | None = None
    link: str | None = None  # the site's home page
    description: str | None = None
    language: str | None = None
    ttl: float | None = None  # seconds, from RSS <ttl>
    version: str | None = None  # e.g. "rss20", "atom10", "json11", "mastodon-api"


@dataclass(frozen=True)
class EntryData:
    """One parsed entry, sanitized and with a stable identity, before storage."""

    guid: str  # stable identity within the source (GUID, canonical link or content hash)
    url: str | None
    title: str
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    summary: str = ""  # sanitized HTML, short
    content: str = ""  # sanitized HTML, full when the feed has it
    text: str = ""  # plain-text summary
    language: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    kind: EntryKind = "article"
    #: For fediverse entries: the status URI (Mastodon) or at:// URI (Bluesky) to boost.
    native_uri: str | None = None
    native_cid: str | None = None  # Bluesky record CID, needed to repost
    content_hash: str = ""  # hash of title + text, to notice edits cheaply


@dataclass(frozen=True)
class ParsedFeed:
    feed: FeedData
    entries: tuple[EntryData, ...]


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about a source between fetches."""

    slug: str
    url: str | None
    etag: str | None = None
    last_modified: str | None = None
    status: SourceStatus = "never"
    last_fetch: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    error_count: int = 0
    next_fetch: datetime | None = None
    disabled: bool = False
    failing_since: datetime | None = None
    items: int = 0
    resolved_id: str | None = None  # Mastodon account id or Bluesky DID, cached
    feed_title: str | None = None
    feed_link: str | None = None


@dataclass(frozen=True)
class StoredEntry:
    """An entry as read back from the store (for items, web, index and relay)."""

    id: int
    source: str  # slug
    guid: str
    url: str | None
    title: str
    author: str | None
    published: datetime
    updated: datetime | None
    first_seen: datetime
    language: str | None
    summary: str
    content: str
    text: str
    tags: tuple[str, ...]
    image: str | None
    kind: str
    native_uri: str | None
    native_cid: str | None
    story_id: int | None
    deleted: bool = False


def normalize_tag(tag: str) -> str:
    """How tags are stored and compared: lower-cased, single spaces, at most 200 characters."""
    return " ".join(tag.split()).lower()[:200]


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, the only date format of the JSON contracts."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ExistingEntry:
    """What decide needs to know of an entry already stored for the same source."""

    id: int
    content_hash: str
    deleted: bool
    published: datetime
    first_seen: datetime


@dataclass(frozen=True)
class EntryChange:
    """Decide's verdict on one incoming entry: what the store must write."""

    entry: EntryData
    published: datetime  # clamped to the fetch time, or the first-seen time when missing
    story_key: str  # entries of several sources with the same key are one story
    existing_id: int | None = None  # set for an update
    relay: bool = False  # new, recent enough and from a relayed source


@dataclass(frozen=True)
class Decision:
    new: tuple[EntryChange, ...] = ()
    updated: tuple[EntryChange, ...] = ()
    unchanged: int = 0


@dataclass(frozen=True)
class Suggestion:
    """A source a reader suggested (``/suggest``), waiting for the operator's decision.

    What the aggregator found when it read the URL once (``outcome``: ``ok``, ``no_feed``,
    ``unreadable`` or ``timeout``) is kept with it; the reader's address never is.
    """

    id: int
    url: str  # as suggested, normalized
    note: str
    outcome: str
    state: str  # pending | accepted | rejected
    created: datetime
    feed_url: str | None = None
    title: str | None = None
    items: int | None = None
    language: str | None = None
    error: str | None = None
    decided: datetime | None = None
    source: str | None = None  # the slug it was accepted under
