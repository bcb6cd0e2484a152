"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Migrations in ``migrations/versions`` build exactly this; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(200), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("url", Text),  # the current URL (a 301 updates it)
    Column("config_url", Text),  # the URL as configured, to notice operator edits
    Column("config", Text, nullable=False, server_default="{}"),  # JSON of SourceConfig
    Column("configured", Boolean, nullable=False, server_default="1"),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("status", String(20), nullable=False, server_default="never"),
    Column("last_fetch", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime),
    Column("next_fetch", UTCDateTime),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("resolved_id", Text),  # Mastodon account id / Bluesky DID
    Column("feed_title", Text),
    Column("feed_link", Text),
    Column("lease_owner", String(100)),
    Column("lease_until", UTCDateTime),
    Column("items", Integer, nullable=False, server_default="0"),
    Index(None, "next_fetch"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("primary_entry_id", Integer),
    Column("published", UTCDateTime, nullable=False),
    Column("source_count", Integer, nullable=False, server_default="1"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("guid", String(1000), nullable=False),
    Column("url", Text),
    Column("title", Text, nullable=False),
    Column("author", Text),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("language", String(20)),
    Column("summary", Text, nullable=False, server_default=""),
    Column("content", Text, nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    Column("tags", Text, nullable=False, server_default="[]"),  # JSON list
    Column("image", Text),
    Column("kind", String(20), nullable=False, server_default="article"),
    Column("native_uri", Text),
    Column("native_cid", Text),
    Column("content_hash", String(64), nullable=False, server_default=""),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    Column("is_primary", Boolean, nullable=False, server_default="1"),
    Column("deleted", Boolean, nullable=False, server_default="0"),
    UniqueConstraint("source_id", "guid"),
    Index("ix_entries_river", "is_primary", "published", "id"),
    Index("ix_entries_source_river", "source_id", "published", "id"),
    Index("ix_entries_story", "story_id"),
)

entry_tags = Table(
    "entry_tags",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(200), primary_key=True),
    Index("ix_entry_tags_tag", "tag", "entry_id"),
)

#: Written in the entries' transaction; the search index consumes it (see index/).
index_log = Table(
    "index_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, nullable=False),
    Column("op", String(10), nullable=False),  # "upsert" or "delete"
    Column("created", UTCDateTime, nullable=False),
)

#: One row per (entry, target), written in the entries' transaction; the relay consumes it.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    Column("target", String(20), nullable=False),
    # pending -> sending -> posted | pending (retry) | failed ; skipped never posts
    Column("state", String(20), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("next_attempt", UTCDateTime),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    Column("remote_id", Text),  # status id / at:// uri of what we posted
    Column("remote_url", Text),
    UniqueConstraint("entry_id", "target"),
    Index("ix_outbox_due", "target", "state", "next_attempt"),
)

#: Per-host politeness shared by every crawler process (PostgreSQL deployments).
hosts = Table(
    "hosts",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("next_allowed", UTCDateTime),
    Column("blocked_until", UTCDateTime),  # Retry-After on 429/503, for the whole host
)

#: Small key/value facts (relay session, reconciliation marks).
meta = Table(
    "meta",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated", Float),
)

#: PostgreSQL deployments search this table (see index/ and store/search.py); the search
#: index's ``sync`` maintains it from ``index_log``. SQLite deployments use tantivy and leave
#: it empty (the column is plain text there).
search_documents = Table(
    "search_documents",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("grp", String(8), nullable=False),  # analysis group: fr, en, de, xx
    Column("vector", Text().with_variant(TSVECTOR(), "postgresql"), nullable=False),
    # Copies of the entry's columns, so matching, filtering and recency ordering read this
    # table alone; the entries join is made for the final page only (store/search.py).
    Column("published", UTCDateTime, nullable=False),
    Column("source_id", Integer, nullable=False),
    Column("language", String(20)),
    Index("ix_search_documents_vector", "vector", postgresql_using="gin"),
    Index("ix_search_documents_published", "published", "entry_id"),
)

# ---- ActivityPub (activitypub/; migration 0003) ----------------------------------------------
# Actor and inbox URLs are capped at 1000 characters where they are read (activitypub/remote.py),
# which keeps the unique indexes below within PostgreSQL's index row limit.

#: Our actors' key pairs, made once (a new key at each start would break every cached copy).
ap_keys = Table(
    "ap_keys",
    metadata,
    Column("actor", String(1000), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("public_pem", Text, nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

#: Remote actors that follow one of ours.
ap_followers = Table(
    "ap_followers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("local_actor", String(1000), nullable=False),
    Column("actor_id", String(1000), nullable=False),
    Column("inbox", Text, nullable=False),
    Column("shared_inbox", Text),
    Column("domain", String(255), nullable=False),
    Column("follow_id", Text, nullable=False),  # their Follow, which our Accept names
    Column("since", UTCDateTime, nullable=False),
    UniqueConstraint("local_actor", "actor_id"),
    Index("ix_ap_followers_domain", "domain"),
)

#: Remote actors one of ours follows (``activitypub`` sources): pending -> accepted | rejected.
ap_following = Table(
    "ap_following",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("local_actor", String(1000), nullable=False),
    Column("remote_actor", String(1000), nullable=False),
    Column("source", String(200)),  # slug of the source that asked for the follow
    Column("state", String(20), nullable=False, server_default="pending"),
    Column("follow_id", Text, nullable=False),
    Column("inbox", Text),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    UniqueConstraint("local_actor", "remote_actor"),
)

#: Replay protection: hashes of activity ids and signatures seen by the inbox, until ``expires``.
ap_seen = Table(
    "ap_seen",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("expires", UTCDateTime, nullable=False),
    Index("ix_ap_seen_expires", "expires"),
)

#: Every activity our actors published, as sent: the outbox collection and the bodies of
#: retried deliveries (identical at every attempt), and what ``/ap/activities/...`` serves.
ap_activities = Table(
    "ap_activities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("local_actor", String(1000), nullable=False),
    Column("activity_id", String(1000), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # Create, Update, Delete, Announce, Accept, Follow, Undo
    Column("entry_id", Integer),  # the story entry, for Create/Update/Delete/Announce
    Column("public", Boolean, nullable=False, server_default="1"),  # listed in the outbox
    Column("payload", Text, nullable=False),  # the JSON document
    Column("created", UTCDateTime, nullable=False),
    Index("ix_ap_activities_outbox", "local_actor", "public", "id"),
    Index("ix_ap_activities_entry", "entry_id"),
)

#: One row per (activity, inbox): pending -> sending -> delivered | pending (retry) | failed.
ap_deliveries = Table(
    "ap_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("activity", Integer, ForeignKey("ap_activities.id", ondelete="CASCADE"), nullable=False),
    Column("inbox", String(1000), nullable=False),
    Column("state", String(20), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    UniqueConstraint("activity", "inbox"),
    Index("ix_ap_deliveries_due", "state", "next_attempt"),
)

#: The health of each remote inbox: back-off after failures, given up ("dead") after days of
#: them, resumed at the first success.
ap_inboxes = Table(
    "ap_inboxes",
    metadata,
    Column("inbox", String(1000), primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime),
    Column("dead_since", UTCDateTime),
    Column("next_attempt", UTCDateTime),
    Column("last_error", Text),
    Column("last_success", UTCDateTime),
    Column("updated", UTCDateTime, nullable=False),
    Index("ix_ap_inboxes_domain", "domain"),
)


# -- the daily newsletter (aggregator/digest) ------------------------------------------
# Privacy: a subscriber row holds the address, its filters, its interface language and
# the consent, confirmation and re-confirmation times; nothing about opens or clicks.
# Unsubscribing deletes the row (and its deliveries); only a keyed hash stays.

#: Addresses that asked for the digest (``pending`` until they confirm by POST).
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", Text, nullable=False),  # as validated, for sending
    Column("address_key", String(64), nullable=False, unique=True),  # keyed hash of the comparison form
    Column("filters", Text, nullable=False, server_default="{}"),  # JSON of DigestFilters
    Column("locale", String(8), nullable=False, server_default="fr"),
    Column("state", String(20), nullable=False, server_default="pending"),  # pending | confirmed
    Column("salt", String(32), nullable=False),  # random; binds tokens to this row, not to a reused id
    Column("consent_at", UTCDateTime, nullable=False),  # when the form was sent
    Column("confirm_sent_at", UTCDateTime),  # last confirmation mail (flood control)
    Column("confirmed_at", UTCDateTime),
    Column("reconfirmed_at", UTCDateTime),  # last proof of interest (confirmation counts)
    Column("reconfirm_sent_at", UTCDateTime),  # the re-confirmation mail awaiting an answer
    Index("ix_subscribers_state", "state", "consent_at"),
)

#: Keyed hashes of addresses never to mail again (unsubscribed, refused by their server,
#: removed by the operator) unless they subscribe anew.
suppressions = Table(
    "suppressions",
    metadata,
    Column("address_key", String(64), primary_key=True),
    Column("reason", String(20), nullable=False),
    Column("created", UTCDateTime, nullable=False),
)

#: One row per day a digest was cut: its window and the stories it holds (frozen, so a
#: resend after a crash and ``/digest/YYYY-MM-DD`` show exactly what was sent).
digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("day", String(10), nullable=False, unique=True),  # YYYY-MM-DD in the digest's time zone
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("entry_ids", Text, nullable=False, server_default="[]"),  # JSON: the stories' first entries
    Column("stories", Integer, nullable=False, server_default="0"),
    Column("created", UTCDateTime, nullable=False),
    Column("sent", UTCDateTime),  # when its last delivery finished
)

#: One row per (digest, recipient): the newsletter's outbox (see aggregator/digest/deliver.py).
mail_deliveries = Table(
    "mail_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE")),  # NULL: the list
    Column("recipient", String(40), nullable=False),  # "s<subscriber id>" or "list"
    # pending -> sending -> sent | pending (retry) | failed ; skipped never sends
    Column("state", String(20), nullable=False, server_default="pending"),
    Column("message_id", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", UTCDateTime),
    Column("claimed_at", UTCDateTime),  # the current attempt's claim
    Column("data_at", UTCDateTime),  # the current attempt reached SMTP DATA: maybe delivered
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("created", UTCDateTime, nullable=False),
    UniqueConstraint("digest_id", "recipient"),
    Index("ix_mail_deliveries_due", "state", "next_attempt"),
    Index("ix_mail_deliveries_sent", "sent_at"),
    Index("ix_mail_deliveries_subscriber", "subscriber_id"),
)

#: Sources readers suggested (``/suggest``), one row per URL (``url_key``: a hash of its
#: canonical form), waiting for the operator (``aggregator suggestions``). No reader's
#: address is stored: the rate limit lives in memory.
suggestions = Table(
    "suggestions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", Text, nullable=False),
    Column("url_key", String(64), nullable=False, unique=True),
    Column("note", Text, nullable=False, server_default=""),
    Column("outcome", String(20), nullable=False),  # ok | no_feed | unreadable | timeout
    Column("feed_url", Text),
    Column("title", Text),
    Column("items", Integer),
    Column("language", String(20)),
    Column("error", Text),
    Column("state", String(20), nullable=False, server_default="pending"),  # pending | accepted | rejected
    Column("created", UTCDateTime, nullable=False),
    Column("decided", UTCDateTime),
    Column("source", String(200)),  # the slug given on acceptance
    Index("ix_suggestions_state", "state", "created"),
)
